"""Summaries of runs on disk: one row per job, for any tree of single runs and sweeps.

``synclab report PATH`` and the end-of-sweep callback both come here. Reading never fails on
what it finds: a result.json that is empty, cut short, not JSON, of another schema or malformed,
and a job directory without one, are each listed as skipped with the reason, and the rest is
reported. A job costs one small read (its result.json records its overrides; an older one
also has .hydra/overrides.yaml read), and only directories that are not runs are listed, so
ten thousand runs take about a second. Nothing here imports the runner or Hydra.
"""

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from synclab.records.bounded import (MAX_RESULT_BYTES, MAX_YAML_BYTES, BoundError, check_repeats, load_yaml,
                                     loads_json, read_capped)
from synclab.records.judge import Unusable, judge_result
from synclab.kernel.outcome import DRIFT_OUTCOMES, OUTCOMES, DriftStats, drift_stats
from synclab.records.files import INTERRUPTED, LOG, RESULT, write_text_atomic
from synclab.records.resultfile import SCHEMA_VERSIONS
from synclab.reports.stats import (BASELINE_IGNORED, baseline_key, geometric_mean, never_seen_bound,
                    ratio_of_rates, wilson)
from synclab.reports.table import format_table, number

OVERRIDES = (".hydra", "overrides.yaml")
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
FORMATS = ("table", "csv", "md", "json")


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Row:
    """One job, summarized over its repeats."""

    path: str  # the job's directory, relative to the report's root ("." for the root itself)
    config: Mapping[str, Any]  # flat (dotted) config, plus "experiment" when a preset was named
    overrides: Tuple[str, ...]  # the config keys the job was launched with overrides for
    repeats: int
    outcomes: Mapping[str, int]
    outcome_grades: Mapping[str, str]  # grade of each outcome seen in this job
    anomalies: int  # repeats that are not consistent
    anomaly_ci: Optional[Tuple[float, float]]
    drift: DriftStats
    drifts: Tuple[int, ...]  # one per repeat with a meaningful balance, in repeat order
    ops_per_s: Optional[float]  # geometric mean over the repeats (see ops_interval)
    forbidden: Tuple[str, ...]
    lock_cost: Optional[float] = None  # unlocked ops/s over this job's, against its sweep's lock=none twin
    co_jobs: Optional[int] = None  # other synclab jobs seen running on the same host (None: not recorded)
    host_load: Optional[float] = None  # the host's 1-minute load average at the job's end
    rates: Tuple[float, ...] = ()  # ops/s of each repeat that has one, from its ops_done and work_s
    ops_interval: Optional[Tuple[float, float]] = None  # 95% interval of ops_per_s (two repeats or more)
    grading: Mapping[str, str] = field(default_factory=dict)  # the run's grading rules
    inconsistencies: Tuple[str, ...] = ()  # claims of the stored result that its numbers contradict
    lock_cost_ci: Optional[Tuple[float, float]] = None  # 95% interval of lock_cost
    no_baseline: Optional[str] = None  # why a locked job has no lock cost
    interpreter: Optional[str] = None  # "CPython 3.11.7", as the run recorded it (None: not recorded)
    runtime: Optional[Mapping[str, Any]] = None  # the recorded interpreter, its fields type-checked

    @property
    def co_run(self) -> bool:
        """Ran beside other jobs on its host: its measurement competed with them for cores."""
        return bool(self.co_jobs)

    @property
    def anomaly_rate(self) -> float:
        return self.anomalies / self.repeats


@dataclass(frozen=True)
class Report:
    root: str
    rows: Tuple[Row, ...]
    skipped: Tuple[Skipped, ...]
    keys: Tuple[str, ...]  # the swept keys, shown as columns
    outcomes: Tuple[str, ...]  # outcome columns: every known outcome, then any other seen

    @property
    def forbidden_rows(self) -> Tuple[Row, ...]:
        return tuple(row for row in self.rows if row.forbidden)

    @property
    def inconsistent_rows(self) -> Tuple[Row, ...]:
        """Jobs whose stored result claims what its own numbers contradict."""
        return tuple(row for row in self.rows if row.inconsistencies)


# ---------------------------------------------------------------- reading


def _natural(name: str) -> Tuple:
    """Sort job 10 after job 9."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _missing_reason(entries: Mapping[str, Any]) -> str:
    if INTERRUPTED in entries:
        return f"no {RESULT}: the job was interrupted (see {INTERRUPTED}); `synclab resume` reruns it"
    if any(name.startswith(f".{RESULT}.") and name.endswith(".tmp") for name in entries):
        return f"no {RESULT}: the job stopped while writing it (a temporary file is left)"
    if LOG in entries:
        return f"no {RESULT}: the job did not finish (interrupted or failed; see run.log)"
    return f"no {RESULT}: the job did not run (interrupted before it started, or its config was refused)"


def parse_overrides(text: str) -> List[str]:
    """Hydra's .hydra/overrides.yaml (a YAML list of strings), read without a YAML parser.

    Hydra writes plain ``- key=value`` lines, quoting a value only when YAML needs it; anything
    else falls back to a safe YAML load.
    """
    items: List[str] = []
    for line in text.splitlines():
        if not line.strip() or line.strip() == "[]":
            continue
        if not line.startswith("- "):
            return _parse_overrides_yaml(text)
        item = line[2:].strip()
        if len(item) >= 2 and item[0] == item[-1] == "'":
            item = item[1:-1].replace("''", "'")
        elif len(item) >= 2 and item[0] == item[-1] == '"':
            try:
                item = json.loads(item)
            except ValueError:
                return _parse_overrides_yaml(text)
        elif item[:1] in "'\"[{&*!|>%@`":
            return _parse_overrides_yaml(text)
        items.append(str(item))
    return items


def _parse_overrides_yaml(text: str) -> List[str]:
    import yaml  # installed with omegaconf; only needed for unusual quoting

    try:
        loaded = load_yaml(text)
    except (yaml.YAMLError, ValueError):  # BoundError included: an alias bomb is not a list of overrides
        return []
    return [str(item) for item in loaded] if isinstance(loaded, list) else []


def override_pairs(overrides: Sequence[str]) -> Dict[str, str]:
    """key -> value for each override (``+``/``++`` dropped; deletions and hydra.* ignored)."""
    pairs: Dict[str, str] = {}
    for item in overrides:
        key, sep, value = str(item).partition("=")
        key = key.lstrip("+").strip()
        if not sep or key.startswith(("~", "hydra.")) or key == "hydra":
            continue
        pairs[key] = value.strip()
    return pairs


def flatten(data: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Nested settings as dotted keys (``grades.timeout``); a list is kept as its JSON text."""
    if not prefix and not any(type(value) is dict or type(value) is list for value in data.values()):
        return dict(data)  # the usual case: nothing nested
    flat: Dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            flat[f"{prefix}{key}"] = json.dumps(value)
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_ORDER = {outcome: index for index, outcome in enumerate(OUTCOMES)}


def _outcome_order(outcome: str) -> Tuple[int, str]:
    """Known outcomes in their classification order, any other after them by name."""
    return _ORDER.get(outcome, len(_ORDER)), outcome


def row_from_result(data: Any, path: str = ".", overrides: Optional[Sequence[str]] = None) -> Row:
    """Summarize one job's result.json (already parsed); raise Unusable with the reason if it cannot be.

    Every count comes from what the repeats' numbers say (judge.py), never from a stored outcome,
    grade or summary; those are checked, and each disagreement is listed in ``inconsistencies``.
    The job's overrides come from the result itself when it records them, else from ``overrides``.
    """
    if not isinstance(data, dict):
        raise Unusable(f"{RESULT} holds {type(data).__name__}, not a synclab result object")
    version = data.get("schema_version")
    if version is None:
        raise Unusable(f"{RESULT} has no schema_version: not a synclab result")
    if version not in SCHEMA_VERSIONS or isinstance(version, bool):
        readable_versions = ", ".join(map(str, SCHEMA_VERSIONS))
        raise Unusable(f"schema_version {version!r} is not one this synclab reads ({readable_versions})")
    judgement = judge_result(data, version)
    config = data["config"]

    outcomes: Dict[str, int] = {}
    forbidden = set()
    for run in judgement.runs:
        outcomes[run.outcome] = outcomes.get(run.outcome, 0) + 1
        if run.grade == "forbidden":
            forbidden.add(run.outcome)
    drifts = [run.drift for run in judgement.runs if run.drift is not None and run.outcome in DRIFT_OUTCOMES]
    rates = tuple(run.ops_per_s for run in judgement.runs if run.ops_per_s is not None)

    recorded = data.get("overrides")
    pairs = override_pairs(recorded if isinstance(recorded, list) else overrides or ())
    flat = flatten(config)
    if "experiment" in pairs:
        flat = {"experiment": pairs["experiment"], **flat}
    named = tuple(dict.fromkeys(key if key in flat else key.split(".", 1)[0] for key in pairs))
    repeats = len(judgement.runs)
    anomalies = repeats - outcomes.get("consistent", 0)
    host = data.get("host")
    co_jobs = host.get("co_jobs") if isinstance(host, dict) else None
    load = host.get("load_end") if isinstance(host, dict) else None
    rate = geometric_mean(rates)
    return Row(
        path=path,
        config=flat,
        overrides=named,
        repeats=repeats,
        outcomes=outcomes,
        outcome_grades={outcome: judgement.grading[outcome] for outcome in outcomes},
        anomalies=anomalies,
        anomaly_ci=wilson(anomalies, repeats),
        drift=drift_stats(drifts),
        drifts=tuple(drifts),
        ops_per_s=None if rate is None else rate.value,
        forbidden=tuple(sorted(forbidden, key=_outcome_order)) if forbidden else (),
        co_jobs=co_jobs if type(co_jobs) is int else None,
        host_load=load if type(load) in (int, float) and math.isfinite(load) else None,
        rates=rates,
        ops_interval=None if rate is None or not rate.has_interval else (rate.low, rate.high),  # type: ignore[arg-type]
        grading=dict(judgement.grading),
        inconsistencies=judgement.inconsistencies,
        interpreter=interpreter_of(data.get("interpreter")),
        runtime=runtime_of(data.get("interpreter")),
    )


RUNTIME_FIELDS = {"implementation": str, "version": str, "free_threaded": bool, "gil_enabled": bool,
                  "start_method": str}


def runtime_of(recorded: Any) -> Optional[Dict[str, Any]]:
    """The fields of a recorded interpreter that decide whether two runs are one experiment; a
    field of the wrong type counts as not recorded."""
    if not isinstance(recorded, dict):
        return None
    kept = {key: recorded.get(key) for key, kind in RUNTIME_FIELDS.items()
            if isinstance(recorded.get(key), kind) and (kind is bool or len(recorded[key]) <= 60)}
    return kept or None


def interpreter_of(recorded: Any) -> Optional[str]:
    """The interpreter a run recorded, in words: "CPython 3.13.5 (free-threaded, GIL disabled)"."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("version"), str):
        return None
    name = f"{recorded.get('implementation') or 'Python'} {recorded['version']}"
    if recorded.get("free_threaded") is True:
        name += f" (free-threaded, GIL {'enabled' if recorded.get('gil_enabled') else 'disabled'})"
    return name[:120]


def read_run(directory: str, path: str) -> Union[Row, Skipped, None]:
    """One directory as a run: a row, the reason it is skipped, or None when it holds no result.json."""
    try:
        raw = read_capped(f"{directory}/{RESULT}", MAX_RESULT_BYTES)
    except BoundError as error:
        return Skipped(path, f"{RESULT} {error}")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return Skipped(path, f"{RESULT} is not a file")
    except OSError as error:
        return Skipped(path, f"{RESULT} unreadable: {error.strerror or error}")
    if not raw.strip():
        return Skipped(path, f"{RESULT} is empty")
    try:
        data = loads_json(raw)
        check_repeats(data)
    except BoundError as error:
        return Skipped(path, f"{RESULT} {error}")
    except UnicodeDecodeError:
        return Skipped(path, f"{RESULT} is not text (not JSON)")
    except ValueError as error:
        text = raw.strip()
        what = "cut short (half-written)" if text[:1] == b"{" and text[-1:] != b"}" else "not valid JSON"
        return Skipped(path, f"{RESULT} is {what}: {error}")
    overrides: List[str] = []
    if not (isinstance(data, dict) and isinstance(data.get("overrides"), list)):
        try:  # results that do not record their overrides: read what Hydra kept
            text = read_capped(os.path.join(directory, *OVERRIDES), MAX_YAML_BYTES).decode("utf-8")
            overrides = parse_overrides(text)
        except (OSError, UnicodeDecodeError, BoundError):
            pass
    try:
        return row_from_result(data, path, overrides)
    except Unusable as error:
        return Skipped(path, str(error))
    except (ArithmeticError, RecursionError) as error:  # numbers within the bounds whose statistics are not
        return Skipped(path, f"{RESULT} holds numbers synclab cannot summarize ({error})")


def collect(root: "str | os.PathLike[str]") -> Report:
    """Read every run under root (a directory, or a result.json file) into a report.

    A directory holding result.json is a run and is not descended into; hidden directories
    (``.hydra``) are never entered, nor are symbolic links to directories. A run costs one
    open (two for results that do not record their overrides); only other directories are listed.
    """
    root = os.fspath(root)
    rows: List[Row] = []
    skipped: List[Skipped] = []
    if os.path.isfile(root):
        item = read_run(os.path.dirname(root) or ".", ".")
        (rows if isinstance(item, Row) else skipped).append(item)  # type: ignore[arg-type]
        return build(root, rows, skipped)
    stack = [(root, ".")]
    while stack:
        directory, path = stack.pop()
        item = read_run(directory, path)
        if item is not None:
            (rows if isinstance(item, Row) else skipped).append(item)  # type: ignore[arg-type]
            continue
        try:
            with os.scandir(directory) as scan:
                entries = {entry.name: entry for entry in scan}
        except OSError as error:
            skipped.append(Skipped(path, f"unreadable directory: {error.strerror or error}"))
            continue
        if ".hydra" in entries or LOG in entries or INTERRUPTED in entries:
            skipped.append(Skipped(path, _missing_reason(entries)))
            continue
        subdirs = [name for name, entry in entries.items()
                   if not name.startswith(".") and entry.is_dir(follow_symlinks=False)]
        subdirs.sort(key=_natural, reverse=True)  # popped in natural order: job 9 before job 10
        stack.extend((f"{directory}/{name}", name if path == "." else f"{path}/{name}") for name in subdirs)
    return build(root, rows, skipped)


def build(root: str, rows: Sequence[Row], skipped: Sequence[Skipped] = ()) -> Report:
    """Finish a report: swept keys, outcome columns and each lock's cost against its lock=none twin."""
    rows = with_lock_costs(rows)
    seen = {outcome for row in rows for outcome in row.outcomes}
    outcomes = tuple(sorted(seen | set(OUTCOMES), key=_outcome_order))
    return Report(root, tuple(rows), tuple(skipped), swept_keys(rows), outcomes)


def swept_keys(rows: Sequence[Row]) -> Tuple[str, ...]:
    """The keys whose value differs between rows; when none does, the keys the jobs overrode.

    ``repeats`` is never a key column: the repeats column counts them.
    """
    order: Dict[str, None] = {}
    for row in rows:
        order.update(dict.fromkeys(row.config))
    order.pop("repeats", None)
    varying = tuple(key for key in order if _varies(rows, key))
    if varying:
        return varying
    named = {key for row in rows for key in row.overrides}
    return tuple(k for k in order if k in named)


def _varies(rows: Sequence[Row], key: str) -> bool:
    first = rows[0].config.get(key)
    for row in rows:
        if row.config.get(key) != first:
            return True
    return False


def sweep_of(row: Row) -> str:
    """The directory a job ran in beside others: its sweep (jobs of one sweep share the machine's moment)."""
    return os.path.dirname(row.path) if row.path != "." else ""


NO_BASELINE = "no lock=none job with the same settings in its sweep"


def with_lock_costs(rows: Sequence[Row]) -> List[Row]:
    """Set each locked row's lock cost: how many times faster the lock=none job of the same sweep,
    identical in every other setting, ran (ratio_of_rates, with its interval).

    Only jobs of the same sweep are compared: a baseline measured at another time, under another
    load, says nothing about this lock. Several identical lock=none jobs pool their repeats.
    """
    ignored = BASELINE_IGNORED + ("experiment",)
    keys = [(sweep_of(row), baseline_key(row.config, ignored)) for row in rows]
    baselines: Dict[Tuple, List[float]] = {}
    locked = set()
    for key, row in zip(keys, rows):
        if row.config.get("lock") == "none":
            baselines.setdefault(key, []).extend(row.rates)
        else:
            locked.add(key)
    out = []
    for key, row in zip(keys, rows):
        if row.config.get("lock") == "none":
            out.append(replace(row, lock_cost=1.0) if key in locked and row.rates else row)
            continue
        cost = ratio_of_rates(baselines.get(key, ()), row.rates)
        if cost is None:
            out.append(replace(row, no_baseline="no throughput recorded" if baselines.get(key) else NO_BASELINE))
        else:
            interval = (cost.low, cost.high) if cost.has_interval else None
            out.append(replace(row, lock_cost=cost.value, lock_cost_ci=interval))  # type: ignore[arg-type]
    return out


# ---------------------------------------------------------------- rendering


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
    data = {
        "root": report.root,
        "keys": list(report.keys),
        "rows": records(report),
        "inconsistent": [{"job": row.path, "claims": list(row.inconsistencies)} for row in report.inconsistent_rows],
        "notes": notes(report),
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


def to_table(report: Report) -> str:
    parts = []
    if report.rows:
        headers, cells = _display(report, "{}")
        parts.append(format_table(headers, cells, left=1 + len(report.keys)))
    parts.append(_footer(report))
    parts.extend(notes(report))
    if report.skipped:
        parts.append(f"skipped ({len(report.skipped)}):")
        parts.extend(f"  {s.path}: {s.reason}" for s in report.skipped)
    return "\n".join(parts) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(report: Report) -> str:
    lines = ["# synclab summary", "", f"Runs under `{report.root}`: {_footer(report)}.", ""]
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
    """summary.csv and summary.md in out; returns the paths written."""
    out = Path(out)
    written = []
    for name, text in ((SUMMARY_CSV, to_csv(report)), (SUMMARY_MD, to_markdown(report))):
        write_text_atomic(out / name, text)
        written.append(out / name)
    return written
