"""The scanner the secret-scan tests rely on finds what it is meant to find."""

from __future__ import annotations

import base64

import pytest

from tests.servers.secret_scan import findings


def test_a_credential_is_found_in_clear_and_base64_and_nowhere_else() -> None:
    key = "minio-secret-key-123"
    haystacks = {
        "status": b'{"phase": "Serving"}',
        "log": b"connecting with minio-secret-key-123",
        "secret dump": b"data: " + base64.b64encode(key.encode()),
    }
    assert findings(haystacks, {"S3 secret key": key}) == [
        "S3 secret key in log",
        "S3 secret key in secret dump",
    ]
    assert findings({"status": b"{}"}, {"S3 secret key": key}) == []


def test_a_needle_too_short_to_mean_anything_is_refused() -> None:
    with pytest.raises(ValueError, match="too short"):
        findings({}, {"token": "abc"})
