"""The canary's live-quality gate (pure): is the canary significantly worse than main on the
labelled requests both answered since the candidate was registered?

- ``accuracy`` (classification): a one-sided two-proportion z-test (unpooled standard
  error). H0: p_canary >= p_main - margin; H1: p_canary < p_main - margin;
  p = Phi(z), z = (p_canary - p_main + margin) / sqrt(p_c(1-p_c)/n_c + p_m(1-p_m)/n_m).
- ``mae`` (regression): a one-sided Mann-Whitney U test on the per-request absolute errors
  (scipy). H0: the canary's errors minus ``margin`` are not stochastically greater than
  main's; H1: they are.

p < ``alpha`` fails the check (the rollback path, as any failed check); fewer than
``minLabelledRows`` labelled requests on either side is inconclusive: the step holds (it
never promotes without evidence) until ``maxWait``, when ``onMaxWait`` ends the canary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["passed", "failed", "inconclusive"]


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict with its figures."""

    verdict: Verdict
    metric: str
    canary: float | None
    main: float | None
    rows_canary: int
    rows_main: int
    statistic: float | None
    p_value: float | None
    message: str


def two_proportion(
    hits_canary: int, n_canary: int, hits_main: int, n_main: int, *, margin: float
) -> tuple[float, float]:
    """z and the one-sided p-value that the canary's proportion is below main's minus
    ``margin``."""
    from scipy.stats import norm

    pc, pm = hits_canary / n_canary, hits_main / n_main
    diff = pc - pm + margin
    se = math.sqrt(pc * (1 - pc) / n_canary + pm * (1 - pm) / n_main)
    if se > 0:
        return diff / se, float(norm.cdf(diff / se))
    z = 0.0 if diff == 0 else math.copysign(math.inf, diff)  # no spread: the sign decides
    return z, float(norm.cdf(z))


def mann_whitney(errors_canary: Any, errors_main: Any, *, margin: float) -> tuple[float, float]:
    """U and the one-sided p-value that the canary's errors (less ``margin``) are
    stochastically greater than main's."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    result = mannwhitneyu(
        np.asarray(errors_canary, dtype=float) - margin,
        np.asarray(errors_main, dtype=float),
        alternative="greater",
    )
    return float(result.statistic), float(result.pvalue)


def judge(
    metric: str,
    canary_rows: Any,
    main_rows: Any,
    *,
    min_rows: int,
    margin: float,
    alpha: float,
) -> GateResult:
    """The verdict on two joined frames (see `pace.core.live_quality.join`): per row
    ``_predicted`` and ``truth`` (accuracy), or ``_value`` and ``truth`` (mae)."""
    import numpy as np
    import pandas as pd

    if metric == "accuracy":
        hits_c = (
            canary_rows["_predicted"].astype(str) == canary_rows["truth"].astype(str)
        ).to_numpy()
        hits_m = (main_rows["_predicted"].astype(str) == main_rows["truth"].astype(str)).to_numpy()
        n_c, n_m = int(hits_c.size), int(hits_m.size)
        values = (float(hits_c.mean()) if n_c else None, float(hits_m.mean()) if n_m else None)
    else:

        def errors(rows: Any) -> Any:
            truth = pd.to_numeric(rows["truth"], errors="coerce").to_numpy(dtype=float)
            value = rows["_value"].to_numpy(dtype=float)
            ok = np.isfinite(truth) & np.isfinite(value)
            return np.abs(truth[ok] - value[ok])

        err_c, err_m = errors(canary_rows), errors(main_rows)
        n_c, n_m = int(err_c.size), int(err_m.size)
        values = (float(err_c.mean()) if n_c else None, float(err_m.mean()) if n_m else None)
    shown = " vs ".join(
        f"{side} {metric} {'-' if v is None else f'{v:.3f}'} (n={n})"
        for side, v, n in (("canary", values[0], n_c), ("main", values[1], n_m))
    )
    if n_c < min_rows or n_m < min_rows:
        return GateResult(
            "inconclusive",
            metric,
            *values,
            n_c,
            n_m,
            None,
            None,
            f"live gate: {shown}; waiting for {min_rows} labelled requests on each side",
        )
    if metric == "accuracy":
        statistic, p = two_proportion(int(hits_c.sum()), n_c, int(hits_m.sum()), n_m, margin=margin)
        test = "one-sided two-proportion z"
    else:
        statistic, p = mann_whitney(err_c, err_m, margin=margin)
        test = "one-sided Mann-Whitney U"
    worse = p < alpha
    message = (
        f"live gate: {shown}; {test}={statistic:.3g}, p={p:.3g} "
        f"{'<' if worse else '>='} alpha {alpha} (margin {margin})"
    )
    return GateResult(
        "failed" if worse else "passed", metric, *values, n_c, n_m, statistic, p, message
    )
