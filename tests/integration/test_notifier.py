"""The notifier against a real MinIO and a real HTTP receiver: events already in the audit log
go out in order, a failing webhook is retried with backoff while the other keeps receiving,
nothing is lost or sent twice, and a missing signing key is named."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from pace import audit_log
from pace.adapters import metrics
from pace.adapters.object_store import ObjectStore
from pace.api import constants
from pace.api.mlmodel import MLModel
from pace.config import OperatorConfig
from pace.core import audit, notifications
from pace.handlers import notifier as notifier_module
from pace.handlers.reconciler import Wakers
from tests.servers.webhook import WebhookReceiver

UID = "5f0c2a9e-1111-2222-3333-444455556666"
T0 = datetime.now(UTC) - timedelta(minutes=5)


class Kube:
    def __init__(self, secrets: dict[str, dict[str, str]]) -> None:
        self.secrets = secrets

    def read_secret(self, namespace: str, name: str) -> dict[str, str]:
        return self.secrets[f"{namespace}/{name}"]


def model(
    receiver: WebhookReceiver, *, signing: str | None = "hook", flaky: str | None = None
) -> MLModel:
    return MLModel.from_body(
        {
            "apiVersion": constants.API_VERSION,
            "kind": "MLModel",
            "metadata": {
                "name": "wine",
                "namespace": "team-a",
                "uid": UID,
                "generation": 1,
                "creationTimestamp": (T0 - timedelta(minutes=1)).isoformat(),
            },
            "spec": {
                "task": "classification",
                "dataset": {"uri": "sklearn://wine", "target": "target"},
                "notifications": {
                    "webhooks": [
                        {"name": "audit", "url": receiver.url("/audit"), "signingKey": signing},
                        {"name": "flaky", "url": flaky or receiver.url("/flaky")},
                    ]
                },
            },
        }
    )


def write(store: ObjectStore, first: int, *types: str, minutes: int) -> None:
    audit_log.write_events(
        store,
        namespace="team-a",
        model="wine",
        source=audit.model_source(UID),
        first_seq=first,
        events=[audit.AuditEvent(type=t, message=f"{t} happened") for t in types],
        now=T0 + timedelta(minutes=minutes),
    )


async def until(probe: Any, seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not probe():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_in_order_once_with_a_failing_webhook_retried(store: ObjectStore) -> None:
    receiver = WebhookReceiver()
    flaky = WebhookReceiver()
    flaky.fail.set()
    memo = SimpleNamespace(
        store=store,
        kube=Kube({"team-a/pace-notifications": {"hook": "k3y"}}),
        config=OperatorConfig(),
        wakers=Wakers(),
    )
    notifier = notifier_module.Notifier(memo)
    write(store, 0, "TrainingStarted", "GatesPassed", minutes=0)
    try:
        m = model(receiver, flaky=flaky.url("/flaky"))
        failed_before = metrics.NOTIFICATIONS_FAILED.labels("team-a", "wine", "flaky")._value.get()
        notifier.update(m)
        await until(lambda: len(receiver.at("/audit")) == 2)
        # The flaky one fails and is named; the other is not held by it.
        state = await _until_error(notifier, "flaky")
        assert "answered HTTP 503" in (state.error or "")
        assert (
            metrics.NOTIFICATIONS_FAILED.labels("team-a", "wine", "flaky")._value.get()
            > failed_before
        )
        write(store, 2, "CanaryStarted", "Promoted", minutes=1)
        notifier.wake("team-a", "wine")
        await until(lambda: len(receiver.at("/audit")) == 4)
        assert flaky.at("/flaky") == []
        # It comes back: the backlog goes out in order, nothing twice.
        flaky.fail.clear()
        await until(lambda: len(flaky.at("/flaky")) == 4, seconds=30)
        types = [r.json()["type"] for r in receiver.at("/audit")]
        assert types == ["TrainingStarted", "GatesPassed", "CanaryStarted", "Promoted"]
        assert [r.json()["type"] for r in flaky.at("/flaky")] == types
        for note in receiver.at("/audit"):
            assert notifications.verify("k3y", note.body, note.headers["X-Pace-Signature"])
        assert "X-Pace-Signature" not in flaky.at("/flaky")[0].headers
        await until(lambda: notifier.update(m)["flaky"].error is None)  # cleared after the loop
        # A restarted operator (a new notifier) resumes from the cursors: nothing again.
        notifier.forget(("team-a", "wine"))
        again = notifier_module.Notifier(memo)
        again.update(m)
        write(store, 4, "RolledBack", minutes=2)
        again.wake("team-a", "wine")
        await until(lambda: len(receiver.at("/audit")) == 5)
        await asyncio.sleep(0.5)
        assert [r.json()["type"] for r in receiver.at("/audit")][-1] == "RolledBack"
        assert len(receiver.at("/audit")) == 5
        again.forget(("team-a", "wine"))
    finally:
        notifier.forget(("team-a", "wine"))
        receiver.close()
        flaky.close()


async def test_a_missing_signing_key_is_named(store: ObjectStore) -> None:
    receiver = WebhookReceiver()
    memo = SimpleNamespace(
        store=store,
        kube=Kube({"team-a/pace-notifications": {}}),
        config=OperatorConfig(),
        wakers=Wakers(),
    )
    notifier = notifier_module.Notifier(memo)
    write(store, 0, "TrainingStarted", minutes=0)
    try:
        notifier.update(model(receiver, signing="nope"))
        state = await _until_error(notifier, "audit")
        assert state.error == "signing key 'nope' is not in Secret team-a/pace-notifications"
        assert receiver.at("/audit") == []  # never sent unsigned
    finally:
        notifier.forget(("team-a", "wine"))
        receiver.close()


async def _until_error(notifier: notifier_module.Notifier, name: str) -> Any:
    entry = notifier.models[("team-a", "wine")]
    await until(lambda: name in entry.deliveries and entry.deliveries[name].error is not None)
    return entry.deliveries[name]
