"""Pipeline step: split, then train (named estimator or `auto`, optional search, seeded)."""

from kfp import dsl

from pace_components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def train_model(
    dataset: dsl.Input[dsl.Dataset],
    target: str,
    task: str,
    algorithm: str,
    hyperparameters: str,
    search: str,
    test_size: float,
    cv_folds: int,
    seed: int,
    group_by: str,
    categorical: list,
    model: dsl.Output[dsl.Model],
    train_set: dsl.Output[dsl.Dataset],
    test_set: dsl.Output[dsl.Dataset],
    search_report: dsl.Output[dsl.Artifact],
) -> None:
    """Hold out a test split, choose a model by cross-validation, fit it on the train split.

    Args:
        dataset: Parquet dataset from load_data.
        target: Column to predict.
        task: classification or regression.
        algorithm: A named scikit-learn estimator, or auto to compare candidates.
        hyperparameters: Estimator keyword arguments, as JSON text (a KFP parameter cannot
            hold null, which scikit-learn uses, e.g. max_depth: null).
        search: {strategy: none|grid|random, space: {param: [values]}, trials}, as JSON
            text (a search space often lists null).
        test_size: Held-out fraction.
        cv_folds: Cross-validation folds.
        seed: Random seed for split, search and estimator.
        group_by: Column whose groups never straddle the split, or "".
        categorical: Categorical feature names.
        model: Output joblib file of the fitted scikit-learn pipeline.
        train_set: Output Parquet train split (features, target).
        test_set: Output Parquet test split.
        search_report: Output JSON with every candidate's cross-validation score.
    """
    import json

    import joblib
    import pandas as pd

    from pace.core import evaluation, training

    frame = pd.read_parquet(dataset.path)
    train, test = evaluation.split_for_training(
        frame, target=target, task=task, test_size=test_size, seed=seed, group_by=group_by
    )
    result = training.train(
        train,
        target=target,
        task=task,
        algorithm=algorithm,
        hyperparameters=dict(json.loads(hyperparameters)),
        search=dict(json.loads(search)),
        cv_folds=cv_folds,
        seed=seed,
        categorical=list(categorical),
    )
    joblib.dump(result.model, model.path)
    train.to_parquet(train_set.path, index=False)
    test.to_parquet(test_set.path, index=False)
    with open(search_report.path, "w") as out:
        json.dump(
            {
                "chosen": {
                    "algorithm": result.algorithm,
                    "params": result.params,
                    "cvScore": result.cv_score,
                    "scoring": result.scoring,
                },
                "candidates": result.search,
            },
            out,
            indent=2,
            sort_keys=True,
        )
    model.metadata |= {
        "algorithm": result.algorithm,
        "params": json.dumps(result.params),
        "framework": "scikit-learn",
    }
    print(f"chose {result.algorithm} {result.params}: cv {result.scoring} {result.cv_score:.4f}")
