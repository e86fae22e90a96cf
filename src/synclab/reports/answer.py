"""The answer table: one row per interpreter and GIL state, one column per value of a swept key
(the increment shape, for the notebook's GIL question), and in each cell the repeats that lost
updates out of those run, with the 95% interval of the rate. It is what a reader of a sweep
across interpreters wants first, so a sweep can print it (``answer`` in the report callback)
and ``synclab report --answer KEY`` prints it for any directory.

For stress runs the key ``tests`` lays the table out the other way round, as the idioms preset
asks: a row per stress test, a column per interpreter and GIL state (reports.idiom_table)."""

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from synclab.kernel.spec import DEFAULT_INCREMENT
from synclab.reports.idiom_table import idiom_table
from synclab.reports.report import Report, Row, StressJob
from synclab.reports.stats import wilson
from synclab.reports.table import format_table

LOST = "lost_updates"
CAME_BACK = "came back"
TESTS = "tests"  # the key that asks for the stress tests' table


@dataclass(frozen=True)
class Cell:
    lost: int
    repeats: int

    def __str__(self) -> str:
        low, high = wilson(self.lost, self.repeats) or (0.0, 1.0)
        return f"{self.lost}/{self.repeats} [{low:.2f}, {high:.2f}]"


def _runtime(row: Row) -> Tuple[Any, ...]:
    """Where the row ran: implementation, version, build and the GIL state its repeats recorded."""
    runtime = row.runtime or {}
    version = str(runtime.get("version") or row.config.get("python") or "?")
    numbers = tuple(int(part) if part.isdigit() else 0 for part in version.split(".")[:3])
    # a run whose GIL came back ran its repeats in two states: it is a row of its own, never
    # counted as a run with the GIL nor as one without
    state = CAME_BACK if row.gil_came_back is not None else runtime.get("gil_enabled")
    return (str(runtime.get("implementation") or "Python"), numbers, version, runtime.get("free_threaded"), state)


def _label(runtime: Tuple[Any, ...]) -> List[str]:
    implementation, _, version, free, gil_on = runtime
    build = "free-threaded" if free else "with GIL" if free is False else "?"
    state = {None: "?", True: "enabled", False: "disabled", CAME_BACK: CAME_BACK}[gil_on]
    return [f"{implementation} {version}", build, state]


def answer(report: Report, column: str = "increment") -> Optional[str]:
    """The table, or None when no row records a value for ``column``. Other keys that vary
    between the rows (a switch interval, say) become row columns, so no cell mixes two settings.
    With ``column`` "tests", the stress tests' table, or None when no stress run is here."""
    if column == TESTS:
        return stress_answer(report.stress)
    rows = [row for row in report.rows if column in row.config]
    if not rows:
        return None
    others = [key for key in report.keys if key not in (column, "python", "gil")
              and len({repr(row.config.get(key)) for row in rows}) > 1]
    columns: Dict[str, None] = {}
    cells: Dict[Tuple[Any, ...], Dict[str, Cell]] = {}
    for row in rows:
        value = _shown(_value(row, column))
        columns.setdefault(value)
        key = (_runtime(row), tuple(_shown(row.config.get(other)) for other in others))
        old = cells.setdefault(key, {}).get(value, Cell(0, 0))
        cells[key][value] = Cell(old.lost + row.outcomes.get(LOST, 0), old.repeats + row.repeats)
    headers = ["interpreter", "build", "GIL", *others, *columns]
    table = []
    for (runtime, settings), found in sorted(cells.items(), key=lambda item: _order(item[0])):
        table.append([*_label(runtime), *settings, *(str(found[value]) if value in found else "-" for value in columns)])
    title = f"lost updates: repeats that lost any / repeats [95% CI], by {column}"
    return title + "\n" + format_table(headers, table, left=3 + len(others)) + "\n"


def _value(row: Row, key: str) -> Any:
    """A row's setting; for the increment, the one that ran (null means the primitive's own)."""
    value = row.config.get(key)
    if key == "increment" and value is None and row.config.get("primitive") in DEFAULT_INCREMENT:
        return DEFAULT_INCREMENT[row.config["primitive"]]
    return value


def _shown(value: Any) -> str:
    return "null" if value is None else str(value)


def _order(key: Tuple[Any, ...]) -> Tuple[Any, ...]:
    (implementation, numbers, version, free, gil_on), settings = key
    rank = {True: 0, CAME_BACK: 1, False: 2, None: 3}[gil_on]
    return (implementation, numbers, bool(free), rank, tuple((value != "null", value) for value in settings))


def stress_answer(jobs: Sequence[StressJob]) -> Optional[str]:
    """The stress tests by interpreter and GIL state; each job is one column (jobs that ran on the
    same interpreter in the same GIL state are one), in interpreter order, the GIL on first."""
    if not jobs:
        return None
    columns: Dict[Tuple[Any, ...], List[Mapping[str, Any]]] = {}
    for job in jobs:
        columns.setdefault(_where(job), []).extend(job.tests)
    ordered = sorted(columns.items(), key=lambda item: item[0][:2])
    return idiom_table([(label, tests) for (_, _, label), tests in ordered])


def _where(job: StressJob) -> Tuple[Any, ...]:
    """(sort key of the interpreter, rank of the GIL state, the column's label)."""
    name = job.interpreter or "Python ?"
    version = name.rpartition(" ")[2].rstrip("t")
    numbers = tuple(int(part) if part.isdigit() else 0 for part in version.split(".")[:3])
    state = {True: "GIL on", False: "GIL off", None: "GIL ?"}[job.gil_enabled]
    rank = {True: 0, False: 1, None: 2}[job.gil_enabled]
    return ((name.rpartition(" ")[0], numbers, name), rank, f"{name}, {state}")
