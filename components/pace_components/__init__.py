"""PACE's Kubeflow Pipelines v2 components: one step per module, plus the training pipeline.

Names are re-exported lazily: a step's body runs inside kfp's executor, which imports
`pace_components.registry` while kfp.dsl is still initialising, so importing every component
module here eagerly would break it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "evaluate_model",
    "explain_model",
    "fit_drift_reference",
    "load_data",
    "register_model",
    "train_model",
    "training_pipeline",
    "validate_data",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(f"pace_components.{name}"), name)
    raise AttributeError(f"module 'pace_components' has no attribute {name!r}")
