"""Pipeline step: global explanation (permutation, alibi kernel SHAP or anchors), JSON + PNG."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def explain_model(
    model: dsl.Input[dsl.Model],
    train_set: dsl.Input[dsl.Dataset],
    test_set: dsl.Input[dsl.Dataset],
    target: str,
    method: str,
    samples: int,
    seed: int,
    explanation: dsl.Output[dsl.Artifact],
    plot: dsl.Output[dsl.Artifact],
) -> None:
    """Explain the model globally.

    Args:
        model: joblib model from train_model.
        train_set: Parquet train split (background data for SHAP and anchors).
        test_set: Parquet test split (rows explained).
        target: Column to predict.
        method: permutation, kernel_shap or anchors.
        samples: Rows explained.
        seed: Random seed.
        explanation: Output JSON {method, importances}.
        plot: Output PNG bar chart of the importances.
    """
    import json

    import joblib
    import pandas as pd

    from pace.core import explanation as explain

    fitted = joblib.load(model.path)
    train, test = pd.read_parquet(train_set.path), pd.read_parquet(test_set.path)
    if method == "kernel_shap":
        values = explain.kernel_shap(fitted, train, test, target=target, seed=seed, samples=samples)
    elif method == "anchors":
        values = explain.anchors(fitted, train, test, target=target, seed=seed, samples=samples)
    else:
        values = explain.permutation(fitted, test, target=target, seed=seed, samples=samples)
    with open(explanation.path, "w") as out:
        json.dump({"method": method, "importances": values}, out, indent=2, sort_keys=True)
    with open(plot.path, "wb") as out:
        out.write(explain.bar_chart_png(values, title=f"{method} importance"))
    top = sorted(values.items(), key=lambda kv: -abs(kv[1]))[:3]
    print(f"{method}: top features {top}")
