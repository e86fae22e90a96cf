"""The end-of-sweep summary: every job under a sweep directory read once, its summary files and
plots written there, its table printed. The callback, an interruption and resume all end here."""

from pathlib import Path
from typing import List, Optional

from synclab.records.files import ANSWER, write_text_atomic
from synclab.reports.answer import answer
from synclab.reports.report import collect
from synclab.reports.render import to_table, write_summary


def summarize_sweep(sweep_dir: Path, plots: bool = True, table: bool = True, answer_by: Optional[str] = None) -> List[Path]:
    """Read every job under sweep_dir once and write the summary files (and plots) there; with
    ``answer_by``, also the answer table by that key (reports.answer), printed last."""
    report = collect(sweep_dir)
    written = write_summary(report, sweep_dir)
    answered = None if answer_by is None else answer(report, answer_by)
    if answered is not None:
        write_text_atomic(sweep_dir / ANSWER, answered)
        written.append(sweep_dir / ANSWER)
    if plots and (report.rows or report.stress):
        from synclab.reports.plots import draw_all  # matplotlib: only when there is something to draw

        written += draw_all(report, sweep_dir)
    if table:
        print(to_table(report), end="", flush=True)
        if answered is not None:
            print("\n" + answered, end="", flush=True)
    return written
