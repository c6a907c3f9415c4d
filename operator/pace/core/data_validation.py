"""Schema and statistics checks on a training frame, against a reference if one exists (pure).

validate_data calls `validate_frame`; errors fail the run with the readable report,
warnings are kept in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_MISSING_FRACTION = 0.2
MIN_ROWS = 20


@dataclass
class ValidationReport:
    """What validate_frame found."""

    rows: int
    columns: int
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    statistics: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def text(self) -> str:
        """A readable report for logs and failure messages."""
        lines = [
            f"data validation {'passed' if self.passed else 'FAILED'}: "
            f"{self.rows} rows x {self.columns} columns"
        ]
        lines += [f"  error: {e}" for e in self.errors]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def statistics(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per-column dtype kind, missing fraction, and range / categories."""
    import pandas as pd

    stats: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        col = frame[name]
        entry: dict[str, Any] = {"missing": float(col.isna().mean())}
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            entry |= {
                "kind": "numeric",
                "min": float(col.min()),
                "max": float(col.max()),
                "mean": float(col.mean()),
                "std": float(col.std(ddof=0)),
            }
        else:
            entry |= {
                "kind": "categorical",
                "categories": sorted(str(v) for v in col.dropna().unique())[:100],
            }
        stats[str(name)] = entry
    return stats


def validate_frame(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    reference: dict[str, dict[str, Any]] | None = None,
) -> ValidationReport:
    """Check types, missing values, target sanity and ranges against the reference stats."""
    stats = statistics(frame)
    report = ValidationReport(rows=len(frame), columns=frame.shape[1], statistics=stats)
    if len(frame) < MIN_ROWS:
        report.errors.append(f"only {len(frame)} rows; at least {MIN_ROWS} are needed")
    if target not in stats:
        report.errors.append(f"target column {target!r} is missing")
        return report
    if stats[target]["missing"] > 0:
        report.errors.append(f"target {target!r} has {stats[target]['missing']:.1%} missing values")
    if task == "regression" and stats[target]["kind"] != "numeric":
        report.errors.append(f"regression target {target!r} is not numeric")
    if task == "classification" and frame[target].nunique() < 2:
        report.errors.append(f"classification target {target!r} has fewer than 2 classes")
    for name, entry in stats.items():
        if name != target and entry["missing"] > MAX_MISSING_FRACTION:
            report.errors.append(
                f"column {name!r} has {entry['missing']:.1%} missing values "
                f"(limit {MAX_MISSING_FRACTION:.0%})"
            )
    for name, ref in (reference or {}).items():
        if name not in stats:
            report.warnings.append(f"column {name!r} of the reference is not in this dataset")
            continue
        now = stats[name]
        if now["kind"] != ref.get("kind"):
            report.errors.append(
                f"column {name!r} changed type from {ref.get('kind')} to {now['kind']}"
            )
        elif now["kind"] == "numeric":
            span = max(ref["max"] - ref["min"], 1e-12)
            if now["min"] < ref["min"] - span or now["max"] > ref["max"] + span:
                report.warnings.append(
                    f"column {name!r} range [{now['min']:.4g}, {now['max']:.4g}] is far outside "
                    f"the reference [{ref['min']:.4g}, {ref['max']:.4g}]"
                )
        else:
            new = set(now["categories"]) - set(ref.get("categories", []))
            if new:
                report.warnings.append(f"column {name!r} has new categories {sorted(new)[:10]}")
    return report
