"""Cron expressions in specs: the pattern and CEL rules the API server checks (pure)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pace.api.common import cel, validations

# Five cron fields of digits, *, ranges, steps and lists, or one of the @ macros.
_CRON_PART = r"([*]|[0-9]+(-[0-9]+)?)(/[0-9]+)?"  # [*]: no backslash to escape in CEL
_CRON_FIELD = _CRON_PART + "(," + _CRON_PART + ")*"
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|"
    + r"\s+".join([_CRON_FIELD] * 5)
    + r")$"
)
_CRON_STEP = "/0*[1-9][0-9]*"
CRON_FIELDS = (
    ("minute", "0-59", "0*[1-5]?[0-9]"),
    ("hour", "0-23", "0*(1?[0-9]|2[0-3])"),
    ("day of month", "1-31", "0*([1-9]|[12][0-9]|3[01])"),
    ("month", "1-12", "0*([1-9]|1[0-2])"),
    ("day of week", "0-7", "0*[0-7]"),  # croniter, like Vixie cron, takes 7 for Sunday too
)
"""Each cron field's name, the numbers it allows, and a regex of exactly those numbers."""


def _cron_field_rule(index: int, name: str, allowed: str, number: str) -> dict[str, Any]:
    """The CEL rule for one cron field: its numbers within range, steps /n with n >= 1 (both
    by regex, which the API server's cost budget affords), ranges a-b with a <= b. A cron
    that does not have five fields, or a field the pattern refuses, is left to the pattern,
    so one mistake gets one message.

    ``findAll`` is repeated rather than bound once (``[x].all(v, ...)``): the API server's
    cost estimate cannot bound the size of a bound list's items, and put that form over its
    budget a hundredfold. ``int`` only meets numbers the range regex matched (a failed
    ``matches`` makes the ``&&`` false whatever its other side does)."""
    part = f"([*]|{number}(-{number})?)({_CRON_STEP})?"
    field = r"self.findAll('\\S+')" + f"[{index}]"  # CEL reads '\\S+' as the regex \S+
    rule = (
        r"self.startsWith('@') || self.findAll('\\S+').size() != 5 || "
        f"!{field}.matches('^{_CRON_FIELD}$') || ({field}.matches('^{part}(,{part})*$') && "
        f"{field}.findAll('[0-9]+-[0-9]+').all(r, "
        "int(r.split('-')[0]) <= int(r.split('-')[1])))"
    )
    explained = f"numbers {allowed}, ranges a-b with a <= b and steps /n with n >= 1"
    return cel(
        rule,
        f"cron {name} field (number {index + 1} of 5) allows {explained}",
        message_expression=(
            f"'cron {name} field \"' + {field} + '\" is invalid: it allows {explained}'"
        ),
    )


def cron_field(description: str) -> Any:
    """A required cron string field: the pattern, and one CEL rule per field's range."""
    return Field(
        description=description,
        pattern=CRON_PATTERN,
        max_length=256,
        json_schema_extra=validations(
            *(
                _cron_field_rule(index, name, allowed, number)
                for index, (name, allowed, number) in enumerate(CRON_FIELDS)
            )
        ),
    )
