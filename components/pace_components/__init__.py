"""PACE's Kubeflow Pipelines v2 components: one step per module, plus the training pipeline.

Step bodies import only `pace` (never this package), so kfp's executor can run them while
kfp.dsl is still initialising.
"""

from pace_components.evaluate_model import evaluate_model
from pace_components.explain_model import explain_model
from pace_components.fit_drift_reference import fit_drift_reference
from pace_components.import_model import import_model
from pace_components.load_data import load_data
from pace_components.register_model import register_model
from pace_components.score_batch import score_batch
from pace_components.train_model import train_model
from pace_components.training_pipeline import training_pipeline
from pace_components.validate_data import validate_data

__all__ = [
    "evaluate_model",
    "explain_model",
    "fit_drift_reference",
    "import_model",
    "load_data",
    "register_model",
    "score_batch",
    "train_model",
    "training_pipeline",
    "validate_data",
]
