"""The user model class the seldon-core 1.19 microservice serves locally (serving env only).

It stands for Seldon's prepackaged SKLEARN_SERVER, which the SeldonDeployment names, and is
called the same way: seldon-core builds it with the predictor's graph parameters
(``PREDICTIVE_UNIT_PARAMETERS``: ``method``, and ``model_uri``, which Seldon's operator adds
for prepackaged servers) and calls ``predict`` with the request's rows as a plain numpy array;
the names a client may send are ignored, as SKLEARN_SERVER ignores them. So a model that only
works with named columns fails here exactly as it would in a cluster.

`seldon-core-microservice PaceModel --service-type MODEL` imports this file from its own
environment (.venv-serving: seldon-core, scikit-learn, minio), so it imports nothing from
`pace`. Where Seldon's storage initializer would download the folder, it reads
``model.joblib`` from the s3:// ``model_uri`` with the credentials in the environment (from
the Secret that envSecretRefName names, in a cluster).
"""

from __future__ import annotations

import io
import os
from typing import Any

JOBLIB_FILE = "model.joblib"
METHODS = ("predict_proba", "predict")


class PaceModel:
    """``method`` (predict_proba or predict) on the rows, like SKLEARN_SERVER."""

    def __init__(self, model_uri: str = "", method: str = "predict_proba") -> None:
        if method not in METHODS:
            raise ValueError(f"parameter method={method!r}: expected one of {METHODS}")
        self.model = load(model_uri or os.environ["MODEL_URI"])
        if not hasattr(self.model, method):
            raise ValueError(f"{type(self.model).__name__} has no {method}; set parameter method")
        self.method = method

    def predict(self, X: Any, feature_names: list[str] | None = None, **_: Any) -> Any:
        return getattr(self.model, self.method)(X)

    def class_names(self) -> list[str]:
        classes = getattr(self.model, "classes_", None)
        if self.method == "predict_proba" and classes is not None:
            return [str(c) for c in classes]
        return ["prediction"]


def load(model_uri: str) -> Any:
    """The joblib model in an s3:// folder (what Seldon's storage initializer would fetch)."""
    import joblib
    from minio import Minio

    uri = model_uri.removeprefix("s3://").rstrip("/")
    bucket, _, prefix = uri.partition("/")
    client = Minio(
        os.environ["PACE_S3_ENDPOINT"],
        access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
        secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
        secure=os.environ.get("PACE_S3_SECURE", "false") == "true",
    )
    response = client.get_object(bucket, f"{prefix}/{JOBLIB_FILE}")
    try:
        return joblib.load(io.BytesIO(response.read()))
    finally:
        response.close()
        response.release_conn()
