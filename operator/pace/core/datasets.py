"""Dataset URIs, the bundled scikit-learn datasets, column selection and the data hash (pure).

Used by the load_data and validate_data pipeline steps. Reading s3:// objects is the object
store adapter's job; this module only turns bytes or frames into the training frame.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

BUILTIN = ("wine", "breast_cancer", "diabetes", "iris")


class DatasetError(ValueError):
    """The dataset cannot be used; the message names the URI or column."""


@dataclass(frozen=True)
class DatasetUri:
    """A parsed dataset URI."""

    scheme: str  # "s3" or "sklearn"
    bucket: str
    key: str

    @property
    def format(self) -> str:
        """csv or parquet (from the key's extension); builtin for sklearn://."""
        if self.scheme == "sklearn":
            return "builtin"
        return "parquet" if self.key.endswith(".parquet") else "csv"


def parse_uri(uri: str) -> DatasetUri:
    """Parse s3://bucket/key.csv|parquet or sklearn://<name>."""
    if uri.startswith("sklearn://"):
        name = uri.removeprefix("sklearn://")
        if name not in BUILTIN:
            raise DatasetError(
                f"unknown bundled dataset {name!r} in {uri!r}; choose one of {', '.join(BUILTIN)}"
            )
        return DatasetUri("sklearn", "", name)
    if uri.startswith("s3://"):
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        if not bucket or not key.endswith((".csv", ".parquet")):
            raise DatasetError(f"dataset uri {uri!r} must be s3://<bucket>/<key>.csv|.parquet")
        return DatasetUri("s3", bucket, key)
    raise DatasetError(f"dataset uri {uri!r} must start with s3:// or sklearn://")


def load_builtin(name: str) -> pd.DataFrame:
    """A bundled scikit-learn dataset as one frame, the label in column ``target``."""
    from sklearn import datasets

    loaders = {
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
        "iris": datasets.load_iris,
    }
    if name not in loaders:
        raise DatasetError(f"unknown bundled dataset {name!r}; choose one of {', '.join(BUILTIN)}")
    bunch = loaders[name](as_frame=True)
    frame = bunch.frame.copy()
    frame.columns = [
        str(c).replace(" ", "_").replace("(", "").replace(")", "").replace("/", "_")
        for c in frame.columns
    ]
    return frame


def read_bytes(data: bytes, fmt: str) -> pd.DataFrame:
    """Parse CSV or Parquet bytes."""
    import pandas as pd

    if fmt == "parquet":
        return pd.read_parquet(io.BytesIO(data))
    return pd.read_csv(io.BytesIO(data))


def select_columns(
    frame: pd.DataFrame, *, target: str, features: list[str] | None, extra: list[str] | None = None
) -> pd.DataFrame:
    """Keep features (all but the target when None), any extra columns, and the target last."""
    missing = [c for c in [target, *(features or []), *(extra or [])] if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"column(s) {missing} not in the dataset; it has {list(frame.columns)[:50]}"
        )
    chosen = features if features is not None else [c for c in frame.columns if c != target]
    keep = list(dict.fromkeys([*chosen, *(extra or [])]))
    return frame[[*keep, target]].reset_index(drop=True)


def data_hash(frame: pd.DataFrame) -> str:
    """sha256 of the frame's canonical CSV: equal data ⇔ equal hash, across runs."""
    text = frame.to_csv(index=False, float_format="%.17g", lineterminator="\n")
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def count_rows(key: str, data: bytes) -> int:
    """Data rows in a .csv (lines after the header) or .parquet object; 0 for other keys."""
    if key.endswith(".parquet"):
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(io.BytesIO(data)).metadata.num_rows)
    if key.endswith(".csv"):
        lines = [line for line in data.splitlines() if line.strip()]
        return max(len(lines) - 1, 0)
    return 0
