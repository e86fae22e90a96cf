"""The rows of a report: one per job, for any tree of single runs and sweeps (render.py prints them).

``synclab report PATH`` and the end-of-sweep summary both come here. Reading never fails on
what it finds: a result.json that is empty, cut short, not JSON, of another schema or malformed,
and a job directory without one, are each listed as skipped with the reason, and the rest is
reported. A job costs one small read (its result.json records its overrides; an older one
also has .hydra/overrides.yaml read), and only directories that are not runs are listed (the
bench times a large tree). Nothing here imports the runner or Hydra.
"""

import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from synclab.kernel.outcome import DRIFT_OUTCOMES, OUTCOMES, DriftStats, drift_stats
from synclab.records.bounded import (MAX_RESULT_BYTES, MAX_YAML_BYTES, BoundError, check_repeats, load_json_file,
                                     load_yaml, loads_json, read_capped)
from synclab.records.files import INTERRUPTED, LOG, NOT_RUN, RESULT
from synclab.records.judge import Unusable, judge_result
from synclab.records.resultfile import SCHEMA_VERSIONS, WORKLOADS, workload
from synclab.records.stressjudge import Unusable as StressUnusable, judge_stress
from synclab.kernel.spec import shorten
from synclab.reports.stats import BASELINE_IGNORED, baseline_key, geometric_mean, ratio_of_rates, wilson

OVERRIDES = (".hydra", "overrides.yaml")


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
    # the GIL came back on during the run: the modules whose import did it (empty: none reported)
    gil_came_back: Optional[Tuple[str, ...]] = None

    @property
    def co_run(self) -> bool:
        """Ran beside other jobs on its host: its measurement competed with them for cores."""
        return bool(self.co_jobs)

    @property
    def anomaly_rate(self) -> float:
        return self.anomalies / self.repeats


@dataclass(frozen=True)
class StressJob:
    """One stress run (result.json with ``workload: stress``), its tests as records.stressjudge
    judged them: counts and grades re-derived from the stored declaration, never the stored labels."""

    path: str
    config: Mapping[str, Any]  # flat: the run's settings (target, stride, python, gil, ...)
    overrides: Tuple[str, ...]
    tests: Tuple[Mapping[str, Any], ...]  # each in StressResult.to_dict's shape: what reports.histogram prints
    interpreter: str  # "CPython 3.13.5t", as the record names it ("" when it does not)
    inconsistencies: Tuple[str, ...] = ()  # claims of the stored record that its counts contradict
    gil_enabled: Optional[bool] = None  # on at any point of any test, as the tests recorded it
    runtime: Optional[Mapping[str, Any]] = None  # as runtime_of reads the recorded interpreter

    @property
    def forbidden_tests(self) -> Tuple[str, ...]:
        return tuple(test["test"] for test in self.tests if test["status"] == "forbidden")


@dataclass(frozen=True)
class Report:
    root: str
    rows: Tuple[Row, ...]
    skipped: Tuple[Skipped, ...]
    keys: Tuple[str, ...]  # the swept keys, shown as columns
    outcomes: Tuple[str, ...]  # outcome columns: every known outcome, then any other seen
    # jobs a sweep left out as combinations that do not exist: (overrides, reason), from NOT_RUN
    not_run: Tuple[Tuple[str, str], ...] = ()
    stress: Tuple[StressJob, ...] = ()  # the stress runs, reported as histograms (reports.stressrender)
    stress_keys: Tuple[str, ...] = ()  # the keys that differ between stress runs

    @property
    def empty(self) -> bool:
        """Nothing found: no run of either kind, nothing skipped."""
        return not (self.rows or self.stress or self.skipped)

    @property
    def forbidden_stress(self) -> Tuple[StressJob, ...]:
        return tuple(job for job in self.stress if job.forbidden_tests)

    @property
    def inconsistent_stress(self) -> Tuple[StressJob, ...]:
        return tuple(job for job in self.stress if job.inconsistencies)

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
    runtime = runtime_of(data.get("interpreter"))
    if runtime is not None and judgement.gil_enabled is not None:  # what the repeats say, not the label
        runtime = {**runtime, "gil_enabled": judgement.gil_enabled}
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
        interpreter=interpreter_of(runtime),
        runtime=runtime,
        gil_came_back=_gil_came_back(data.get("gil")) if version >= 3 else None,
    )


def stress_job(data: Mapping[str, Any], path: str = ".", overrides: Optional[Sequence[str]] = None) -> StressJob:
    """A stress run's result.json (already parsed) as judged; raise StressUnusable naming the field."""
    judged = judge_stress(data)
    recorded = data.get("overrides")
    pairs = override_pairs(recorded if isinstance(recorded, list) else overrides or ())
    flat = flatten(judged.config)
    if "experiment" in pairs:
        flat = {"experiment": pairs["experiment"], **flat}
    tests = tuple({**test.to_dict(), "status": test.status} for test in judged.tests)
    return StressJob(path, flat, tuple(dict.fromkeys(key if key in flat else key.split(".", 1)[0] for key in pairs)),
                     tests, stress_label(runtime_of(data.get("interpreter"))), judged.inconsistencies,
                     judged.gil_enabled, runtime_of(data.get("interpreter")))


def stress_label(runtime: Optional[Mapping[str, Any]]) -> str:
    """``CPython 3.13.5t``: the interpreter as a histogram's heading names it (its GIL state is each test's)."""
    if runtime is None or "version" not in runtime:
        return ""
    return f"{runtime.get('implementation') or 'Python'} {runtime['version']}{'t' if runtime.get('free_threaded') else ''}"


def _gil_came_back(record: Any) -> Optional[Tuple[str, ...]]:
    if not isinstance(record, dict) or record.get("came_back") is not True:
        return None
    modules = record.get("reenabled_by")
    return tuple(shorten(m, 60) for m in modules[:20] if isinstance(m, str)) if isinstance(modules, list) else ()


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


def interpreter_of(runtime: Optional[Mapping[str, Any]]) -> Optional[str]:
    """A recorded interpreter (runtime_of) in words: "CPython 3.13.5 (free-threaded, GIL disabled)"."""
    if runtime is None or "version" not in runtime:
        return None
    name = f"{runtime.get('implementation') or 'Python'} {runtime['version']}"
    if runtime.get("free_threaded") is True:
        state = {True: "enabled", False: "disabled"}.get(runtime.get("gil_enabled"), "state not recorded")
        name += f" (free-threaded, GIL {state})"
    return name


def read_run(directory: str, path: str) -> Union[Row, StressJob, Skipped, None]:
    """One directory as a run: a row (a stress job for a stress run), the reason it is skipped,
    or None when it holds no result.json."""
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
        # an unknown schema_version is row_from_result's to name, before any workload it may record
        version = data.get("schema_version") if isinstance(data, dict) else None
        kind = workload(data) if version in SCHEMA_VERSIONS and not isinstance(version, bool) else "balance"
        if kind == "stress":
            return stress_job(data, path, overrides)
        if kind not in WORKLOADS:
            return Skipped(path, f"{RESULT} records workload {shorten(repr(kind), 40)}, not one this synclab reads "
                                 f"({', '.join(WORKLOADS)})")
        return row_from_result(data, path, overrides)
    except (Unusable, StressUnusable) as error:
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
    stress: List[StressJob] = []

    def keep(item: Union[Row, StressJob, Skipped]) -> None:
        {Row: rows, StressJob: stress}.get(type(item), skipped).append(item)  # type: ignore[attr-defined]

    if os.path.isfile(root):
        keep(read_run(os.path.dirname(root) or ".", "."))  # type: ignore[arg-type]
        return build(root, rows, skipped, stress)
    stack = [(root, ".")]
    while stack:
        directory, path = stack.pop()
        item = read_run(directory, path)
        if item is not None:
            keep(item)
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
    return replace(build(root, rows, skipped, stress), not_run=_not_run(root, skipped))


MAX_NOT_RUN = 10_000  # entries of a sweep's NOT_RUN that a report reads


def _not_run(root: str, skipped: List[Skipped]) -> Tuple[Tuple[str, str], ...]:
    """The jobs a sweep recorded as not run (app.sweep), as claims: each must say what and why."""
    path = os.path.join(root, NOT_RUN)
    if not os.path.isfile(path):
        return ()
    try:
        entries = load_json_file(path)
    except (OSError, ValueError, BoundError) as error:
        skipped.append(Skipped(NOT_RUN, f"unreadable: {error}"))
        return ()
    found = []
    for entry in entries[:MAX_NOT_RUN] if isinstance(entries, list) else [None]:
        overrides = entry.get("overrides") if isinstance(entry, dict) else None
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if not (isinstance(overrides, list) and all(isinstance(o, str) for o in overrides) and isinstance(reason, str)):
            skipped.append(Skipped(NOT_RUN, "malformed: each entry needs its overrides and a reason"))
            return ()
        found.append((shorten(" ".join(overrides)), shorten(reason, 240)))
    return tuple(found)


def build(root: str, rows: Sequence[Row], skipped: Sequence[Skipped] = (), stress: Sequence[StressJob] = ()) -> Report:
    """Finish a report: swept keys, outcome columns and each lock's cost against its lock=none twin."""
    rows = with_lock_costs(rows)
    seen = {outcome for row in rows for outcome in row.outcomes}
    outcomes = tuple(sorted(seen | set(OUTCOMES), key=_outcome_order))
    return Report(root, tuple(rows), tuple(skipped), swept_keys(rows), outcomes, stress=tuple(stress),
                  stress_keys=swept_keys(stress) if stress else ())


def swept_keys(rows: "Sequence[Union[Row, StressJob]]") -> Tuple[str, ...]:
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


def _varies(rows: "Sequence[Union[Row, StressJob]]", key: str) -> bool:
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
