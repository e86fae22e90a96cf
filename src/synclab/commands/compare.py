"""``synclab compare A B``: whether two runs, sweeps or archives gave the same answer; balance runs
by their repeats' outcomes, stress runs test by test by their samples' (reports.stresscompare)."""

import argparse
import sys

from synclab.commands.cli import fail
from synclab.records.files import RESULT
from synclab.reports.compare import (NotRuns, compare_stress_trees, compare_trees, format_pair, format_sweep, opened,
                                    tally)
from synclab.reports.stresscompare import format_stress_pair
from synclab.reports.verdict import ALPHA, EXIT_CODES, EXIT_HELP, overall

EPILOG = EXIT_HELP


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="a run, a sweep, or a synclab archive")
    parser.add_argument("b", metavar="B", help="another one")
    parser.add_argument("--alpha", type=float, default=ALPHA,
                        help=f"significance level of the exact test on each outcome's rate (default {ALPHA}; "
                             "divided by the number of outcomes when more than two are seen)")


def run(args: argparse.Namespace) -> int:
    from synclab.records.archive import ArchiveError

    if not 0 < args.alpha < 1:
        return fail("compare", f"--alpha: must be between 0 and 1, got {args.alpha}")
    try:
        with opened(args.a) as root_a, opened(args.b) as root_b:
            comparisons, unmatched, report_a, report_b = compare_trees(root_a, root_b, args.a, args.b, args.alpha)
            stress, stress_unmatched = compare_stress_trees(report_a, report_b, root_a, root_b, args.a, args.b,
                                                            args.alpha)
    except (ArchiveError, NotRuns) as error:
        return fail("compare", str(error))
    for name, report in (("A", report_a), ("B", report_b)):
        if not report.rows and not report.stress and report.skipped:  # say why, as report lists it under skipped
            more = f" and {len(report.skipped) - 1} more" if len(report.skipped) > 1 else ""
            first = report.skipped[0]
            return fail("compare", f"{name}: no usable synclab run (skipped {first.path}: {first.reason}{more})")
        if not report.rows and not report.stress:
            return fail("compare", f"{name}: no synclab runs found (no usable {RESULT} anywhere below it)")
    everything = [*comparisons, *stress]
    if stress and not comparisons and not unmatched and len(stress) == 1 and not stress_unmatched:
        sys.stdout.write(format_stress_pair(stress[0]))  # two stress runs: tests side by side
        sys.stdout.write(tally(everything) + "\n")
    elif stress:
        if comparisons or unmatched:
            sys.stdout.write(format_sweep(comparisons, unmatched=unmatched).rsplit("\n", 2)[0] + "\n")
        for c in stress:
            sys.stdout.write(f"\nstress job {c.job}:\n" + format_stress_pair(c))
        sys.stdout.write("".join(f"{job}: {why}\n" for job, why in stress_unmatched))
        sys.stdout.write(tally(everything, len(unmatched) + len(stress_unmatched)) + "\n")
    elif len(comparisons) == 1 and not unmatched and len(report_a.rows) == len(report_b.rows) == 1 \
            and not stress_unmatched:
        sys.stdout.write(format_pair(comparisons[0]))
    else:
        sys.stdout.write(format_sweep(comparisons, unmatched=unmatched + stress_unmatched))
    return EXIT_CODES[overall([c.verdict for c in everything], len(unmatched) + len(stress_unmatched))]
