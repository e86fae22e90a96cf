"""The idioms' answer table: one row per stress test, one column per interpreter and GIL state,
and in each cell what the samples showed there, never more.

It reads results as plain data (``StressResult.to_dict()``, as result.json stores them), so a
sweep's end and a directory read back print alike. A cell names the interesting outcomes by
the label their description starts with ("lost update: both actors read 0" reads "lost
update"), says how many of the samples showed them, and marks a forbidden outcome in capitals;
a cell that saw neither bounds the rate it could not see instead of calling the idiom safe.
"""

from typing import Any, Dict, List, Mapping, Sequence, Tuple

from synclab.reports.stats import never_seen_bound
from synclab.reports.table import format_table

Column = Tuple[str, Sequence[Mapping[str, Any]]]  # (interpreter and GIL label, the results run there)
MISSING = "-"


def _label(outcome: Mapping[str, Any]) -> str:
    """An outcome's short name: its description up to the first colon, else the outcome itself."""
    description = str(outcome.get("description") or "")
    head = description.split(":", 1)[0].strip()
    return head if head else f"outcome {outcome.get('outcome')!r}"


def _seen(result: Mapping[str, Any], grade: str) -> List[Tuple[str, int]]:
    """(label, count) of every outcome with ``grade``, labels merged, most often seen first."""
    counts: Dict[str, int] = {}
    for entry in result.get("outcomes") or ():
        if entry.get("grade") == grade and int(entry.get("count") or 0) > 0:
            label = _label(entry) if grade == "interesting" else repr(str(entry.get("outcome")))
            counts[label] = counts.get(label, 0) + int(entry["count"])
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def cell(result: Mapping[str, Any]) -> str:
    """What one result showed: 'lost update in 12 of 1,000,000', 'FORBIDDEN '3' in 1 of 5,000', or
    'never seen in 1,000,000 (rate < 3e-06 at 95%)'."""
    samples = int(result.get("samples") or 0)
    if samples <= 0:
        return "no samples"
    parts = [f"FORBIDDEN {label} in {count:,} of {samples:,}" for label, count in _seen(result, "forbidden")]
    parts += [f"{label} in {count:,} of {samples:,}" for label, count in _seen(result, "interesting")]
    if parts:
        return "; ".join(parts)
    return f"never seen in {samples:,} (rate < {never_seen_bound(samples):.2g} at 95%)"


def _name(result: Mapping[str, Any]) -> str:
    return str(result.get("test") or "?").rpartition(":")[2]


def idiom_table(columns: Sequence[Column]) -> str:
    """Rows are the tests in the order first met, columns the labels in the order given; a test a
    column did not run reads '-'. Two results for one test in one column are summed: the same
    test, more samples."""
    rows: Dict[str, Dict[int, Dict[str, Any]]] = {}
    for index, (_, results) in enumerate(columns):
        for result in results:
            found = rows.setdefault(_name(result), {})
            found[index] = _merged(found[index], result) if index in found else dict(result)
    headers = ["test", *(label for label, _ in columns)]
    table = [[name, *(cell(found[i]) if i in found else MISSING for i in range(len(columns)))]
             for name, found in rows.items()]
    title = ("stress tests: the interesting or FORBIDDEN outcomes seen, in how many samples; never seen: the 95% upper "
             "bound of their rate")
    return title + "\n" + format_table(headers, table, left=len(headers)) + "\n"


def _merged(first: Mapping[str, Any], second: Mapping[str, Any]) -> Dict[str, Any]:
    counts: Dict[str, Dict[str, Any]] = {}
    for entry in [*(first.get("outcomes") or ()), *(second.get("outcomes") or ())]:
        kept = counts.setdefault(entry["outcome"], {**entry, "count": 0})
        kept["count"] += int(entry["count"])
    return {**first, "samples": int(first.get("samples") or 0) + int(second.get("samples") or 0),
            "outcomes": list(counts.values())}
