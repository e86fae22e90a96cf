"""Plain-text tables for the terminal."""

from pathlib import Path
from typing import Any, Iterable, Sequence

from .results import RepeatResult


def shown_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 1000 else f"{value:,.0f}"
    return str(value)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def format_repeats(runs: Sequence[RepeatResult]) -> str:
    headers = ("repeat", "before", "after", "expected", "drift", "ops_done", "work_s", "ops/s", "outcome")
    rows = [
        (r.repeat, r.before, r.after, r.expected, r.drift, r.ops_done, r.work_s, r.ops_per_s, r.outcome)
        for r in runs
    ]
    return format_table(headers, rows)
