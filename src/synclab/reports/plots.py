"""PNG plots of a report. The only module that imports matplotlib, and only when a plot is drawn.

Figures are built with matplotlib's object API on the Agg canvas: no pyplot, no global figure
state, no display needed. A plot with nothing to show is skipped rather than drawn empty.
"""

import io
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from synclab.reports.report import Report
from synclab.records.files import write_bytes_atomic
from synclab.reports.stats import median

OUTCOMES_PNG = "outcomes.png"
DRIFT_PNG = "drift.png"
THROUGHPUT_PNG = "throughput.png"
STRESS_PNG = "stress.png"
MAX_STRESS_TESTS = 24  # histograms in one figure; the summary has every test
MAX_STRESS_BARS = 12  # outcomes drawn per test, the most often seen; the rest in one bar
LOG_SPAN = 100  # counts whose largest is this many times the smallest are drawn on a log scale
# Beyond this many configurations a per-configuration plot is unreadable; the summary still has them.
MAX_CONFIGURATIONS = 150

GRADE_COLOURS = {"acceptable": "#4c9a2a", "interesting": "#f0a202", "forbidden": "#c62828"}
OUTCOME_HATCHES = {"consistent": "", "lost_updates": "///", "not_shared": "xx", "incomplete": "..", "timeout": "\\\\"}


def labels(report: Report) -> List[str]:
    """One label per row from its swept keys; the job's path where that is not enough to tell rows apart."""
    names = []
    for row in report.rows:
        name = " ".join(f"{key}={row.config.get(key)}" for key in report.keys)
        names.append(name or row.path)
    if len(set(names)) < len(names):
        names = [f"{name} ({row.path})" if name != row.path else name for name, row in zip(names, report.rows)]
    return names


def _figure(rows: int) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(9, max(2.6, 0.34 * rows + 1.4)))


def _save(figure: Any, path: Path) -> Path:
    """Render in memory, then write atomically: a reader never sees half a picture."""
    png = io.BytesIO()
    # the canvas grows to fit long row labels and the legend outside the axes: nothing is cut
    figure.savefig(png, format="png", dpi=100, bbox_inches="tight")
    write_bytes_atomic(path, png.getvalue())
    return path


def outcome_histogram(report: Report, path: Path) -> Optional[Path]:
    """Stacked bars of outcome counts per configuration, coloured by the grade each outcome got."""
    rows = report.rows
    if not rows or len(rows) > MAX_CONFIGURATIONS:
        return None
    from matplotlib.patches import Patch

    names = labels(report)
    figure = _figure(len(rows))
    axes = figure.add_subplot()
    positions = list(range(len(rows)))[::-1]  # first row on top
    left = [0] * len(rows)
    grades_seen, outcomes_seen = set(), []
    for outcome in report.outcomes:
        counts = [row.outcomes.get(outcome, 0) for row in rows]
        if not any(counts):
            continue
        outcomes_seen.append(outcome)
        colours = []
        for row in rows:
            grade = row.outcome_grades.get(outcome, "forbidden")
            if row.outcomes.get(outcome):
                grades_seen.add(grade)
            colours.append(GRADE_COLOURS.get(grade, "#777777"))
        axes.barh(positions, counts, left=left, color=colours, edgecolor="white",
                  hatch=OUTCOME_HATCHES.get(outcome, "--"), linewidth=0.6)
        left = [a + b for a, b in zip(left, counts)]
    axes.set_yticks(positions, names, fontsize=8)
    axes.set_xlabel("repeats")
    axes.set_title("Outcomes per configuration (colour: grade, pattern: outcome)")
    handles = [Patch(facecolor=GRADE_COLOURS[g], label=g) for g in GRADE_COLOURS if g in grades_seen]
    handles += [Patch(facecolor="white", edgecolor="#444444", hatch=OUTCOME_HATCHES.get(o, "--"), label=o)
                for o in outcomes_seen]
    axes.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def drift_plot(report: Report, path: Path) -> Optional[Path]:
    """One point per repeat: how far each balance ended from what it must be, coloured by grade."""
    rows = report.rows
    if not rows or len(rows) > MAX_CONFIGURATIONS or not any(row.drifts for row in rows):
        return None
    from matplotlib.patches import Patch

    names = labels(report)
    figure = _figure(len(rows))
    axes = figure.add_subplot()
    positions = list(range(len(rows)))[::-1]
    grades_seen = set()
    for position, row in zip(positions, rows):
        if not row.drifts:
            continue
        # drift is read over consistent and lost_updates repeats only, so 0 means consistent
        grades = [row.outcome_grades.get("consistent" if d == 0 else "lost_updates", "forbidden") for d in row.drifts]
        grades_seen.update(grades)
        # a small vertical spread keeps equal drifts of different repeats visible side by side
        count = len(row.drifts)
        step = min(0.12, 0.6 / max(count - 1, 1))
        spread = [position + (i - (count - 1) / 2) * step for i in range(count)]
        colours = [GRADE_COLOURS.get(grade, "#777777") for grade in grades]
        axes.scatter(row.drifts, spread, s=16, c=colours, alpha=0.7, zorder=3)
    axes.axvline(0, color="#888888", linewidth=0.8, zorder=1)
    axes.set_yticks(positions, names, fontsize=8)
    axes.set_xlabel("drift (balance after - expected), one point per repeat")
    axes.set_title("Drift per configuration (colour: grade)")
    axes.grid(axis="x", alpha=0.3)
    handles = [Patch(facecolor=GRADE_COLOURS[g], label=g) for g in GRADE_COLOURS if g in grades_seen]
    axes.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(figure, path)


def throughput_series(report: Report) -> Dict[str, List[Tuple[float, float]]]:
    """Median ops/s against workers, one series per combination of the other swept keys."""
    if "workers" not in report.keys:
        return {}
    others = [key for key in report.keys if key != "workers"]
    points: Dict[str, Dict[float, List[float]]] = {}
    for row in report.rows:
        workers = row.config.get("workers")
        if row.ops_per_s is None or not isinstance(workers, (int, float)):
            continue
        name = " ".join(f"{key}={row.config.get(key)}" for key in others) or "all jobs"
        points.setdefault(name, {}).setdefault(workers, []).append(row.ops_per_s)
    # a line needs two worker counts: presets that differ in workers (and in everything else) make none
    return {
        name: sorted((w, median(rates)) for w, rates in by_workers.items())
        for name, by_workers in points.items()
        if len(by_workers) > 1
    }


def throughput_plot(report: Report, path: Path) -> Optional[Path]:
    """Throughput against workers per lock style, when workers was swept."""
    series = throughput_series(report)
    if not series or len(series) > 40:
        return None
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    figure = Figure(figsize=(8, 4.8))
    axes = figure.add_subplot()
    for name, points in sorted(series.items()):
        xs, ys = zip(*points)
        axes.plot(xs, ys, marker="o", label=name)
    axes.set_xlabel("workers")
    axes.set_ylabel("operations per second (median over repeats)")
    axes.set_title("Throughput against workers")
    axes.set_xticks(sorted({x for points in series.values() for x, _ in points}))
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_formatter(EngFormatter())
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)


def _bars(outcomes: List[Dict[str, Any]]) -> List[Tuple[str, int, str]]:
    """(label, count, grade) per bar: the most often seen outcomes, the rest in one bar graded as the worst of them."""
    bars = [(o["outcome"] if o["outcome"] != "" else '""', int(o["count"]), o["grade"]) for o in outcomes]
    if len(bars) <= MAX_STRESS_BARS:
        return bars
    rest = bars[MAX_STRESS_BARS - 1:]
    worst = next((g for g in ("forbidden", "interesting") if any(b[2] == g for b in rest)), "acceptable")
    return bars[:MAX_STRESS_BARS - 1] + [(f"{len(rest)} others", sum(b[1] for b in rest), worst)]


def stress_histograms(report: Report, path: Path) -> Optional[Path]:
    """One bar chart per stress test: each outcome's count, coloured by its grade, on a log scale
    when the counts span orders of magnitude (a rare race beside millions of good samples)."""
    tests = [(job, test) for job in report.stress for test in job.tests if test["outcomes"]]
    if not tests or len(tests) > MAX_STRESS_TESTS:
        return None
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    columns = 1 if len(tests) == 1 else 2
    rows = -(-len(tests) // columns)
    figure = Figure(figsize=(5.2 * columns, 3.2 * rows))
    grades_seen = set()
    for index, (job, test) in enumerate(tests, 1):
        axes = figure.add_subplot(rows, columns, index)
        bars = _bars(test["outcomes"])
        counts = [count for _, count, _ in bars]
        grades_seen.update(grade for _, _, grade in bars)
        axes.bar(range(len(bars)), counts, color=[GRADE_COLOURS.get(g, "#777777") for _, _, g in bars])
        axes.set_xticks(range(len(bars)), [label for label, _, _ in bars], fontsize=8, rotation=30 if len(bars) > 4 else 0)
        if max(counts) >= LOG_SPAN * min(counts):
            axes.set_yscale("log")
            axes.set_ylim(bottom=0.5)  # a count of 1 still shows as a bar
            axes.set_ylabel("samples (log scale)", fontsize=8)
        else:
            axes.set_ylabel("samples", fontsize=8)
        state = {True: "GIL enabled", False: "GIL disabled"}.get(test.get("gil_enabled"), "GIL state not known")
        where = ", ".join(part for part in (job.interpreter, state) if part)
        job_name = "" if job.path == "." else f"job {job.path}: "
        axes.set_title(f"{job_name}{test['test'].split(':')[-1]}\n{where}, {int(test['samples']):,} samples", fontsize=9)
        axes.grid(axis="y", alpha=0.3)
    handles = [Patch(facecolor=GRADE_COLOURS[g], label=g) for g in GRADE_COLOURS if g in grades_seen]
    figure.legend(handles=handles, fontsize=8, loc="upper right")
    figure.suptitle("Outcomes per stress test (colour: grade)")
    figure.tight_layout()
    return _save(figure, path)


def draw_all(report: Report, out: "str | os.PathLike[str]") -> List[Path]:
    """Every plot that has something to show, as PNG files in out; returns the paths written."""
    out = Path(out)
    drawn = [
        outcome_histogram(report, out / OUTCOMES_PNG),
        drift_plot(report, out / DRIFT_PNG),
        throughput_plot(report, out / THROUGHPUT_PNG),
        stress_histograms(report, out / STRESS_PNG),
    ]
    return [path for path in drawn if path is not None]

