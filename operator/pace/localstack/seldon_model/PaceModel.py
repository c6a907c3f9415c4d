"""The user model class the seldon-core 1.19 microservice serves locally (serving env only).

It stands for Seldon's prepackaged SKLEARN_SERVER, which the SeldonDeployment names, and is
called the same way: seldon-core builds it with the predictor's graph parameters
(``PREDICTIVE_UNIT_PARAMETERS``: ``method``, and ``model_uri``, which Seldon's operator adds
for prepackaged servers) and calls ``predict`` with the request's rows as a plain numpy array;
the names a client may send are ignored, as SKLEARN_SERVER ignores them. So a model that only
works with named columns fails here exactly as it would in a cluster.

`seldon-core-microservice PaceModel --service-type MODEL` imports this file from its own
environment (.venv-serving: seldon-core, scikit-learn, minio), so it imports nothing from
`pace`. Where Seldon's storage initializer (rclone) would copy the folder, it does what that
copy needs: it lists the folder and reads ``model.joblib`` from it, with the rclone remote
the ``model_uri`` names (``s3://bucket/key``: remote ``s3``) configured as rclone reads it,
from ``RCLONE_CONFIG_<REMOTE>_*`` variables (type, endpoint, access key id, secret access
key). The runtime sets those from the Secret the predictor's envSecretRefName names, and
nothing else, so a key that may not list or read the folder fails here as in a cluster.
"""

from __future__ import annotations

import io
import os
from typing import Any
from urllib.parse import urlsplit

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


def remote_settings(remote: str, env: Any) -> dict[str, str]:
    """The rclone remote's settings (``RCLONE_CONFIG_<REMOTE>_<OPTION>``), by lower-case
    option name; an error naming the variables when the remote is not one this can read."""
    prefix = f"RCLONE_CONFIG_{remote.upper()}_"
    found = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    if not found:
        raise RuntimeError(
            f"didn't find section in config file for remote {remote!r}: no {prefix}* "
            "variables (the Secret named by the predictor's envSecretRefName configures it)"
        )
    if found.get("type") != "s3":
        raise RuntimeError(f"{prefix}TYPE={found.get('type')!r}: only s3 remotes are served here")
    if found.get("env_auth", "false").lower() == "true":
        raise RuntimeError(f"{prefix}ENV_AUTH=true: keys from the pod's identity are not served")
    missing = [o for o in ("endpoint", "access_key_id", "secret_access_key") if not found.get(o)]
    if missing:
        raise RuntimeError(f"{prefix}: missing {', '.join(prefix + o.upper() for o in missing)}")
    return found


def load(model_uri: str) -> Any:
    """The joblib model in an s3:// folder, fetched as Seldon's rclone storage initializer
    would: the folder listed, then read."""
    import joblib
    from minio import Minio

    remote, _, path = model_uri.partition(":")
    bucket, _, prefix = path.lstrip("/").rstrip("/").partition("/")
    settings = remote_settings(remote, os.environ)
    endpoint = urlsplit(settings["endpoint"])
    client = Minio(
        endpoint.netloc or endpoint.path,
        access_key=settings["access_key_id"],
        secret_key=settings["secret_access_key"],
        secure=endpoint.scheme == "https",
    )
    listed = [o.object_name for o in client.list_objects(bucket, prefix=f"{prefix}/")]
    if not listed:
        print(f"storage initializer: nothing under {model_uri}", flush=True)
    response = client.get_object(bucket, f"{prefix}/{JOBLIB_FILE}")
    try:
        return joblib.load(io.BytesIO(response.read()))
    finally:
        response.close()
        response.release_conn()
