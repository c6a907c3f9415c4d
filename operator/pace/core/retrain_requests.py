"""Retrain requests: how a RetrainPolicy (or `pace retrain`) asks an MLModel for a new run
(pure).

The request is the annotation ``mlops.pace.dev/retrain`` on the MLModel, whose value is a small
JSON object ``{"id": ..., "reason": ..., "autoPromote": ...}``. The MLModel handler starts a run
recording the id in status.training.request, and removes the annotation only once that status
is stored, so a restart at any moment neither loses the request nor starts it twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pace.api import constants

ANNOTATION = f"{constants.GROUP}/retrain"
MAX_REASON = 512
SHOWN = 64  # characters of a refused value quoted back in a message


class InvalidRequest(ValueError):
    """The annotation's value is not a retrain request; the message says why."""


@dataclass(frozen=True)
class RetrainRequest:
    """One request for a new training run."""

    id: str
    reason: str
    auto_promote: bool = True

    def encode(self) -> str:
        return json.dumps(
            {"id": self.id, "reason": self.reason[:MAX_REASON], "autoPromote": self.auto_promote},
            sort_keys=True,
        )


RECENT = 10  # request ids an MLModel remembers (status.retrainRequests)


def policy_request_id(policy: str, count: int, uid: str) -> str:
    """The id of a policy's ``count``-th firing: stable across restarts, and unique to this
    policy object (a policy deleted and created again under the same name starts afresh)."""
    return f"{policy}#{count}@{uid[:8]}"


def remember(taken: list[str], request_id: str) -> list[str]:
    """The ids an MLModel keeps after taking one more (newest last, at most RECENT)."""
    return [*(t for t in taken if t != request_id), request_id][-RECENT:]


def _storable(text: str) -> bool:
    """Whether text survives a trip through the API server unchanged: valid UTF-8, so no lone
    surrogate. JSON's ``\\ud800`` escape can carry one, and the server would store it as U+FFFD:
    the id would never match status.retrainRequests, and the request would be taken again
    after every run."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(value: object) -> str:
    """A refused value as quoted back in a message, at most SHOWN characters of it."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


def parse(value: str) -> RetrainRequest:
    """The request in an annotation value; a bare string is taken as the reason.

    Raises:
        InvalidRequest: naming the annotation and the field that is wrong.
    """
    text = value.strip()
    if not text:
        raise InvalidRequest(f"{ANNOTATION} is empty")
    if not text.startswith("{"):
        if not _storable(text):
            raise InvalidRequest(f"{ANNOTATION} is not valid Unicode text")
        # `kubectl annotate ... mlops.pace.dev/retrain="new labels"`: the same text again, once
        # taken, is the same request (use `pace retrain` for a fresh id every time).
        return RetrainRequest(id=f"manual:{text[:64]}", reason=f"manual: {text}"[:MAX_REASON])
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{ANNOTATION} is not valid JSON: {exc.msg}") from None
    except ValueError:  # an integer longer than Python converts (4300 digits)
        raise InvalidRequest(f"{ANNOTATION}: a number has too many digits") from None
    except RecursionError:  # arrays or objects nested past the interpreter's recursion limit
        raise InvalidRequest(f"{ANNOTATION}: JSON nested too deeply") from None
    if not isinstance(raw, dict):
        raise InvalidRequest(f"{ANNOTATION} must be a JSON object")
    request_id, reason = raw.get("id"), raw.get("reason")
    if not isinstance(request_id, str) or not request_id:
        raise InvalidRequest(f"{ANNOTATION}: id must be a non-empty string")
    if not isinstance(reason, str) or not reason:
        raise InvalidRequest(f"{ANNOTATION}: reason must be a non-empty string")
    for field, given in (("id", request_id), ("reason", reason)):
        if not _storable(given):
            raise InvalidRequest(f"{ANNOTATION}: {field} is not valid Unicode text")
    auto = raw.get("autoPromote", True)
    if not isinstance(auto, bool):
        raise InvalidRequest(f"{ANNOTATION}: autoPromote must be true or false, not {_shown(auto)}")
    return RetrainRequest(id=request_id, reason=reason[:MAX_REASON], auto_promote=auto)
