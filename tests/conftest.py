"""Test-suite wiring: markers by folder, and the real-server fixtures.

Tests under integration/ and e2e/ talk to servers started by tests/servers (a real
kube-apiserver, ...). A missing server binary fails the test with its name; nothing is
skipped for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis
import pytest

pytest_plugins = [
    "tests.servers.kube_apiserver",
    "tests.servers.minio",
    "tests.servers.kfp_api",
    "tests.servers.operator",
]

# Property tests (tests/unit/test_fuzz_*.py): the same examples on every run, so CI is
# repeatable; no example database in the work tree. HYPOTHESIS_PROFILE=thorough digs deeper.
hypothesis.settings.register_profile(
    "pace", max_examples=200, derandomize=True, database=None, deadline=None
)
hypothesis.settings.register_profile(
    "thorough", parent=hypothesis.settings.get_profile("pace"), max_examples=5000
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "pace"))

_FOLDER_MARKS = {
    "integration": "integration",
    "e2e": "e2e",
    "components": "components",
    "bench": "bench",
    "chaos": "chaos",
    "images": "images",
    "node": "node",
}
_ORDER = {
    "unit": 0,
    "components": 1,
    "integration": 2,
    "e2e": 3,
    "images": 4,
    "node": 5,
    "bench": 6,
    "chaos": 7,
}


def _folder(item: pytest.Item) -> str:
    parts = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts
    return parts[0] if parts else ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder and run fast ones first (kopf's pattern)."""
    for item in items:
        mark = _FOLDER_MARKS.get(_folder(item))
        if mark:
            item.add_marker(getattr(pytest.mark, mark))
    items.sort(key=lambda item: _ORDER.get(_folder(item), 0))
