"""Benchmark figures: printed, and merged into tests/bench/results/<name>.json."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def record(name: str, figures: dict[str, Any]) -> Path:
    """Print the figures and write them with the machine's description."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {
        "recordedAt": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
        "figures": figures,
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"\n== {name} ==")
    for key, value in figures.items():
        print(f"  {key}: {value}")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
