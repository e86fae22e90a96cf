"""A report's stress runs in every format: each job as its histograms (reports.histogram, the one
printer), and one flat row per job and test (status, samples, the interesting and forbidden counts
with their rates and intervals) for CSV, Markdown and JSON, so that a sweep's summary holds them.

Every figure comes from the judged record (records.stressjudge), never from its stored labels.
"""

import csv
import io
from typing import Any, Dict, List, Mapping

from synclab.reports.histogram import format_histogram, format_summary, seen
from synclab.reports.report import Report, StressJob
from synclab.reports.stats import never_seen_bound, wilson


def _round(value: Any, digits: int) -> Any:
    return None if value is None else round(value, digits)


def _figures(value: Any) -> Any:
    """Four significant figures: a rate of one in ten million stays one in ten million."""
    return None if value is None else float(f"{value:.4g}")


def _counted(rec: Dict[str, Any], name: str, count: int, samples: int) -> None:
    low, high = wilson(count, samples) or (None, None)
    rec[name] = count
    rec[f"{name}_rate"] = _figures(count / samples) if samples else None
    rec[f"{name}_ci_low"] = _figures(low)
    rec[f"{name}_ci_high"] = _figures(high)


def stress_record(job: StressJob, test: Mapping[str, Any], keys: "tuple[str, ...]") -> Dict[str, Any]:
    """One job's test as flat, typed fields; ``outcomes`` is the histogram as a list (JSON keeps it
    as is, CSV writes it as ``outcome=count`` pairs)."""
    samples = int(test["samples"])
    rec: Dict[str, Any] = {"job": job.path}
    rec.update({key: job.config.get(key) for key in keys})
    rec.update(test=test["test"], interpreter=job.interpreter or None, gil_enabled=test.get("gil_enabled"),
               status=test["status"], samples=samples, seconds=_round(test.get("seconds"), 3),
               samples_per_s=_round(test.get("samples_per_s"), 1))
    interesting, forbidden = seen(test, "interesting"), seen(test, "forbidden")
    _counted(rec, "interesting", interesting, samples)
    _counted(rec, "forbidden", forbidden, samples)
    rec["never_seen_below"] = _figures(never_seen_bound(samples)) if not interesting and not forbidden else None
    rec["outcomes"] = [{"outcome": o["outcome"], "count": o["count"], "grade": o["grade"]} for o in test["outcomes"]]
    rec["inconsistent"] = len(job.inconsistencies)
    return rec


def stress_records(report: Report) -> List[Dict[str, Any]]:
    return [stress_record(job, test, report.stress_keys) for job in report.stress for test in job.tests]


def _outcomes_cell(outcomes: List[Mapping[str, Any]]) -> str:
    return " ".join(f"{o['outcome']}={o['count']}" for o in outcomes)


def stress_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    recs = stress_records(report)
    header = list(recs[0]) if recs else ["job", *report.stress_keys, "test", "status", "samples"]
    writer.writerow(header)
    for rec in recs:
        rec["outcomes"] = _outcomes_cell(rec["outcomes"])
        writer.writerow(["" if rec[name] is None else rec[name] for name in header])
    return buffer.getvalue()


def _heading(job: StressJob, keys: "tuple[str, ...]") -> str:
    settings = " ".join(f"{key}={job.config.get(key)}" for key in keys)
    return f"job {job.path}" + (f" ({settings})" if settings else "")


def stress_footer(report: Report) -> str:
    """One line over every stress test of the report, with its jobs and their contradicted records."""
    jobs = len(report.stress)
    line = f"{jobs} stress job{'s' * (jobs != 1)}: " + format_summary([t for job in report.stress for t in job.tests])
    bad = len(report.inconsistent_stress)
    return line + (f", {bad} job{'s' * (bad != 1)} with a record its own counts contradict" if bad else "")


def stress_notes(report: Report) -> List[str]:
    return [f"inconsistent: job {job.path}: {claim}" for job in report.inconsistent_stress for claim in job.inconsistencies]


def stress_table(report: Report) -> str:
    """Each stress job as its histograms, then the line over all of them and what contradicts itself."""
    parts = []
    for job in report.stress:
        if len(report.stress) > 1 or job.path != ".":  # a lone run's histograms need no heading
            parts.append(_heading(job, report.stress_keys))
        parts.extend(format_histogram(test, job.interpreter) + "\n" for test in job.tests)
    parts.append(stress_footer(report))
    parts.extend(stress_notes(report))
    return "\n".join(parts)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def stress_markdown(report: Report) -> List[str]:
    """A table of the stress tests (a row per job and test), then each job's histograms as text."""
    headers = ["job", *report.stress_keys, "test", "interpreter", "status", "samples", "interesting", "forbidden"]
    lines = ["## Stress tests", "", f"{_md(stress_footer(report))}.", "",
             "| " + " | ".join(_md(h) for h in headers) + " |",
             "|" + "|".join("---:" if h in ("samples", "interesting", "forbidden") else "---" for h in headers) + "|"]
    for rec in stress_records(report):
        status = f"**{rec['status'].upper()}**" if rec["status"] == "forbidden" else rec["status"]
        cells = [rec["job"], *("-" if rec[k] is None else str(rec[k]) for k in report.stress_keys), rec["test"],
                 rec["interpreter"] or "-", status, f"{rec['samples']:,}", _md_rate(rec, "interesting"),
                 _md_rate(rec, "forbidden")]
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    lines += ["", "interesting, forbidden: samples whose outcome has that grade, with the share of samples and its "
              "95% Wilson interval; a count of 0 bounds the rate, it does not prove the code safe.", ""]
    for job in report.stress:
        lines += [f"### {_md(_heading(job, report.stress_keys))}", "", "```"]
        lines.extend(format_histogram(test, job.interpreter) for test in job.tests)
        lines += ["```", ""]
    notes = stress_notes(report)
    lines.extend(f"- {_md(note)}" for note in notes)
    return lines


def _md_rate(rec: Mapping[str, Any], grade: str) -> str:
    count = rec[grade]
    if not rec["samples"]:
        return str(count)
    low, high = rec[f"{grade}_ci_low"], rec[f"{grade}_ci_high"]
    return f"{count:,} ({100 * rec[f'{grade}_rate']:.3g}% [{100 * low:.3g}%, {100 * high:.3g}%])"
