"""``synclab report PATH``: the report of any tree of runs, a result.json or an archive, in the
format asked; ``--out`` writes the summaries and plots; ``--check`` guards an experiment in CI."""

import argparse
import os
import sys
from pathlib import Path

from synclab.commands.cli import fail
from synclab.records.files import RESULT
from synclab.reports.report import Report, _outcome_order, collect
from synclab.reports.answer import TESTS, answer
from synclab.reports.render import FORMATS, _jobs, render, write_summary

EXIT_FORBIDDEN = 1
DEFAULT_PATH = "outputs"  # where runs land when hydra.run.dir is not set (conf/config.yaml)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", nargs="?", default=None,
                        help=f"a run, a sweep, any directory tree of them, or a synclab archive (default: "
                             f"{DEFAULT_PATH}/, where runs land)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="what to print (default: table)")
    parser.add_argument("--out", metavar="DIR", help="also write summary.csv, summary.md and plots into DIR")
    parser.add_argument("--no-plots", action="store_true", help="with --out, write the summaries only")
    parser.add_argument("--answer", metavar="KEY", help="also print the answer table: a row per interpreter and GIL "
                        "state, a column per value of KEY (e.g. increment), lost updates / repeats in each cell; "
                        "KEY tests: stress runs' table, a row per test, a column per interpreter and GIL state")
    parser.add_argument("--check", action="store_true", help=f"exit {EXIT_FORBIDDEN} when any forbidden outcome appears, any stored result contradicts "
                             "its own numbers, or any run cannot be read")


def run(args: argparse.Namespace) -> int:
    if args.no_plots and args.out is None:
        return fail("report", "--no-plots: leaves the plots out of what --out writes; without --out nothing is drawn")
    path = DEFAULT_PATH if args.path is None else args.path
    if args.path is None and not os.path.isdir(path):
        return fail("report", f"no PATH given and no {DEFAULT_PATH}/ here: run an experiment first "
                              f"(python run.py), or name a run, a sweep or an archive")
    if not os.path.exists(path):
        return fail("report", f"{path}: no such file or directory")
    if os.path.isfile(path) and os.path.basename(path) != RESULT:
        from synclab.records.archive import ArchiveError, is_archive, unpacked  # an archive is verified, then unpacked

        if not is_archive(path):
            return fail("report", f"{path}: not a directory of runs, a {RESULT} nor a synclab archive")
        try:
            with unpacked(Path(path)) as root:
                return run(argparse.Namespace(**{**vars(args), "path": str(root)}))
        except ArchiveError as error:
            return fail("report", str(error))
    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        return fail("report", f"--out: {args.out} exists and is not a directory")
    if args.answer is not None and args.format not in ("table", "md"):
        return fail("report", f"--answer: prints a table; use it with --format table or md, not {args.format}")
    report = collect(path)
    if report.empty:
        return fail("report", f"{path}: no synclab runs found (no {RESULT} anywhere below it)")
    table = None
    if args.answer is not None:
        table = answer(report, args.answer)
        if table is None and args.answer == TESTS:
            return fail("report", f"--answer {TESTS}: no stress run here (workload=stress); "
                                  f"a balance run's table takes a setting, such as increment")
        if table is None:
            return fail("report", f"--answer: no run here records a setting {args.answer!r}; "
                                  f"the settings they do record include {', '.join(sorted(_settings(report))[:12])}")
    try:
        sys.stdout.write(render(report, args.format) + ("" if table is None else "\n" + table))
        sys.stdout.flush()
    except BrokenPipeError:  # `synclab report ... | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    if args.format == "csv" and report.skipped:
        for s in report.skipped:
            sys.stderr.write(f"skipped {s.path}: {s.reason}\n")
    if args.format == "csv" and report.rows and report.stress:
        sys.stderr.write(f"not in this CSV: {len(report.stress)} stress job(s), one CSV holding one kind of run; "
                         f"--out writes theirs beside it, --format json holds both\n")
    if args.out is not None:
        try:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            write_summary(report, out)
            if not args.no_plots:
                from synclab.reports.plots import draw_all

                draw_all(report, out)
        except OSError as error:
            return fail("report", f"--out: cannot write into {args.out}: {error.strerror or error}")
    if args.check:
        return _check(report)
    return 0


def _settings(report: Report) -> "set[str]":
    return {key for row in (*report.rows, *report.stress) for key in row.config}


def _check(report: Report) -> int:
    """--check: fail on a forbidden outcome, on a record its own numbers contradict, and on runs
    that could not be read: none of them can be vouched for. Each failure is one line."""
    failures = []
    if report.forbidden_rows:
        names = sorted({o for row in report.forbidden_rows for o in row.forbidden}, key=_outcome_order)
        failures.append(f"forbidden outcomes ({', '.join(names)}) in {len(report.forbidden_rows)} job(s)")
    if report.inconsistent_rows:
        failures.append(f"{len(report.inconsistent_rows)} job(s) hold a record their own numbers contradict "
                        f"({_jobs(report.inconsistent_rows)}; see inconsistent)")
    if report.forbidden_stress:
        tests = [test for job in report.forbidden_stress for test in job.forbidden_tests]
        failures.append(f"forbidden outcomes in {len(tests)} stress test(s) ({', '.join(sorted(set(tests))[:6])}) "
                        f"in {_jobs(report.forbidden_stress)}")  # type: ignore[arg-type]
    if report.inconsistent_stress:
        failures.append(f"{len(report.inconsistent_stress)} stress job(s) hold a record their own counts contradict "
                        f"({_jobs(report.inconsistent_stress)}; see inconsistent)")  # type: ignore[arg-type]
    if report.skipped:
        failures.append(f"{len(report.skipped)} run(s) could not be read (see skipped); cannot vouch for them")
    for failure in failures:
        fail("report", failure)
    return EXIT_FORBIDDEN if failures else 0
