"""A stress test's outcome histogram as text, and the line that says what it shows: the one
printer behind ``synclab stress``, the pytest plugin, a stress run's end and ``synclab report``.

It reads a test's result as plain data (``StressResult.to_dict()``, as result.json stores it), so
a live run and one read back from disk print alike. What it says is no more than the counts
show: an outcome never seen in N samples has a rate below a bound, nothing more.
"""

from typing import Any, Mapping, Optional, Sequence

from synclab.reports.stats import never_seen_bound, wilson
from synclab.reports.table import format_table

MAX_TRACEBACK_LINES = 40  # of a stored traceback, the last ones: where it was raised


def _share(count: int, samples: int) -> str:
    if samples <= 0:
        return "-"
    share = 100.0 * count / samples
    return f"{share:.3g}%" if share < 99.95 or count == samples else f"{share:.2f}%"


def _rate(count: int, samples: int) -> str:
    interval = wilson(count, samples)
    if interval is None:
        return "no samples"
    low, high = interval
    return f"{100.0 * count / samples:.3g}%, 95% interval {100 * low:.3g}% to {100 * high:.3g}%"


def seen(result: Mapping[str, Any], grade: str) -> int:
    return sum(int(entry["count"]) for entry in result.get("outcomes") or () if entry.get("grade") == grade)


def status(result: Mapping[str, Any]) -> str:
    """forbidden if any forbidden outcome was seen, else interesting if any interesting one, else acceptable."""
    for grade in ("forbidden", "interesting"):
        if seen(result, grade):
            return grade
    return "acceptable"


def verdict(result: Mapping[str, Any]) -> str:
    """One line: what the samples showed, with its rate, and never more than they show."""
    samples = int(result.get("samples") or 0)
    forbidden, interesting = seen(result, "forbidden"), seen(result, "interesting")
    if forbidden:
        return f"FAILED: a forbidden outcome in {forbidden:,} of {samples:,} samples ({_rate(forbidden, samples)})"
    if interesting:
        return f"interesting: seen in {interesting:,} of {samples:,} samples ({_rate(interesting, samples)})"
    bound = 100 * never_seen_bound(samples)
    return (f"no interesting or forbidden outcome in {samples:,} samples (rate < {bound:.2g}% at 95%): a finding "
            "about this interpreter and these settings, not proof that the code is safe")


def _where(result: Mapping[str, Any], interpreter: Optional[str]) -> str:
    gil = result.get("gil_enabled")
    state = "GIL state not known" if gil is None else ("GIL enabled" if gil else "GIL disabled")
    return f"{interpreter}, {state}" if interpreter else state


def format_histogram(result: Mapping[str, Any], interpreter: Optional[str] = None) -> str:
    """The test's name, its outcomes (most often seen first) with counts, shares and grades, the
    samples, their rate and the time budget that bounded them, and the verdict line."""
    samples = int(result.get("samples") or 0)
    rows = [(entry["outcome"] if entry["outcome"] != "" else '""', f"{int(entry['count']):,}",
             _share(int(entry["count"]), samples), entry["grade"], entry.get("description") or "")
            for entry in result.get("outcomes") or ()]
    table = format_table(("outcome", "count", "share", "grade", "description"), rows, left=1, text=(3, 4))
    rate = result.get("samples_per_s")
    seconds = result.get("seconds")
    lines = [f"{result.get('test')}  ({_where(result, interpreter)})"]
    if result.get("description"):
        lines.append(f"  {result['description']}")
    lines.extend("  " + line for line in table.splitlines())
    timing = f" in {seconds:.2f} s ({rate:,.0f} per second)" if seconds and rate else ""
    budget = result.get("time_budget_s")
    spent = f", a time budget of {budget:g} s" if isinstance(budget, (int, float)) else ""
    lines.append(f"  {samples:,} samples{timing}, strides of {result.get('stride')}{spent}")
    lines.append(f"  {verdict(result)}")
    for warning in result.get("warnings") or ():
        lines.append(f"  warning: {warning}")
    if result.get("error"):  # shown once per test: the first call that raised
        lines.append("  an actor or the arbiter raised; the first traceback:")
        lines.extend("    " + line for line in str(result["error"]).rstrip().splitlines()[-MAX_TRACEBACK_LINES:])
    return "\n".join(lines)


def format_summary(results: Sequence[Mapping[str, Any]]) -> str:
    """One line over every test of a run."""
    failed = sum(1 for result in results if status(result) == "forbidden")
    interesting = sum(1 for result in results if status(result) == "interesting")
    samples = sum(int(result.get("samples") or 0) for result in results)
    tests = f"{len(results)} stress test{'s' if len(results) != 1 else ''}"
    return (f"{tests}, {samples:,} samples: {failed} failed (forbidden outcome seen), "
            f"{interesting} with an interesting outcome, {len(results) - failed - interesting} with neither")
