"""Plain-text tables for the terminal: the one renderer every command's table goes through."""

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

if TYPE_CHECKING:
    from synclab.kernel.results import RepeatResult


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


def number(value: Optional[float], spec: str) -> str:
    """A number formatted with ``spec``, or ``-`` when there is none."""
    return "-" if value is None else format(value, spec)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], left: int = 0, rule: bool = True,
                 text: Sequence[int] = ()) -> str:
    """Columns two spaces apart: the first ``left`` flush left (names, keys), the rest flush right
    (numbers) but for the ``text`` columns (by index), also flush left; a rule of dashes under the
    headers unless ``rule`` is false."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if i < left or i in text else v.rjust(w)
                         for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    lines = [line(headers), *([line(["-" * w for w in widths])] if rule else []), *(line(row) for row in cells)]
    return "\n".join(lines)


def format_repeats(runs: "Sequence[RepeatResult]") -> str:
    headers = ("repeat", "before", "after", "expected", "drift", "ops_done", "work_s", "ops/s", "outcome")
    rows = [
        (r.repeat, r.before, r.after, r.expected, r.drift, r.ops_done, r.work_s, r.ops_per_s, r.outcome)
        for r in runs
    ]
    return format_table(headers, rows)
