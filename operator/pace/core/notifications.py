"""Notifications (pure): which audit events a webhook gets, in what order, with what body and
signature, and when a failed delivery is tried again.

The audit log is the outbox: every event is already a write-once record in the store
(`pace.core.audit`). A webhook's cursor holds, per writer (``source``), the last ``seq`` it
received; what is after it is pending and goes out oldest first, one at a time, the cursor
moving after each success. So each event is delivered once and in order, also across operator
restarts (a restart between a delivery and its cursor write sends that one event again, with
the same ``X-Pace-Event-Id`` for the receiver to drop).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pace.api.mlmodel import Webhook

EVENT_ID_HEADER = "X-Pace-Event-Id"
SIGNATURE_HEADER = "X-Pace-Signature"
MAX_BACKOFF = 300.0


def cursor_key(namespace: str, model: str, uid: str, webhook: str) -> str:
    """Object key of a webhook's delivery cursor (per MLModel object, by uid)."""
    return f"notifications/{namespace}/{model}/{uid[:8]}/{webhook}.json"


def belongs(record: Mapping[str, Any], *, uid: str, created: datetime | None) -> bool:
    """Whether an audit record is this MLModel object's: written by it (mlmodel-<uid8>), or by
    a RetrainPolicy of it since it was created (a model deleted and created again under the
    same name shares the audit prefix, not the events)."""
    source = str(record.get("source", ""))
    if source == f"mlmodel-{uid[:8]}":
        return True
    if not source.startswith("retrainpolicy-"):
        return False
    return created is None or datetime.fromisoformat(str(record["time"])) >= created


def pending(
    records: Iterable[Mapping[str, Any]], cursor: Mapping[str, int], webhook: Webhook
) -> list[dict[str, Any]]:
    """The records after the cursor, oldest first (by time, then writer and number); those the
    webhook does not want are included too, marked ``skip`` (the cursor moves past them)."""
    wanted = set(webhook.events)
    out = []
    for record in records:
        if int(record["seq"]) <= cursor.get(str(record["source"]), -1):
            continue
        item = dict(record)
        item["skip"] = bool(wanted) and record["type"] not in wanted
        out.append(item)
    out.sort(
        key=lambda r: (datetime.fromisoformat(str(r["time"])), str(r["source"]), int(r["seq"]))
    )
    return out


def advanced(cursor: Mapping[str, int], record: Mapping[str, Any]) -> dict[str, int]:
    return {**cursor, str(record["source"]): int(record["seq"])}


def event_id(record: Mapping[str, Any]) -> str:
    return f"{record['namespace']}/{record['model']}/{record['source']}/{record['seq']}"


def body(record: Mapping[str, Any], fmt: str) -> bytes:
    """The request body: the audit record (json) or a Slack-compatible message (slack)."""
    clean = {k: v for k, v in record.items() if k != "skip"}
    if fmt == "slack":
        title = f"{clean['namespace']}/{clean['model']}: {clean['type']}"
        facts = [f"*{title}*", str(clean.get("message") or "")]
        if clean.get("version"):
            facts.append(f"version {clean['version']}; serving {clean.get('serving') or '-'}")
        text = "\n".join(f for f in facts if f)
        return json.dumps(
            {
                "text": text,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
            },
            sort_keys=True,
        ).encode()
    return json.dumps(clean, sort_keys=True).encode()


def signature(key: str, payload: bytes, *, timestamp: int) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`` (Stripe's scheme): the
    receiver recomputes it and refuses an old ``t`` (replay)."""
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(key: str, payload: bytes, header: str) -> bool:
    """What a receiver does with the header (used by the tests; documented for users)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        expected = signature(key, payload, timestamp=int(parts.get("t", "")))
    except ValueError:
        return False
    return hmac.compare_digest(expected, header)


def headers(
    record: Mapping[str, Any], payload: bytes, *, key: str | None, timestamp: int
) -> dict[str, str]:
    out = {"Content-Type": "application/json", EVENT_ID_HEADER: event_id(record)}
    if key:
        out[SIGNATURE_HEADER] = signature(key, payload, timestamp=timestamp)
    return out


def retry_delay(failures: int) -> float:
    """Seconds before the next attempt after ``failures`` failures in a row: 2, 4, 8 ... 300."""
    return float(min(MAX_BACKOFF, 2.0 ** max(1, failures)))
