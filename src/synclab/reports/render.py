"""A report's rows in every format: the aligned text table, CSV, Markdown and JSON, the notes that
say what a cell cannot, and the summary files a sweep keeps."""

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from synclab.records.files import STRESS_SUMMARY_CSV, SUMMARY_CSV, SUMMARY_MD, write_text_atomic
from synclab.kernel.outcome import drift_stats
from synclab.reports.report import Report, Row, build, row_from_result
from synclab.reports.stats import never_seen_bound
from synclab.reports.table import format_table, number

FORMATS = ("table", "csv", "md", "json")



def _round(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def record(row: Row, keys: Sequence[str], outcomes: Sequence[str]) -> Dict[str, Any]:
    """One row as flat, typed fields: the CSV and JSON formats share this."""
    low, high = row.anomaly_ci or (None, None)
    ops_low, ops_high = row.ops_interval or (None, None)
    cost_low, cost_high = row.lock_cost_ci or (None, None)
    rec: Dict[str, Any] = {"job": row.path}
    rec.update({key: row.config.get(key) for key in keys})
    rec["repeats"] = row.repeats
    rec.update({outcome: row.outcomes.get(outcome, 0) for outcome in outcomes})
    rec.update(
        anomalies=row.anomalies,
        anomaly_rate=_round(row.anomaly_rate, 4),
        anomaly_ci_low=_round(low, 4),
        anomaly_ci_high=_round(high, 4),
        never_seen_below=_round(never_seen_bound(row.repeats), 4) if row.anomalies == 0 else None,
        drift_mean=_round(row.drift.mean, 3),
        drift_stdev=_round(row.drift.stdev, 3),
        drift_min=row.drift.min,
        drift_max=row.drift.max,
        ops_per_s=_round(row.ops_per_s, 1),
        ops_per_s_low=_round(ops_low, 1),
        ops_per_s_high=_round(ops_high, 1),
        lock_cost=_round(row.lock_cost, 3),
        lock_cost_low=_round(cost_low, 3),
        lock_cost_high=_round(cost_high, 3),
        forbidden=list(row.forbidden),
        inconsistent=len(row.inconsistencies),
        co_jobs=row.co_jobs,
        host_load=row.host_load,
    )
    return rec


def records(report: Report) -> List[Dict[str, Any]]:
    return [record(row, report.keys, report.outcomes) for row in report.rows]


def to_csv(report: Report) -> str:
    """One CSV holds one kind of run: the balance jobs, or the stress tests when there are only
    those (write_summary keeps a tree's stress tests beside it in a file of their own)."""
    if report.stress and not report.rows:
        from synclab.reports.stressrender import stress_csv

        return stress_csv(report)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    recs = records(report)
    header = list(record(report.rows[0], report.keys, report.outcomes)) if report.rows else _empty_header(report)
    writer.writerow(header)
    for rec in recs:
        rec["forbidden"] = " ".join(rec["forbidden"])
        writer.writerow(["" if rec[field] is None else rec[field] for field in header])
    return buffer.getvalue()


def _empty_header(report: Report) -> List[str]:
    dummy = Row(".", {}, (), 1, {}, {}, 0, None, drift_stats(()), (), None, ())
    return list(record(dummy, report.keys, report.outcomes))


def to_json(report: Report) -> str:
    from synclab.reports.stressrender import stress_records

    data = {
        "root": report.root,
        "keys": list(report.keys),
        "rows": records(report),
        "inconsistent": [{"job": row.path, "claims": list(row.inconsistencies)} for row in report.inconsistent_rows],
        "notes": notes(report),
        "stress_keys": list(report.stress_keys),
        "stress": stress_records(report),  # one per stress job and test, its histogram in "outcomes"
        "stress_inconsistent": [{"job": job.path, "claims": list(job.inconsistencies)}
                                for job in report.inconsistent_stress],
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }
    return json.dumps(data, indent=2) + "\n"


def _rate_cell(row: Row) -> str:
    if row.ops_per_s is None:
        return "-"
    if row.ops_interval is None:
        return f"{row.ops_per_s:,.0f}"
    low, high = row.ops_interval
    return f"{row.ops_per_s:,.0f} [{low:,.0f}, {high:,.0f}]"


def lock_cost_cell(row: Row) -> str:
    """`1.89x [1.61, 2.20]`; an interval that holds 1 is no measurable cost; the baseline says so."""
    if row.lock_cost is None:
        return "-"
    if row.config.get("lock") == "none":
        return "baseline"
    if row.lock_cost_ci is None:
        return f"{row.lock_cost:.2f}x (no interval: 1 repeat)"
    low, high = row.lock_cost_ci
    if low <= 1.0 <= high:
        return f"no measurable cost [{low:.2f}, {high:.2f}]"
    return f"{row.lock_cost:.2f}x [{low:.2f}, {high:.2f}]"


def _display(report: Report, mark: str) -> Tuple[List[str], List[List[str]]]:
    """Headers and cells for the readable formats; mark wraps a forbidden or inconsistent cell."""
    shown = [o for o in report.outcomes if any(row.outcomes.get(o) for row in report.rows)] or ["consistent"]
    headers = ["job", *report.keys, "repeats", *shown, "anomaly [95% CI]", "drift mean", "drift sd",
               "drift min", "drift max", "ops/s [95% CI]", "lock cost [95% CI]", "forbidden"]
    co_run = any(row.co_run for row in report.rows)
    if co_run:  # shown only when some job shared its host with others
        headers.insert(-1, "co-run")
    inconsistent = bool(report.inconsistent_rows)
    if inconsistent:  # shown only when some stored result contradicts its own numbers
        headers.append("inconsistent")
    cells = []
    for row in report.rows:
        low, high = row.anomaly_ci or (0.0, 1.0)
        forbidden = mark.format(f"FORBIDDEN: {', '.join(row.forbidden)}") if row.forbidden else ""
        cells.append([
            row.path,
            *("-" if row.config.get(k) is None else str(row.config.get(k)) for k in report.keys),
            str(row.repeats),
            *(str(row.outcomes.get(o, 0)) for o in shown),
            f"{row.anomaly_rate:.2f} [{low:.2f}, {high:.2f}]",
            number(row.drift.mean, ",.1f"),
            number(row.drift.stdev, ",.1f"),
            number(row.drift.min, ",d"),
            number(row.drift.max, ",d"),
            _rate_cell(row),
            lock_cost_cell(row),
            *([_co_run_cell(row)] if co_run else []),
            forbidden,
            *([mark.format(f"INCONSISTENT: {len(row.inconsistencies)}") if row.inconsistencies else ""]
              if inconsistent else []),
        ])
    return headers, cells


def _co_run_cell(row: Row) -> str:
    if not row.co_run:
        return ""
    load = "" if row.host_load is None else f", load {row.host_load:.1f}"
    return f"CO-RUN: {row.co_jobs} other{'s' * (row.co_jobs != 1)}{load}"


def _footer(report: Report) -> str:
    jobs = len(report.rows)
    repeats = sum(row.repeats for row in report.rows)
    bad = len(report.forbidden_rows)
    text = f"{jobs} job{'s' * (jobs != 1)}, {repeats} repeat{'s' * (repeats != 1)}"
    text += f", {bad} with a forbidden outcome" if bad else ", no forbidden outcome"
    inconsistent = len(report.inconsistent_rows)
    if inconsistent:
        text += f", {inconsistent} with a record its own numbers contradict"
    co_run = sum(1 for row in report.rows if row.co_run)
    if co_run:
        text += f", {co_run} ran beside other jobs on their host"
    if report.skipped:
        text += f", {len(report.skipped)} skipped"
    return text


def _jobs(rows: Sequence[Row]) -> str:
    names = [row.path for row in rows]
    shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    return f"job{'s' * (len(names) != 1)} {shown}"


def notes(report: Report) -> List[str]:
    """What the table cannot say in a cell: contradicted records, missing baselines, and what
    "nothing seen" does and does not mean. Each kind of note once, naming its jobs."""
    lines: List[str] = []
    for row in report.inconsistent_rows:
        lines.extend(f"inconsistent: job {row.path}: {claim}" for claim in row.inconsistencies)
    for row in report.rows:
        if row.gil_came_back is not None:
            why = f"the import of {', '.join(row.gil_came_back)}" if row.gil_came_back else "a cause not reported"
            lines.append(f"GIL came back: job {row.path}: the GIL was off at the start and came back on during the "
                         f"run ({why}); it is counted as a run with the GIL")
    by_reason: Dict[str, List[str]] = {}
    for overrides, reason in report.not_run:
        by_reason.setdefault(reason.split(";")[0], []).append(overrides)
    for reason, jobs in by_reason.items():
        shown = "; ".join(jobs[:6]) + (f" and {len(jobs) - 6} more" if len(jobs) > 6 else "")
        lines.append(f"not run: {len(jobs)} job{'s' * (len(jobs) != 1)} ({shown}): {reason}")
    missing: Dict[str, List[Row]] = {}
    for row in report.rows:
        if row.no_baseline and report.rows and len(report.rows) > 1:
            missing.setdefault(row.no_baseline, []).append(row)
    for reason, rows in missing.items():
        lines.append(f"lock cost -: {_jobs(rows)}: {reason}")
    quiet: Dict[Tuple[bool, int, Optional[str]], List[Row]] = {}
    for row in report.rows:
        if row.anomalies == 0:
            quiet.setdefault((row.config.get("lock") == "none", row.repeats, row.interpreter), []).append(row)
    for (unlocked, repeats, interpreter), rows in quiet.items():
        bound = f"never seen in {repeats} repeat{'s' * (repeats != 1)} (rate < {never_seen_bound(repeats):.2f} at 95%)"
        if unlocked:
            where = f"on {interpreter}" if interpreter else "on the interpreter that ran it"
            lines.append(f"no race seen: {_jobs(rows)} (lock=none): lost updates {bound} {where}; a finding about "
                         "that interpreter and these settings, not proof that the code is safe without a lock")
        else:
            lines.append(f"no anomaly: {_jobs(rows)}: {bound}")
    if any(row.anomalies == 0 and row.config.get("direction", "both") == "both" for row in report.rows):
        lines.append("with deposits and withdrawals mixed (direction=both), lost updates can cancel out: a consistent "
                     "balance may hide them; direction=deposit makes every lost update visible")
    return lines


def _balance(report: Report) -> bool:
    """Whether the balance part is shown: when there are balance jobs, or no stress job to show instead."""
    return bool(report.rows) or not report.stress


def to_table(report: Report) -> str:
    parts = []
    if report.rows:
        headers, cells = _display(report, "{}")
        parts.append(format_table(headers, cells, left=1 + len(report.keys)))
    if _balance(report):
        parts.append(_footer(report))
    parts.extend(notes(report))  # with stress runs only, these are a sweep's jobs not run
    if report.stress:
        from synclab.reports.stressrender import stress_table

        parts.append(("\n" if parts else "") + stress_table(report))
    if report.skipped:
        parts.append(f"skipped ({len(report.skipped)}):")
        parts.extend(f"  {s.path}: {s.reason}" for s in report.skipped)
    return "\n".join(parts) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(report: Report) -> str:
    lines = ["# synclab summary", ""]
    if _balance(report):
        lines += [f"Runs under `{report.root}`: {_footer(report)}.", ""]
    else:
        lines += [f"Runs under `{report.root}`.", ""]
    if report.rows:
        headers, cells = _display(report, "**{}**")
        numeric = {"repeats", *report.outcomes, "drift mean", "drift sd", "drift min", "drift max", "ops/s", "lock cost"}
        lines.append("| " + " | ".join(_md_cell(h) for h in headers) + " |")
        lines.append("|" + "|".join("---:" if h in numeric else "---" for h in headers) + "|")
        lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in cells)
        lines += [
            "",
            "anomaly: share of repeats that are not `consistent`, with its 95% Wilson interval. "
            "drift: after - expected, over repeats whose work all landed. "
            "ops/s: geometric mean over repeats, with its 95% t interval. "
            "lock cost: how many times faster the `lock=none` job of the same sweep with every other setting "
            "equal ran, with its 95% Welch interval; an interval that holds 1 is no measurable cost. "
            "**FORBIDDEN** rows show an outcome the experiment's grading forbids"
            + ("; **INCONSISTENT** rows hold a stored outcome, grade or summary that their own numbers contradict"
               if report.inconsistent_rows else "") + "."
            + (" co-run: the job ran beside other synclab jobs on its host, which competed for its cores."
               if any(row.co_run for row in report.rows) else ""),
        ]
    found = notes(report)
    if found:
        lines += ["", "## Notes", ""]
        lines.extend(f"- {_md_cell(note)}" for note in found)
    if report.stress:
        from synclab.reports.stressrender import stress_markdown

        lines += ["", *stress_markdown(report)]
    if report.skipped:
        lines += ["", "## Skipped", ""]
        lines.extend(f"- `{s.path}`: {_md_cell(s.reason)}" for s in report.skipped)
    return "\n".join(lines) + "\n"


RENDERERS = {"table": to_table, "csv": to_csv, "md": to_markdown, "json": to_json}


def render(report: Report, fmt: str = "table") -> str:
    return RENDERERS[fmt](report)


def format_job(data: Mapping[str, Any], overrides: Sequence[str] = (), path: str = ".") -> str:
    """The report's table for one job's result, straight from memory (a single run's last words)."""
    return to_table(build(path, [row_from_result(data, path, overrides)]))


def write_summary(report: Report, out: "str | os.PathLike[str]") -> List[Path]:
    """summary.csv and summary.md in out (and, for a tree of both kinds, the stress tests' CSV
    beside them); returns the paths written."""
    out = Path(out)
    written = []
    files = [(SUMMARY_CSV, to_csv(report)), (SUMMARY_MD, to_markdown(report))]
    if report.rows and report.stress:
        from synclab.reports.stressrender import stress_csv

        files.append((STRESS_SUMMARY_CSV, stress_csv(report)))
    for name, text in files:
        write_text_atomic(out / name, text)
        written.append(out / name)
    return written
