"""Column types of the inference log, fixed per stream, and the check every row passes before
it reaches a batch (pure).

A batch is one Parquet object: one column of mixed types (``[[1]]`` then ``[["x"]]``) cannot be
encoded, so the sink would keep failing on it. Each request row is therefore checked against
the schema of the version that answered (its drift reference, ``reference.json``: features,
which of them are categorical, and whether training data had missing values); without a
reference, the first row a stream accepts fixes its columns' types until the sink restarts.
Values are normalised to the column's type (numbers to float, categories to text), so every
accepted batch encodes. Response rows carry probabilities and values that must be finite.

Every refusal names the column and the row (answered with HTTP 400 by the sink).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pace.core import inference_records

NUMERIC, CATEGORICAL = "numeric", "categorical"
# Columns the sink itself adds to every row, never checked against a schema.
META_COLUMNS = inference_records.ROW_COLUMNS


class RowError(ValueError):
    """A row that does not fit its stream's schema; the message names column and row."""


@dataclass(frozen=True)
class Column:
    kind: str  # numeric | categorical
    nullable: bool  # may hold a missing value (None / NaN)


@dataclass(frozen=True)
class Schema:
    """Columns by name, in the reference's order (positional inputs map onto it)."""

    columns: dict[str, Column]
    source: str  # what fixed it: "reference v3" or "first row"

    @property
    def names(self) -> list[str]:
        return list(self.columns)


def from_reference(meta: Mapping[str, Any], *, version: str) -> Schema:
    """The schema a version's drift reference metadata describes (features, categorical,
    statistics[feature].missing)."""
    features = [str(f) for f in meta.get("features") or []]
    categorical = {str(c) for c in meta.get("categorical") or []}
    stats = meta.get("statistics") or {}
    columns = {
        name: Column(
            kind=CATEGORICAL if name in categorical else NUMERIC,
            nullable=float((stats.get(name) or {}).get("missing") or 0.0) > 0.0,
        )
        for name in features
    }
    return Schema(columns=columns, source=f"reference {version}")


def from_row(row: Mapping[str, Any]) -> Schema:
    """The schema a stream's first accepted row fixes (no reference known): numbers are
    numeric, anything else categorical; no missing values."""
    columns = {
        name: Column(kind=NUMERIC if _is_number(value) else CATEGORICAL, nullable=False)
        for name, value in row.items()
        if name not in META_COLUMNS
    }
    return Schema(columns=columns, source="first row")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def positional(row: dict[str, Any], schema: Schema, *, where: str) -> dict[str, Any]:
    """A row sent without names (``f0``, ``f1``, ...) mapped onto the schema's features by
    position; a row with names is returned as it is."""
    data = [k for k in row if k not in META_COLUMNS]
    generic = [f"f{i}" for i in range(len(data))]
    if not data or data != generic or data == schema.names[: len(data)]:
        return row
    if len(data) != len(schema.columns):
        raise RowError(
            f"{where} has {len(data)} values but the schema ({schema.source}) has "
            f"{len(schema.columns)} features: {', '.join(schema.names)}"
        )
    meta = {k: v for k, v in row.items() if k in META_COLUMNS}
    return meta | {name: row[f"f{i}"] for i, name in enumerate(schema.names)}


def check_row(row: dict[str, Any], schema: Schema, *, where: str) -> dict[str, Any]:
    """The row with each feature normalised to its column's type, or RowError naming the
    column: an unknown column, a value of the wrong type, NaN or missing where training data
    had none, an infinity."""
    row = positional(row, schema, where=where)
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in META_COLUMNS:
            out[name] = value
            continue
        column = schema.columns.get(name)
        if column is None:
            raise RowError(
                f"{where}: column {name!r} is not in the schema ({schema.source}): "
                f"{', '.join(schema.names)}"
            )
        out[name] = _value(value, column, where=f"{where}, column {name!r}")
    return out


def _value(value: Any, column: Column, *, where: str) -> Any:
    if _missing(value):
        if not column.nullable:
            shown = "null" if value is None else "NaN"
            raise RowError(f"{where}: {shown} where the schema allows no missing values")
        return None
    if column.kind == NUMERIC:
        if not _is_number(value):
            raise RowError(f"{where}: expected a number, got {_shown(value)}")
        if math.isinf(value):
            raise RowError(f"{where}: {value} is not a finite number")
        return float(value)
    if isinstance(value, str):
        return value
    if _is_number(value):
        if isinstance(value, float) and math.isinf(value):
            raise RowError(f"{where}: {value} is not a category")
        return str(int(value)) if float(value).is_integer() else str(value)
    raise RowError(f"{where}: expected a category (text or number), got {_shown(value)}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_finite(rows: Iterable[dict[str, Any]], *, prefix: str) -> None:
    """Response rows: probabilities (``_p:<class>``) and values (``_value``) must be finite."""
    for n, row in enumerate(rows):
        for name, value in row.items():
            numeric = name == "_value" or name.startswith("_p:")
            if numeric and isinstance(value, float) and not math.isfinite(value):
                raise RowError(f"{prefix} row {n}, column {name!r}: {value} is not finite")
