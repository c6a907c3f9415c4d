"""Global explanations of a fitted model: permutation importance (scikit-learn), kernel SHAP
and anchors (alibi), plus a PNG bar chart (pure: returns data and bytes)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def permutation(
    model: Any, test: pd.DataFrame, *, target: str, seed: int, samples: int
) -> dict[str, float]:
    """Mean drop in score when each feature is shuffled (on at most ``samples`` rows)."""
    from sklearn.inspection import permutation_importance

    data = test.sample(n=min(samples, len(test)), random_state=seed) if samples else test
    X, y = data.drop(columns=[target]), data[target]
    result = permutation_importance(model, X, y, n_repeats=5, random_state=seed)
    return {
        str(c): round(float(v), 10) for c, v in zip(X.columns, result.importances_mean, strict=True)
    }


def kernel_shap(
    model: Any, train: pd.DataFrame, test: pd.DataFrame, *, target: str, seed: int, samples: int
) -> dict[str, float]:
    """Mean |SHAP value| per feature with alibi's KernelShap (numeric features)."""
    import numpy as np
    from alibi.explainers import KernelShap

    X_train = train.drop(columns=[target])
    X_test = test.drop(columns=[target]).head(min(samples, 50))
    columns = list(X_train.columns)

    def predict(arr: Any) -> Any:
        import pandas as pd

        frame = pd.DataFrame(arr, columns=columns)
        return (
            model.predict_proba(frame)
            if hasattr(model, "predict_proba")
            else (model.predict(frame))
        )

    explainer = KernelShap(predict, feature_names=columns, seed=seed)
    explainer.fit(X_train.sample(n=min(50, len(X_train)), random_state=seed).to_numpy())
    explanation = explainer.explain(X_test.to_numpy(), silent=True)
    values = np.mean([np.abs(v).mean(axis=0) for v in explanation.shap_values], axis=0)
    return {c: round(float(v), 10) for c, v in zip(columns, values, strict=True)}


def anchors(
    model: Any, train: pd.DataFrame, test: pd.DataFrame, *, target: str, seed: int, samples: int
) -> dict[str, float]:
    """How often each feature appears in alibi AnchorTabular anchors (classification)."""
    from alibi.explainers import AnchorTabular

    X_train = train.drop(columns=[target])
    columns = list(X_train.columns)

    def predict(arr: Any) -> Any:
        import pandas as pd

        return model.predict(pd.DataFrame(arr, columns=columns))

    explainer = AnchorTabular(predict, feature_names=columns, seed=seed)
    explainer.fit(X_train.to_numpy())
    counts = dict.fromkeys(columns, 0.0)
    rows = test.drop(columns=[target]).head(min(samples, 10)).to_numpy()
    for row in rows:
        for rule in explainer.explain(row).anchor:
            for name in columns:
                if rule.startswith(name + " ") or rule.split(" < ")[-1].startswith(name):
                    counts[name] += 1
    total = max(1, len(rows))
    return {c: round(v / total, 10) for c, v in counts.items()}


def bar_chart_png(importances: dict[str, float], *, title: str, top: int = 15) -> bytes:
    """A horizontal bar chart of the largest importances as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(importances.items(), key=lambda kv: abs(kv[1]), reverse=True)[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 1.2))
    ax.barh([k for k, _ in items], [v for _, v in items], color="#3b7dd8")
    ax.set_title(title)
    ax.set_xlabel("importance")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
