"""The user model class the seldon-core 1.19 microservice serves locally (serving env only).

`seldon-core-microservice PaceModel --service-type MODEL` imports this file from its own
environment (.venv-serving: seldon-core, scikit-learn, minio, pandas), so it imports nothing
from `pace`. It loads ``model.joblib`` from the folder in $MODEL_URI (s3://bucket/prefix) with
the credentials in the environment, like Seldon's SKLEARN_SERVER with envSecretRefName.
"""

from __future__ import annotations

import io
import os
from typing import Any


class PaceModel:
    """predict_proba for classifiers, predict for regressors."""

    def __init__(self) -> None:
        import joblib
        from minio import Minio

        uri = os.environ["MODEL_URI"].removeprefix("s3://").rstrip("/")
        bucket, _, prefix = uri.partition("/")
        client = Minio(
            os.environ["PACE_S3_ENDPOINT"],
            access_key=os.environ.get("AWS_ACCESS_KEY_ID") or None,
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            secure=os.environ.get("PACE_S3_SECURE", "false") == "true",
        )
        response = client.get_object(bucket, f"{prefix}/model.joblib")
        try:
            self.model = joblib.load(io.BytesIO(response.read()))
        finally:
            response.close()
            response.release_conn()
        self.columns = list(getattr(self.model, "feature_names_in_", []))
        self.method = os.environ.get("PACE_PREDICT_METHOD", "predict_proba")
        if not hasattr(self.model, self.method):
            self.method = "predict"

    def predict(self, X: Any, feature_names: list[str] | None = None, **_: Any) -> Any:
        import pandas as pd

        names = list(feature_names or []) or self.columns
        width = len(X[0]) if len(X) else 0
        if len(names) != width:
            raise ValueError(
                f"expected {len(self.columns)} features {self.columns[:5]}..., "
                f"got {width} unnamed values"
            )
        return getattr(self.model, self.method)(pd.DataFrame(X, columns=names))

    def class_names(self) -> list[str]:
        classes = getattr(self.model, "classes_", None)
        return [str(c) for c in classes] if classes is not None else ["prediction"]
