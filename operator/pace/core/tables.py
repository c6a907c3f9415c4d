"""Plain-text tables, kubectl-style (pure): used by `pace history` and the demo summary."""

from __future__ import annotations

from collections.abc import Sequence


def format_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Fixed-width text table, kubectl-style (no borders)."""
    widths = [len(c) for c in columns]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [
        "   ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [list(columns), *rows]
    ]
    return "\n".join(lines) + "\n"
