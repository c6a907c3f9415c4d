"""Which audit events a webhook gets, in what order, with what body and signature (pure)."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from pace.api.mlmodel import Webhook
from pace.core import notifications

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
UID = "0123456789abcdef"


def rec(source: str, seq: int, type_: str, minutes: int) -> dict[str, Any]:
    return {
        "time": (T0 + timedelta(minutes=minutes)).isoformat(),
        "namespace": "team-a",
        "model": "wine",
        "source": source,
        "seq": seq,
        "type": type_,
        "version": "v2",
        "serving": "v1",
        "message": f"{type_} happened",
        "details": {},
    }


MINE = f"mlmodel-{UID[:8]}"
POLICY = "retrainpolicy-nightly-aaaabbbb"
RECORDS = [
    rec(MINE, 2, "CanaryStarted", 5),
    rec(MINE, 0, "TrainingStarted", 1),
    rec(POLICY, 0, "RetrainTriggered", 0),
    rec(MINE, 1, "GatesPassed", 4),
    rec(MINE, 3, "Promoted", 9),
]


def test_pending_events_go_oldest_first_after_the_cursor() -> None:
    hook = Webhook(name="all", url="http://x/")
    todo = notifications.pending(RECORDS, {}, hook)
    assert [(r["source"], r["seq"]) for r in todo] == [
        (POLICY, 0),
        (MINE, 0),
        (MINE, 1),
        (MINE, 2),
        (MINE, 3),
    ]
    cursor: dict[str, int] = {}
    for r in todo[:3]:
        cursor = notifications.advanced(cursor, r)
    assert cursor == {POLICY: 0, MINE: 1}
    rest = notifications.pending(RECORDS, cursor, hook)
    assert [r["type"] for r in rest] == ["CanaryStarted", "Promoted"]


def test_unwanted_events_are_skipped_but_passed() -> None:
    hook = Webhook(name="chat", url="http://x/", events=["Promoted"])
    todo = notifications.pending(RECORDS, {}, hook)
    assert [r["type"] for r in todo if not r["skip"]] == ["Promoted"]
    assert len(todo) == 5  # the cursor moves past the others too


def test_a_recreated_models_events_are_not_its_own() -> None:
    old_model = rec("mlmodel-ffffffff", 0, "TrainingStarted", 0)
    old_policy = rec(POLICY, 0, "RetrainTriggered", -60)
    created = T0 - timedelta(minutes=1)
    assert notifications.belongs(rec(MINE, 0, "X", 0), uid=UID, created=created)
    assert not notifications.belongs(old_model, uid=UID, created=created)
    assert not notifications.belongs(old_policy, uid=UID, created=created)
    assert notifications.belongs(rec(POLICY, 1, "X", 0), uid=UID, created=created)


def test_signature_round_trip_and_tampering() -> None:
    body = notifications.body(RECORDS[0], "json")
    assert json.loads(body) == RECORDS[0]
    header = notifications.signature("k3y", body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert notifications.verify("k3y", body, header)
    assert not notifications.verify("k3y", body + b" ", header)
    assert not notifications.verify("other", body, header)
    assert not notifications.verify("k3y", body, "garbage")
    headers = notifications.headers(RECORDS[0], body, key=None, timestamp=1)
    assert headers[notifications.EVENT_ID_HEADER] == f"team-a/wine/{MINE}/2"
    assert notifications.SIGNATURE_HEADER not in headers


def test_slack_payload() -> None:
    message = json.loads(notifications.body(RECORDS[4], "slack"))
    assert message["text"].splitlines() == [
        "*team-a/wine: Promoted*",
        "Promoted happened",
        "version v2; serving v1",
    ]
    assert message["blocks"][0]["text"]["type"] == "mrkdwn"


def test_retry_delay_doubles_to_a_cap() -> None:
    assert [notifications.retry_delay(n) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert notifications.retry_delay(20) == notifications.MAX_BACKOFF
