"""Manual rollout actions: the ``mlops.pace.dev/action`` annotation on an MLModel (pure).

`pace promote` and `pace rollback [--to VERSION]` set it to ``promote``, ``rollback`` or
``rollback:<version>``; the rollout step (`pace.handlers.mlmodel_rollout`) parses it here, acts
on it once and removes it. Anything else is refused with a message that names the annotation,
so a typo never promotes or rolls back something other than what was asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pace.api import constants
from pace.core import naming

ANNOTATION = f"{constants.GROUP}/action"
SHOWN = 64  # characters of a refused value quoted back in the message


class InvalidAction(ValueError):
    """The action annotation asks for something that cannot be done; the message says why."""


Verb = Literal["promote", "rollback"]


@dataclass(frozen=True)
class ManualAction:
    """One manual action: promote the candidate, or roll back (to a version)."""

    verb: Verb
    version: str | None = None  # rollback's target; None: the version served before

    def encode(self) -> str:
        return f"{self.verb}:{self.version}" if self.version else self.verb


def _shown(text: str) -> str:
    return repr(text if len(text) <= SHOWN else text[:SHOWN] + "…")


def parse(value: str) -> ManualAction:
    """The action an annotation value asks for.

    Raises:
        InvalidAction: naming the annotation and what is wrong with the value.
    """
    text = value.strip()
    verb, colon, version = text.partition(":")
    if verb == "promote":
        if colon:
            raise InvalidAction(
                f"{ANNOTATION}: promote takes no version (it promotes the candidate), "
                f"not {_shown(text)}"
            )
        return ManualAction("promote")
    if verb == "rollback":
        if not colon:
            return ManualAction("rollback")
        if naming.VERSION_RE.fullmatch(version) is None:
            raise InvalidAction(
                f"{ANNOTATION}: {_shown(text)} does not name a version; "
                "use rollback or rollback:<version>, e.g. rollback:v2"
            )
        return ManualAction("rollback", version)
    raise InvalidAction(
        f"{ANNOTATION}: unknown action {_shown(text)}; use promote, rollback or rollback:<version>"
    )
