"""`reconciler.register_without_finalizer` against kopf's own registry: every PACE kind's
daemon is there once, and none asks kopf for a finalizer (PACE puts its own on, when needed)."""

from __future__ import annotations

import kopf

import pace.handlers  # noqa: F401  (registers every handler)
from pace.api import constants


def test_every_kind_has_one_daemon_and_none_asks_kopf_for_a_finalizer() -> None:
    handlers = kopf.get_default_registry()._spawning.get_all_handlers()
    daemons = [h for h in handlers if type(h).__name__ == "DaemonHandler"]
    plurals = sorted(str(h.selector.any_name) for h in daemons if h.selector is not None)
    assert plurals == sorted(
        [
            constants.DRIFT_MONITOR_PLURAL,
            constants.MLMODEL_PLURAL,
            constants.RETRAIN_POLICY_PLURAL,
        ]
    )
    assert not any(h.requires_finalizer for h in daemons)
