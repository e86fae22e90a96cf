"""Summaries of runs on disk: one row per job, for any tree of single runs and sweeps.

``synclab report PATH`` and the end-of-sweep callback both come here. Reading never fails on
what it finds: a result.json that is empty, cut short, not JSON, of another schema or malformed,
and a job directory without one, are each listed as skipped with the reason, and the rest is
reported. A job costs one small read (its result.json records its overrides; an older one
also has .hydra/overrides.yaml read), and only directories that are not runs are listed, so
ten thousand runs take about a second. Nothing here imports the runner or Hydra.
"""

import argparse
import csv
import io
import json
import os
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .outcome import GRADES, OUTCOMES, grade_table
from .results import RESULT, write_text_atomic
from .stats import BASELINE_IGNORED, DriftStats, baseline_key, drift_stats, lock_cost, median, wilson

INTERRUPTED = "interrupted.json"
OVERRIDES = (".hydra", "overrides.yaml")
SCHEMA_VERSIONS = (1,)
SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
FORMATS = ("table", "csv", "md", "json")
EXIT_FORBIDDEN = 1
EXIT_USAGE = 2
# Outcomes whose balance means something: drift is read over these repeats only.
_DRIFT_OUTCOMES = ("consistent", "lost_updates")


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
    ops_per_s: Optional[float]  # median over the repeats
    forbidden: Tuple[str, ...]
    lock_cost: Optional[float] = None
    co_jobs: Optional[int] = None  # other synclab jobs seen running on the same host (None: not recorded)
    host_load: Optional[float] = None  # the host's 1-minute load average at the job's end

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


class Unusable(ValueError):
    """A result that cannot be reported; the message is the reason shown under 'skipped'."""


# ---------------------------------------------------------------- reading


def _natural(name: str) -> Tuple:
    """Sort job 10 after job 9."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _missing_reason(entries: Mapping[str, Any]) -> str:
    if INTERRUPTED in entries:
        return f"no {RESULT}: the job was interrupted (see {INTERRUPTED}); `synclab resume` reruns it"
    if any(name.startswith(f".{RESULT}.") and name.endswith(".tmp") for name in entries):
        return f"no {RESULT}: the job stopped while writing it (a temporary file is left)"
    if "run.log" in entries:
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
        loaded = yaml.safe_load(text)
    except yaml.YAMLError:
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


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    if not prefix and not any(type(value) is dict or type(value) is list for value in data.values()):
        return dict(data)  # the usual case: nothing nested
    flat: Dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            flat[f"{prefix}{key}"] = json.dumps(value)
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_ORDER = {outcome: index for index, outcome in enumerate(OUTCOMES)}


def _outcome_order(outcome: str) -> Tuple[int, str]:
    """Known outcomes in their classification order, any other after them by name."""
    return _ORDER.get(outcome, len(_ORDER)), outcome


def _malformed(where: str, value: Any, wanted: str) -> Unusable:
    return Unusable(f"malformed {RESULT}: {where} is {value!r}, not {wanted}")


def row_from_result(data: Any, path: str = ".", overrides: Optional[Sequence[str]] = None) -> Row:
    """Summarize one job's result.json (already parsed); raise Unusable with the reason if it cannot be.

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
    config, runs = data.get("config"), data.get("runs")
    if not isinstance(config, dict):
        raise Unusable(f"malformed {RESULT}: no config object")
    if not isinstance(runs, list):
        raise Unusable(f"malformed {RESULT}: no runs list")
    if not runs:
        raise Unusable(f"{RESULT} records no repeats")
    grading = data.get("grading")
    if not isinstance(grading, dict):  # results written before grading existed
        lock, custom = config.get("lock"), config.get("grades")
        grading = grade_table(lock, custom if isinstance(custom, dict) else None) if isinstance(lock, str) else {}

    outcomes: Dict[str, int] = {}
    outcome_grades: Dict[str, str] = {}
    forbidden = set()
    drifts: List[int] = []
    rates: List[float] = []
    for index, run in enumerate(runs):
        outcome = run.get("outcome") if type(run) is dict else None
        if type(outcome) is not str:
            raise Unusable(f"malformed {RESULT}: runs[{index}] has no outcome")
        # An outcome nobody graded is treated as forbidden: a guard must not pass what it cannot judge.
        grade = run.get("grade") or grading.get(outcome) or "forbidden"
        if grade not in GRADES:
            raise _malformed(f"runs[{index}].grade", grade, f"one of {', '.join(GRADES)}")
        if outcome in outcomes:
            outcomes[outcome] += 1
        else:
            outcomes[outcome] = 1
            outcome_grades[outcome] = grade
        if grade == "forbidden":
            forbidden.add(outcome)
        drift = run.get("drift")
        if drift is not None and outcome in _DRIFT_OUTCOMES:
            if type(drift) is not int:
                raise _malformed(f"runs[{index}].drift", drift, "an integer")
            drifts.append(drift)
        rate = run.get("ops_per_s")
        if rate is not None:
            if type(rate) is not float and type(rate) is not int:
                raise _malformed(f"runs[{index}].ops_per_s", rate, "a number")
            rates.append(rate)

    recorded = data.get("overrides")
    pairs = override_pairs(recorded if isinstance(recorded, list) else overrides or ())
    flat = _flatten(config)
    if "experiment" in pairs:
        flat = {"experiment": pairs["experiment"], **flat}
    named = tuple(dict.fromkeys(key if key in flat else key.split(".", 1)[0] for key in pairs))
    for outcome in forbidden:  # one forbidden repeat makes the outcome forbidden for the job
        outcome_grades[outcome] = "forbidden"
    repeats = len(runs)
    anomalies = repeats - outcomes.get("consistent", 0)
    host = data.get("host")
    co_jobs = host.get("co_jobs") if isinstance(host, dict) else None
    load = host.get("load_end") if isinstance(host, dict) else None
    return Row(
        path=path,
        config=flat,
        overrides=named,
        repeats=repeats,
        outcomes=outcomes,
        outcome_grades=outcome_grades,
        anomalies=anomalies,
        anomaly_ci=wilson(anomalies, repeats),
        drift=drift_stats(drifts),
        drifts=tuple(drifts),
        ops_per_s=median(rates),
        forbidden=tuple(sorted(forbidden, key=_outcome_order)) if forbidden else (),
        co_jobs=co_jobs if type(co_jobs) is int else None,
        host_load=load if type(load) in (int, float) else None,
    )


def read_run(directory: str, path: str) -> Union[Row, Skipped, None]:
    """One directory as a run: a row, the reason it is skipped, or None when it holds no result.json."""
    try:
        with open(f"{directory}/{RESULT}", "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        return Skipped(path, f"{RESULT} is not a file")
    except OSError as error:
        return Skipped(path, f"{RESULT} unreadable: {error.strerror or error}")
    if not raw.strip():
        return Skipped(path, f"{RESULT} is empty")
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        return Skipped(path, f"{RESULT} is not text (not JSON)")
    except ValueError as error:
        text = raw.strip()
        what = "cut short (half-written)" if text[:1] == b"{" and text[-1:] != b"}" else "not valid JSON"
        return Skipped(path, f"{RESULT} is {what}: {error}")
    overrides: List[str] = []
    if not (isinstance(data, dict) and isinstance(data.get("overrides"), list)):
        try:  # results that do not record their overrides: read what Hydra kept
            with open(os.path.join(directory, *OVERRIDES), encoding="utf-8") as handle:
                overrides = parse_overrides(handle.read())
        except (OSError, UnicodeDecodeError):
            pass
    try:
        return row_from_result(data, path, overrides)
    except Unusable as error:
        return Skipped(path, str(error))


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
        if ".hydra" in entries or "run.log" in entries or INTERRUPTED in entries:
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


def with_lock_costs(rows: Sequence[Row]) -> List[Row]:
    """Set each row's lock cost: its ops/s against the lock=none job identical in everything else."""
    ignored = BASELINE_IGNORED + ("experiment",)
    keys = [baseline_key(row.config, ignored) for row in rows]
    baselines: Dict[Tuple, List[float]] = {}
    locked = set()
    for key, row in zip(keys, rows):
        if row.config.get("lock") == "none":
            if row.ops_per_s is not None:
                baselines.setdefault(key, []).append(row.ops_per_s)
        else:
            locked.add(key)
    medians = {key: median(rates) for key, rates in baselines.items()}
    out = []
    for key, row in zip(keys, rows):
        base = medians.get(key)
        if row.config.get("lock") == "none":
            cost = 1.0 if key in locked and row.ops_per_s is not None else None
        else:
            cost = lock_cost(row.ops_per_s, base)
        out.append(replace(row, lock_cost=cost) if cost is not None else row)
    return out


# ---------------------------------------------------------------- rendering


def _round(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def record(row: Row, keys: Sequence[str], outcomes: Sequence[str]) -> Dict[str, Any]:
    """One row as flat, typed fields: the CSV and JSON formats share this."""
    low, high = row.anomaly_ci or (None, None)
    rec: Dict[str, Any] = {"job": row.path}
    rec.update({key: row.config.get(key) for key in keys})
    rec["repeats"] = row.repeats
    rec.update({outcome: row.outcomes.get(outcome, 0) for outcome in outcomes})
    rec.update(
        anomalies=row.anomalies,
        anomaly_rate=_round(row.anomaly_rate, 4),
        anomaly_ci_low=_round(low, 4),
        anomaly_ci_high=_round(high, 4),
        drift_mean=_round(row.drift.mean, 3),
        drift_stdev=_round(row.drift.stdev, 3),
        drift_min=row.drift.min,
        drift_max=row.drift.max,
        ops_per_s_median=_round(row.ops_per_s, 1),
        lock_cost=_round(row.lock_cost, 3),
        forbidden=list(row.forbidden),
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
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }
    return json.dumps(data, indent=2) + "\n"


def _fmt(value: Optional[float], spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _display(report: Report, mark: str) -> Tuple[List[str], List[List[str]]]:
    """Headers and cells for the readable formats; mark wraps a forbidden cell."""
    shown = [o for o in report.outcomes if any(row.outcomes.get(o) for row in report.rows)] or ["consistent"]
    headers = ["job", *report.keys, "repeats", *shown, "anomaly [95% CI]", "drift mean", "drift sd",
               "drift min", "drift max", "ops/s", "lock cost", "forbidden"]
    co_run = any(row.co_run for row in report.rows)
    if co_run:  # shown only when some job shared its host with others
        headers.insert(-1, "co-run")
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
            _fmt(row.drift.mean, ",.1f"),
            _fmt(row.drift.stdev, ",.1f"),
            _fmt(row.drift.min, ",d"),
            _fmt(row.drift.max, ",d"),
            _fmt(row.ops_per_s, ",.0f"),
            "-" if row.lock_cost is None else f"{row.lock_cost:.2f}x",
            *([_co_run_cell(row)] if co_run else []),
            forbidden,
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
    co_run = sum(1 for row in report.rows if row.co_run)
    if co_run:
        text += f", {co_run} ran beside other jobs on their host"
    if report.skipped:
        text += f", {len(report.skipped)} skipped"
    return text


def _align(headers: Sequence[str], cells: Sequence[Sequence[str]], left: int) -> str:
    """A plain-text table: the first ``left`` columns (job and keys) flush left, numbers flush right."""
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) if i < left else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in cells)])


def to_table(report: Report) -> str:
    parts = []
    if report.rows:
        headers, cells = _display(report, "{}")
        parts.append(_align(headers, cells, 1 + len(report.keys)))
    parts.append(_footer(report))
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
            "drift: after - expected, over repeats whose work all landed. ops/s: median over repeats. "
            "lock cost: ops/s of the otherwise identical `lock=none` job(s) (their median) divided by this job's. "
            "**FORBIDDEN** rows show an outcome the experiment's grading forbids."
            + (" co-run: the job ran beside other synclab jobs on its host, which competed for its cores."
               if any(row.co_run for row in report.rows) else ""),
        ]
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


# ---------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a run, a sweep, any directory tree of them, or a synclab archive")
    parser.add_argument("--format", choices=FORMATS, default="table", help="what to print (default: table)")
    parser.add_argument("--out", metavar="DIR", help="also write summary.csv, summary.md and plots into DIR")
    parser.add_argument("--no-plots", action="store_true", help="with --out, write the summaries only")
    parser.add_argument("--check", action="store_true", help=f"exit {EXIT_FORBIDDEN} when any forbidden outcome appears or any run cannot be read")


def _fail(message: str) -> int:
    sys.stderr.write(f"synclab report: {message}\n")
    return EXIT_USAGE


def run(args: argparse.Namespace) -> int:
    path = args.path
    if not os.path.exists(path):
        return _fail(f"{path}: no such file or directory")
    if os.path.isfile(path) and os.path.basename(path) != RESULT:
        from .archive import ArchiveError, is_archive, unpacked  # an archive is verified, then unpacked

        if not is_archive(path):
            return _fail(f"{path}: not a directory of runs, a {RESULT} nor a synclab archive")
        try:
            with unpacked(Path(path)) as root:
                return run(argparse.Namespace(**{**vars(args), "path": str(root)}))
        except ArchiveError as error:
            return _fail(str(error))
    if args.out is not None and os.path.exists(args.out) and not os.path.isdir(args.out):
        return _fail(f"--out: {args.out} exists and is not a directory")
    report = collect(path)
    if not report.rows and not report.skipped:
        return _fail(f"{path}: no synclab runs found (no {RESULT} anywhere below it)")
    try:
        sys.stdout.write(render(report, args.format))
        sys.stdout.flush()
    except BrokenPipeError:  # `synclab report ... | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
    if args.format == "csv" and report.skipped:
        for s in report.skipped:
            sys.stderr.write(f"skipped {s.path}: {s.reason}\n")
    if args.out is not None:
        try:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            write_summary(report, out)
            if not args.no_plots:
                from .plots import draw_all

                draw_all(report, out)
        except OSError as error:
            return _fail(f"--out: cannot write into {args.out}: {error.strerror or error}")
    if args.check:
        return _check(report)
    return 0


def _check(report: Report) -> int:
    """--check: fail on a forbidden outcome, and on runs that could not be read, which cannot be vouched for."""
    if report.forbidden_rows:
        names = sorted({o for row in report.forbidden_rows for o in row.forbidden})
        sys.stderr.write(
            f"synclab report: forbidden outcomes ({', '.join(names)}) in {len(report.forbidden_rows)} job(s)\n"
        )
        return EXIT_FORBIDDEN
    if report.skipped:
        sys.stderr.write(
            f"synclab report: {len(report.skipped)} run(s) could not be read (see skipped); cannot vouch for them\n"
        )
        return EXIT_FORBIDDEN
    return 0
