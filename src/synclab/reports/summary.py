"""The end-of-sweep summary: every job under a sweep directory read once, its summary files and
plots written there, its table printed. The callback, an interruption and resume all end here."""

from pathlib import Path
from typing import List

from synclab.reports.report import collect
from synclab.reports.render import to_table, write_summary


def summarize_sweep(sweep_dir: Path, plots: bool = True, table: bool = True) -> List[Path]:
    """Read every job under sweep_dir once and write the summary files (and plots) there."""
    report = collect(sweep_dir)
    written = write_summary(report, sweep_dir)
    if plots and report.rows:
        from synclab.reports.plots import draw_all  # matplotlib: only when there is something to draw

        written += draw_all(report, sweep_dir)
    if table:
        print(to_table(report), end="", flush=True)
    return written
