"""Search what PACE shows and keeps for credentials it was given (issue: no secret anywhere).

Each haystack is named (``status of MLModel wine``, ``s3://bucket/key``, ``operator log``);
each needle is a credential (``S3 secret key``) with its value. A value is also looked for
base64-encoded, as it would be in a Secret's data or a careless dump.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping


def findings(haystacks: Mapping[str, bytes], needles: Mapping[str, str]) -> list[str]:
    """'<needle> in <haystack>' for every credential found (empty: nothing leaked)."""
    found = []
    for needle, value in needles.items():
        if len(value) < 8:
            raise ValueError(f"{needle} is too short to scan for reliably")
        forms = {value.encode(), base64.b64encode(value.encode())}
        for where, data in haystacks.items():
            if any(form in data for form in forms):
                found.append(f"{needle} in {where}")
    return found
