"""Whether two runs or sweeps gave the same answer, and what differs in the environments they ran in.

``synclab compare A B`` and ``synclab replay`` both come here. Jobs are matched by configuration
(every key but ``repeats``); each pair gets one of three verdicts, earned as verdict.py says, from
the outcomes each side's numbers give (judge.py), never from the labels it stores. Drift and
throughput are shown side by side but do not decide: they move with the machine's load. Every
difference of environment that could explain a change is listed (never hostname, load or paths).
"""

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

from synclab.kernel.env import PACKAGES, interpreter_record
from synclab.records.bounded import load_json_file
from synclab.records.files import ENV, RESULT
from synclab.reports.report import Report, Row, StressJob, collect, flatten, runtime_of, swept_keys
from synclab.reports.stresscompare import StressComparison, compare_stress, stress_config
from synclab.reports.table import format_table, number
from synclab.reports.verdict import ALPHA, Counts, Decision, Verdict, decide, format_p, overall

# Config keys that do not make two jobs different experiments.
UNMATCHED_KEYS = ("repeats", "experiment")
# env.json fields that can change what an experiment measures; packages.* are compared too.
EXPLAINING = (
    "python.version", "python.implementation", "python.free_threaded", "python.gil_enabled",
    "python.compiler", "python.build", "start_method", "switch_interval", "cpu_count", "cpus_usable",
    "cpu_model", "machine", "os.system", "os.release", "os.distribution",
    "git.commit", "git.dirty", "git.diff_sha256",
)


class NotRuns(ValueError):
    """A path that holds no runs to compare."""


_LISTED = 12  # packages on one side only are counted, and this many named


@dataclass(frozen=True)
class Side:
    """One job as compared: its directory as shown, its summary and its environment."""

    label: str
    row: Row
    env: Optional[Mapping[str, Any]]  # None when env.json is missing or unreadable


@dataclass(frozen=True)
class Comparison:
    job: str
    a: Side
    b: Side
    decision: Decision
    env_differences: Tuple[str, ...]

    @property
    def verdict(self) -> Verdict:
        return self.decision.verdict

    @property
    def reasons(self) -> Tuple[str, ...]:
        return self.decision.reasons


def read_env(directory: Path) -> Optional[Dict[str, Any]]:
    try:
        data = load_json_file(directory / ENV)
    except (OSError, ValueError):  # past a bound too (bounded.BoundError): the environment is unknown
        return None
    return data if isinstance(data, dict) else None


def _show(value: Any) -> str:
    """A value as env.json and the config spell it (null, true, false)."""
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def env_differences(a: Optional[Mapping[str, Any]], b: Optional[Mapping[str, Any]],
                    names: Tuple[str, str] = ("A", "B")) -> List[str]:
    """Each field that could explain a change, as ``key: a -> b``; a field one side lacks is skipped.

    Packages installed on one side only are counted and the first few named, on one line.
    """
    if a is None or b is None:
        missing = " and ".join(side for side, env in zip(names, (a, b)) if env is None)
        return [f"{ENV} missing or unreadable for {missing}: environment unknown"]
    flat_a, flat_b = flatten(a), flatten(b)
    found = [f"{key}: {_show(flat_a[key])} -> {_show(flat_b[key])}"
             for key in EXPLAINING if key in flat_a and key in flat_b and flat_a[key] != flat_b[key]]
    packages_a, packages_b = a.get("packages"), b.get("packages")
    if isinstance(packages_a, dict) and isinstance(packages_b, dict):
        every = sorted(set(packages_a) | set(packages_b), key=str.lower)
        for name in every:  # synclab's own dependencies, and any package whose version changed
            if (name in packages_a and name in packages_b or name in PACKAGES) \
                    and packages_a.get(name, "absent") != packages_b.get(name, "absent"):
                found.append(f"packages.{name}: {_show(packages_a.get(name, 'absent'))} -> "
                             f"{_show(packages_b.get(name, 'absent'))}")
        for side, here, there in ((names[0], packages_a, packages_b), (names[1], packages_b, packages_a)):
            only = [name for name in every if name in here and name not in there and name not in PACKAGES]
            if only:
                shown = ", ".join(only[:_LISTED]) + (f" and {len(only) - _LISTED} more" if len(only) > _LISTED else "")
                found.append(f"packages installed in {side} only ({len(only)}): {shown}")
    return found


def _config(row: Row) -> Dict[str, Any]:
    return {key: value for key, value in row.config.items() if key not in UNMATCHED_KEYS}


def config_key(row: Row) -> str:
    return json.dumps(sorted(_config(row).items()), default=str)


def config_differences(a: Row, b: Row) -> List[str]:
    config_a, config_b = _config(a), _config(b)
    return [f"config {key}: {_show(config_a.get(key))} vs {_show(config_b.get(key))}"
            for key in dict.fromkeys([*config_a, *config_b]) if config_a.get(key) != config_b.get(key)]


def runtime(side: Side) -> Optional[Dict[str, Any]]:
    """The interpreter a job ran under: as its result.json records it, else as its env.json does."""
    if side.row.runtime is not None:
        return dict(side.row.runtime)
    env = side.env or {}
    return runtime_of(interpreter_record(env) if isinstance(env.get("python", {}), dict) else {})


def counts(side: Side) -> Counts:
    row = side.row
    return Counts(row.repeats, dict(row.outcomes), tuple(row.forbidden), len(row.inconsistencies), runtime(side))


def compare_sides(job: str, a: Side, b: Side, names: Tuple[str, str] = ("A", "B"),
                  alpha: float = ALPHA) -> Comparison:
    """The verdict on one pair of jobs, with its reasons."""
    decision = decide(counts(a), counts(b), names, alpha, config_differences(a.row, b.row))
    return Comparison(job, a, b, decision, tuple(env_differences(a.env, b.env, names)))


# ---------------------------------------------------------------- reading trees


def side_of(root: Path, row: Row, label_root: str) -> Side:
    directory = root if row.path == "." else root / row.path
    label = label_root if row.path == "." else f"{label_root}/{row.path}"
    return Side(label, row, read_env(directory))


Job = TypeVar("Job", Row, StressJob)


def match(rows_a: Sequence[Job], rows_b: Sequence[Job],
          key: Callable[[Any], str] = config_key) -> Tuple[List[Tuple[Job, Job]], List[Job], List[Job]]:
    """Pairs of jobs with the same configuration (as ``key`` writes it), in A's order; then what is
    left on each side.

    Two lone jobs are paired whatever their configuration: comparing two runs names what differs.
    """
    if len(rows_a) == 1 and len(rows_b) == 1:
        return [(rows_a[0], rows_b[0])], [], []
    waiting: Dict[str, List[Job]] = {}
    for row in rows_b:
        waiting.setdefault(key(row), []).append(row)
    pairs, only_a = [], []
    for row in rows_a:
        candidates = waiting.get(key(row))
        if candidates:
            pairs.append((row, candidates.pop(0)))
        else:
            only_a.append(row)
    only_b = [row for rows in waiting.values() for row in rows]
    return pairs, only_a, only_b


@contextlib.contextmanager
def opened(path: str) -> Iterator[Path]:
    """A directory of runs as it is, or an archive verified and unpacked for the duration."""
    from synclab.records.archive import is_archive, unpacked

    if is_archive(path):
        with unpacked(Path(path)) as root:
            yield root
    elif os.path.isdir(path):
        yield Path(path)
    elif os.path.basename(path) == RESULT and os.path.isfile(path):
        yield Path(path).parent
    else:
        raise NotRuns(f"{path}: not a run, a sweep nor a synclab archive")


# ---------------------------------------------------------------- rendering


def _histogram(row: Row) -> str:
    return ", ".join(f"{outcome} {count}" for outcome, count in row.outcomes.items())


def _forbidden(row: Row) -> str:
    return ", ".join(row.forbidden) or "none"


def _range(row: Row) -> str:
    return "-" if row.drift.min is None else f"{row.drift.min:,d} to {row.drift.max:,d}"


def _rate(row: Row) -> str:
    if row.ops_per_s is None:
        return "-"
    if row.ops_interval is None:
        return f"{row.ops_per_s:,.0f}"
    return f"{row.ops_per_s:,.0f} [{row.ops_interval[0]:,.0f}, {row.ops_interval[1]:,.0f}]"


def format_pair(c: Comparison, names: Tuple[str, str] = ("A", "B")) -> str:
    """One comparison, the two jobs side by side: each outcome's count on both sides with its
    exact test, the forbidden outcomes of each, then the verdict with its reasons and the environment."""
    a, b = c.a.row, c.b.row
    ratio = f"x{b.ops_per_s / a.ops_per_s:.2f}" if a.ops_per_s and b.ops_per_s else ""
    rows = [["", names[0], names[1], ""], ["repeats", str(a.repeats), str(b.repeats), ""]]
    for test in c.decision.tests:
        rows.append([test.outcome, f"{test.count_a}/{a.repeats}", f"{test.count_b}/{b.repeats}",
                     f"p = {format_p(test.p_value)}"])
    rows += [
        ["forbidden", _forbidden(a), _forbidden(b), ""],
        ["drift mean", number(a.drift.mean, ",.1f"), number(b.drift.mean, ",.1f"), ""],
        ["drift min, max", _range(a), _range(b), ""],
        ["ops/s [95% CI]", _rate(a), _rate(b), ratio],
    ]
    lines = [f"{names[0]}: {c.a.label}", f"{names[1]}: {c.b.label}", "",
             format_table(rows[0], rows[1:], left=len(rows[0]), rule=False)]
    lines.append(f"verdict: {c.verdict.value}")
    lines.extend(f"  - {reason}" for reason in c.reasons)
    lines.extend(_env_lines(c.env_differences, c.verdict))
    return "\n".join(lines) + "\n"


def _env_lines(differences: Sequence[str], verdict: Verdict) -> List[str]:
    if not differences:
        return ["environment: no difference that could explain a change"]
    title = {Verdict.DIFFERS: "that could explain it", Verdict.REPRODUCED: "(the outcomes agree despite them)",
             Verdict.INCONCLUSIVE: "(to weigh once the verdict is settled)"}[verdict]
    return [f"environment differences {title}:", *(f"  - {item}" for item in differences)]


def tally(comparisons: Sequence[Union[Comparison, StressComparison]], unmatched: int = 0) -> str:
    """The closing line: how many jobs got each verdict, and the verdict on the whole."""
    whole = overall([c.verdict for c in comparisons], unmatched)
    counted = ", ".join(f"{sum(c.verdict == v for c in comparisons)} {v.value}" for v in Verdict)
    return (f"{len(comparisons)} job{'s' * (len(comparisons) != 1)} compared: {counted}"
            + (f", {unmatched} not compared" if unmatched else "") + f"; verdict: {whole.value}")


def format_sweep(comparisons: Sequence[Comparison], names: Tuple[str, str] = ("A", "B"),
                 unmatched: Sequence[Tuple[str, str]] = ()) -> str:
    """A sweep's comparison: one row per job with both outcome histograms, then each job's reasons
    and the environment differences."""
    keys = swept_keys([c.a.row for c in comparisons]) if comparisons else ()
    headers = ["job", *keys, f"{names[0]} outcomes", f"{names[1]} outcomes", f"forbidden {names[0]}/{names[1]}",
               "smallest p", f"ops/s {names[0]}/{names[1]}", "verdict"]
    cells = []
    for c in comparisons:
        a, b = c.a.row, c.b.row
        p = c.decision.p_value
        cells.append([
            c.job, *(_show(a.config.get(key)) for key in keys), _histogram(a), _histogram(b),
            f"{_forbidden(a)} / {_forbidden(b)}", "-" if p is None else format_p(p),
            f"{number(a.ops_per_s, ',.0f')} / {number(b.ops_per_s, ',.0f')}", c.verdict.value,
        ])
    parts = [format_table(headers, cells, left=1 + len(keys))] if cells else []
    for c in comparisons:
        parts.extend(f"{c.job}: {c.verdict.value}: {reason}" for reason in c.reasons)
    parts.extend(f"{job}: {why}" for job, why in unmatched)
    shared: Dict[str, List[str]] = {}
    for c in comparisons:
        for item in c.env_differences:
            shared.setdefault(item, []).append(c.job)
    if not comparisons and unmatched:  # no environment to weigh: the two hold other experiments
        parts.append(f"nothing in common: no job of {names[0]} has the configuration of a job of {names[1]}")
    elif shared:
        parts.append("environment differences:")
        for item, jobs in shared.items():
            where = "" if len(jobs) == len(comparisons) else f" (jobs {', '.join(jobs)})"
            parts.append(f"  - {item}{where}")
    else:
        parts.append("environment: no difference that could explain a change")
    parts.append(tally(comparisons, len(unmatched)))
    return "\n".join(parts) + "\n"


def _stress_key(job: StressJob) -> str:
    return json.dumps(sorted(stress_config(job).items()), default=str)


def compare_stress_trees(report_a: Report, report_b: Report, root_a: Path, root_b: Path, label_a: str, label_b: str,
                         alpha: float = ALPHA) -> Tuple[List[StressComparison], List[Tuple[str, str]]]:
    """The stress runs of two trees paired by configuration (every key but the time budget; two
    lone runs whatever theirs), each pair compared test by test; then those left unpaired."""
    def directory(root: Path, path: str) -> Path:
        return root if path == "." else root / path

    def shown(label: str, path: str) -> str:
        return label if path == "." else f"{label}/{path}"

    pairs, only_a, only_b = match(report_a.stress, report_b.stress, key=_stress_key)
    comparisons = [
        compare_stress(a.path if a.path == b.path else f"{a.path}~{b.path}", a, b,
                       (shown(label_a, a.path), shown(label_b, b.path)), ("A", "B"), alpha,
                       env_differences(read_env(directory(root_a, a.path)), read_env(directory(root_b, b.path)),
                                       ("A", "B")))
        for a, b in pairs
    ]
    unmatched = [(f"A {job.path}", "no stress run with the same configuration in B") for job in only_a]
    unmatched += [(f"B {job.path}", "no stress run with the same configuration in A") for job in only_b]
    return comparisons, unmatched


def compare_trees(root_a: Path, root_b: Path, label_a: str, label_b: str,
                  alpha: float = ALPHA) -> Tuple[List[Comparison], List[Tuple[str, str]], Report, Report]:
    report_a, report_b = collect(root_a), collect(root_b)
    pairs, only_a, only_b = match(report_a.rows, report_b.rows)
    comparisons = [
        compare_sides(row_a.path if row_a.path == row_b.path else f"{row_a.path}~{row_b.path}",
                      side_of(root_a, row_a, label_a), side_of(root_b, row_b, label_b), alpha=alpha)
        for row_a, row_b in pairs
    ]
    unmatched = [(f"A {row.path}", "no job with the same configuration in B") for row in only_a]
    unmatched += [(f"B {row.path}", "no job with the same configuration in A") for row in only_b]
    unmatched += [(f"A {s.path}", f"skipped: {s.reason}") for s in report_a.skipped]
    unmatched += [(f"B {s.path}", f"skipped: {s.reason}") for s in report_b.skipped]
    return comparisons, unmatched, report_a, report_b
