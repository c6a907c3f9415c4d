"""Which pipeline failures are worth running again: the store or network briefly away.

A step that fails because MinIO was restarting, a connection was reset or a request timed
out would succeed a minute later; a step that fails on bad data, a wrong hyperparameter or a
gate never will. `is_transient` reads the failing step's message (the last error line the
backend reports) and says which; the reconciler resubmits only the first kind, with backoff
and a limit (`MAX_RETRIES`).
"""

from __future__ import annotations

import re

MAX_RETRIES = 4
"""Resubmissions of a run after transient failures (10 s, 20 s, 40 s, 80 s apart)."""

_TRANSIENT = re.compile(
    "|".join(
        [
            r"connection (?:reset|refused|aborted)",
            r"\[errno (?:104|111|110|113|32)\]",  # reset, refused, timed out, no route, pipe
            r"broken pipe",
            r"remote ?disconnected",
            r"max retries exceeded",
            r"read ?timed? ?out",
            r"timed out",
            r"timeouterror",
            r"incompleteread",
            r"protocolerror",
            r"temporary failure in name resolution",
            r"\b(?:slowdown|serviceunavailable|internalerror|requesttimeout)\b",
            r"xminioservernotinitialized|xminiostorageerror|server not initialized",
            r"\b(?:500|502|503|504) (?:internal server error|bad gateway|service unavailable"
            r"|gateway timeout)",
        ]
    ),
    re.IGNORECASE,
)

# A message naming one of these is the user's to fix, even if a timeout is mentioned too.
_PERMANENT = re.compile(
    r"nosuchkey|nosuchbucket|accessdenied|invalidaccesskeyid|signaturedoesnotmatch"
    r"|keyerror|valueerror: (?!.*timed out)|typeerror|gate",
    re.IGNORECASE,
)


def is_transient(message: str | None) -> bool:
    """Whether a failed step's message says the store or the network was briefly away."""
    if not message:
        return False
    return bool(_TRANSIENT.search(message)) and not _PERMANENT.search(message)


def retry_delay(retries: int, *, base_seconds: float = 10.0) -> float:
    """Seconds to wait before resubmitting a run that has been retried `retries` times."""
    return base_seconds * 2.0 ** max(0, retries)
