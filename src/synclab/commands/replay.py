"""``synclab replay PATH``: run a run or a sweep again with exactly the configuration its ``.hydra/``
recorded, into a new timestamped directory that links back to it (``origin.json``), and say
whether it gave the same answer (see compare.py).

PATH may be an archive from someone else, so what it holds is data, never code: of
``.hydra/config.yaml`` (read by a bounded safe loader, bounded.py) only synclab's own settings,
the keys of its schema (config.SynclabConf) type-checked by that schema, are replayed, as one
override each through this checkout's normal composition. Keys under ``hydra``, ``_target_``
anywhere, interpolations and unknown keys are never applied; each is named once on stderr. A
``python`` setting runs only an interpreter this machine's own discovery finds (or one the
user names with ``--python``): nothing the archive names is run to find out what it is. Every
job's configuration is checked before the first one runs; Hydra's own record (``hydra.yaml``,
``overrides.yaml``) is never read. Exit 0 reproduced, 1 differs, 3 inconclusive (verdict.py
says how each is earned), 2 could not replay.
"""

import argparse
import datetime
import hashlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from synclab import __version__
from synclab.reports.compare import (ALPHA, Comparison, Side, compare_sides, env_differences, format_pair, format_sweep,
                                    opened, read_env, side_of, tally)
from synclab.reports.report import Row, Skipped, StressJob, collect, read_run
from synclab.reports.stresscompare import StressComparison, compare_stress, format_stress_pair
from synclab.reports.summary import summarize_sweep
from synclab.records.files import ORIGIN, RESULT, write_json_atomic
from synclab.kernel.spec import MAX_SECONDS, ConfigError
from synclab.records.bounded import MAX_REPEATS, MAX_YAML_BYTES, BoundError, load_yaml, read_capped
from synclab.records.signals import deferred
from synclab.reports.table import shown_path

from synclab.reports.stats import other_side_to_tell
from synclab.reports.verdict import EXIT_CODES, EXIT_HELP, Verdict, overall

EXIT_FAILED = 2
EPILOG = EXIT_HELP.replace("2 usage or configuration error", "2 usage error, or a job could not be replayed")
CONFIG = (".hydra", "config.yaml")
DEFAULT_OUT = Path("outputs") / "replay"
RUN_PY = Path(__file__).resolve().parents[3] / "run.py"
_START_BOUND_S = 120.0  # Hydra's start-up and the run's imports, on a slow machine
_REAP_BOUND_S = 10.0  # a killed process is gone long before this
NAMES = ("origin", "replay")


class ReplayError(ValueError):
    """A job that cannot be replayed; the message is one line saying why."""


@dataclass(frozen=True)
class Job:
    row: "Row | StressJob"  # a balance run, or a stress run (its tests compared one by one)
    directory: Path
    overrides: Tuple[str, ...]
    bound_s: float


@dataclass(frozen=True)
class Recorded:
    """What replay takes from a job's recorded configuration, and what it leaves out."""

    settings: Dict[str, Any]  # synclab's settings only, nested as in config.yaml, type-checked
    ignored: Tuple[Tuple[str, str], ...]  # (key, why) for each recorded thing never applied


# ---------------------------------------------------------------- reading a recorded configuration


_NOT_APPLIED = {
    "hydra": "Hydra's settings come from this checkout's conf/, never from a recorded run",
    "code": "a reference to code; synclab never imports what a recorded run names",
    "interpolation": "an interpolation, which can call resolvers; this checkout's default is used instead "
                     "(--allow-external-code applies it)",
    "unknown": "not a synclab setting",
}
_SHOWN = 200  # characters of a recorded key or value shown in a message


def _short(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= _SHOWN else f"{shown[:_SHOWN - 3]}..."


def _key(key: Any) -> str:
    """A recorded key as a message shows it: plain when it is a short printable name."""
    text = str(key)
    return text if len(text) <= _SHOWN and text.isprintable() else _short(text)


def read_config(path: Path, shown: str) -> Any:
    """A recorded configuration, read within synclab's bounds by the safe loader (no Python tags)."""
    import yaml  # installed with omegaconf

    try:
        return load_yaml(read_capped(path, MAX_YAML_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise ReplayError(f"{shown}: missing; nothing records the run's configuration") from None
    except BoundError as error:
        raise ReplayError(f"{shown} {error}; refused") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReplayError(f"{shown}: unreadable ({getattr(error, 'strerror', None) or error})") from None
    except (yaml.YAMLError, ValueError) as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ReplayError(f"{shown}: not plain YAML ({problem}); refused") from None


def _schema() -> Dict[str, Tuple[str, ...]]:
    """synclab's settings: each top-level key of config.SynclabConf, with the keys of its group if it is one."""
    from synclab.app.config import SynclabConf

    return {f.name: tuple(g.name for g in fields(f.type)) if is_dataclass(f.type) else ()
            for f in fields(SynclabConf)}


def select(config: Mapping[Any, Any], allow_external_code: bool = False) -> Recorded:
    """synclab's own settings of a recorded configuration, and each other thing in it with why it is left out.

    Only the schema's keys are kept; ``hydra``, ``_target_``, unknown keys and (unless
    allow_external_code) interpolations never reach Hydra. The values are type-checked later,
    when the job is composed (check_jobs).
    """
    schema = _schema()
    settings: Dict[str, Any] = {}
    ignored: List[Tuple[str, str]] = []

    def keep(key: str, known: bool, value: Any) -> bool:
        why = ("code" if key.rpartition(".")[2] == "_target_" else "unknown" if not known
               else "interpolation" if isinstance(value, str) and "${" in value and not allow_external_code else None)
        if why == "interpolation":
            ignored.append((f"{key} = {_short(value)}", _NOT_APPLIED[why]))
        elif why is not None:
            ignored.append((key, _NOT_APPLIED[why]))
        return why is None

    for key, value in config.items():
        name = _key(key)
        if name == "hydra":
            ignored.append((name, _NOT_APPLIED["hydra"]))
        elif schema.get(name) and isinstance(value, dict):  # a group: primitive, lock, grades
            settings[name] = {_key(sub): item for sub, item in value.items()
                              if keep(f"{name}.{_key(sub)}", _key(sub) in schema[name], item)}
        elif keep(name, name in schema, value):
            settings[name] = value
    return Recorded(settings, tuple(ignored))


def check_python(value: Any, shown: str) -> None:
    """A recorded ``python`` names a version (found by discovery when the job runs) or an interpreter
    this machine's own discovery lists; anything else is refused. Paths are only compared, never
    run: nothing a recorded run names is executed to find out what it is."""
    from synclab.kernel.interpreters import EXTRA, VERSION, candidates

    if value is None:
        return
    text = str(value).strip()
    if VERSION.fullmatch(text):
        return
    if os.sep in text or text.startswith("."):
        known = {os.path.realpath(path) for path in (sys.executable, *candidates())}
        if os.path.realpath(text) in known:
            return
    raise ReplayError(f"{shown}: python = {_short(value)} is not an interpreter synclab finds on this machine "
                      f"(synclab interpreters lists them; {EXTRA} adds one); refused without running it: "
                      "--python names one of yours to replay under")


def load_config(directory: Path, label: str, allow_external_code: bool = False,
                python: Optional[str] = None) -> Recorded:
    """The job's recorded settings as replay applies them: bounded, safe, synclab's keys only, and a
    ``python`` that is one of this machine's interpreters (or ``python``, the user's choice, instead)."""
    shown = f"{label}/{'/'.join(CONFIG)}"
    config = read_config(directory.joinpath(*CONFIG), shown)
    if not isinstance(config, dict):
        raise ReplayError(f"{shown}: not a mapping of settings")
    recorded = select(config, allow_external_code)
    if python is not None:
        return Recorded({**recorded.settings, "python": python}, recorded.ignored)
    if not allow_external_code:
        check_python(recorded.settings.get("python"), shown)
    return recorded


def _value(key: str, value: Any, interpolation: bool = False) -> str:
    """A recorded value as Hydra's override grammar reads it back unchanged (an interpolation,
    when allowed, stays one)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if "'" in value or "\\" in value or ("${" in value and not interpolation):
            raise ReplayError(f"{key}: {_short(value)} holds a quote, backslash or interpolation; "
                              "cannot be replayed exactly")
        return f"'{value}'"  # quoted: '3.10' stays a string
    raise ReplayError(f"{key}: {_short(value)} is a {type(value).__name__}; synclab settings are plain values")


def overrides_for(config: Dict[str, Any], repeats: Optional[int] = None, prefix: str = "",
                  interpolations: bool = False) -> List[str]:
    """One override per recorded setting, so the replay does not depend on today's defaults or presets."""
    items: List[str] = []
    for key, value in config.items():
        if isinstance(value, dict) and not prefix:
            items.extend(overrides_for(value, None, f"{key}.", interpolations))
        elif not prefix and key == "repeats" and repeats is not None:
            items.append(f"repeats={repeats}")
        else:
            items.append(f"{prefix}{key}={_value(prefix + str(key), value, interpolations)}")
    return items


# A stress target names code to import: replay imports synclab's own tests, and others only when asked.
OWN_TARGETS = "synclab."


def _own_target(target: str) -> bool:
    """A dotted name of synclab's own module (``:Class`` allowed) that no path can stand in for: the
    loader takes a name ending in ``.py``, or one a file or directory here bears, as that path."""
    where, sep, name = target.rpartition(":")
    if not sep:
        where = target
    elif not name.isidentifier():
        return False
    return (where.startswith(OWN_TARGETS) and all(part.isidentifier() for part in where.split("."))
            and not where.endswith(".py") and not os.path.lexists(where))


def check_target(settings: Mapping[str, Any], shown: str) -> None:
    """A recorded ``stress.target`` is replayed when it names one of synclab's own test modules;
    any other names code that replay would import, which a record from someone else must not make it do."""
    stress = settings.get("stress")
    target = stress.get("target") if isinstance(stress, dict) else None
    if target is None or (isinstance(target, str) and _own_target(target)):
        return
    raise ReplayError(f"{shown}: stress.target = {_short(target)} names code to import; replay imports only "
                      f"synclab's own tests from a record, by module name ({OWN_TARGETS}MODULE[:Class], never a file "
                      "or directory): --allow-external-code replays your own runs' tests")


def plan(args: argparse.Namespace, root: Path, rows: Sequence[Union[Row, StressJob]], label: str) -> List[Job]:
    """Every job's replay, each checked before any runs; what the records hold that is not applied
    is named once on stderr, one line per key."""
    jobs: List[Job] = []
    records: List[str] = []  # each job's config.yaml, as messages name it
    ignored: Dict[Tuple[str, str], List[str]] = {}
    for row in rows:  # every record read first: a hostile one is refused before Hydra is even imported
        directory = root if row.path == "." else root / row.path
        shown = label if row.path == "." else f"{label}/{row.path}"
        recorded = load_config(directory, shown, args.allow_external_code, args.python)
        if not args.allow_external_code:
            check_target(recorded.settings, f"{shown}/{'/'.join(CONFIG)}")
        overrides = overrides_for(recorded.settings, args.repeats, interpolations=args.allow_external_code)
        records.append(f"{shown}/{'/'.join(CONFIG)}")
        for item in recorded.ignored:
            ignored.setdefault(item, []).append(records[-1])
        bound = _stress_bound(recorded.settings, len(row.tests)) if isinstance(row, StressJob) \
            else _bound(recorded.settings, args.repeats)
        jobs.append(Job(row, directory, tuple(overrides), bound))
    from synclab.app.config import composing  # Hydra only once every record has been read

    with composing(RUN_PY.parent / "conf") as compose:
        for job, record in zip(jobs, records):
            try:
                compose(job.overrides)
            except ConfigError as error:
                raise ReplayError(f"{record}: {error}") from None
    for (key, why), where in ignored.items():
        more = f" (and {len(where) - 1} more job{'s' * (len(where) > 2)})" if len(where) > 1 else ""
        sys.stderr.write(f"synclab replay: not applied: {key} in {where[0]}{more}: {why}\n")
    return jobs


def _bound(config: Dict[str, Any], repeats: Optional[int]) -> float:
    """How long the replay of one job may take: what its repeats may take, never past a week
    (a wait the platform's timers accept, whatever the recorded numbers say)."""
    count = repeats or config.get("repeats")
    timeout = config.get("timeout_s")
    if not isinstance(count, int) or not isinstance(timeout, (int, float)):
        return _START_BOUND_S + 3600.0
    return min(_START_BOUND_S + count * (float(timeout) + 5.0), MAX_SECONDS)


def _stress_bound(config: Dict[str, Any], tests: int) -> float:
    """How long the replay of a stress run may take: each test's budget and at most one stride past it."""
    from synclab.kernel.stress.engine import STRIDE_TIMEOUT_S

    stress = config.get("stress") if isinstance(config.get("stress"), dict) else {}
    budget = stress.get("time_budget_s")
    budget = float(budget) if isinstance(budget, (int, float)) else 3600.0
    return min(_START_BOUND_S + max(tests, 1) * (budget + STRIDE_TIMEOUT_S), MAX_SECONDS)


# ---------------------------------------------------------------- running again


def new_directory(out: Path) -> Path:
    """A fresh timestamped directory under out (microseconds, and never one that exists)."""
    while True:
        now = datetime.datetime.now()
        target = out / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S-%f")
        if not target.exists():
            return target


def run_again(job: Job, target: Path) -> None:
    """`python run.py` with the recorded settings into target; ReplayError with its last words if it fails."""
    if not RUN_PY.is_file():
        raise ReplayError(f"{RUN_PY} not found: replay needs synclab's checkout (run.py and conf/)")
    command = [sys.executable, str(RUN_PY), *job.overrides, f"hydra.run.dir='{target}'"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc: "Optional[subprocess.Popen[str]]" = None
    try:
        with deferred():  # never a run started that nothing is left to stop
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                    start_new_session=True)  # its own group: a stuck run is stopped with its workers
        _, stderr = proc.communicate(timeout=job.bound_s)
    except subprocess.TimeoutExpired:
        _stop(proc)  # type: ignore[arg-type]
        raise ReplayError(f"the replay did not finish within {job.bound_s:.0f} s; stopped") from None
    except BaseException:  # Ctrl-C reaches only our group: take the run and its workers down with us
        if proc is not None:
            _stop(proc)
        raise
    if proc.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        raise ReplayError(lines[-1] if lines else f"run.py exited with status {proc.returncode}")


def _stop(proc: "subprocess.Popen[str]") -> None:
    """Kill the run's whole process group and reap it; never wait on pipes a straggler may hold."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=_REAP_BOUND_S)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _sha256(path: Path) -> Optional[str]:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def origin_record(source: str, root: Path, job: Job, repeats: Optional[int]) -> Dict[str, Any]:
    """What origin.json says: where the replayed run came from and how it was run again."""
    is_archive = os.path.isfile(source)
    where = os.path.abspath(source)
    member = root.name if job.row.path == "." else f"{root.name}/{job.row.path}"
    return {
        "origin": where if is_archive or job.row.path == "." else os.path.join(where, job.row.path),
        "archive": {"sha256": _sha256(Path(source)), "member": member} if is_archive else None,
        "origin_result_sha256": _sha256(job.directory / RESULT),
        "repeats": repeats,
        "overrides": list(job.overrides),
        "synclab_version": __version__,
        "replayed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _replay_row(target: Path, label: str, kind: type = Row) -> Any:
    """The replay's own record, of the kind its origin was (a balance row or a stress job)."""
    found = read_run(str(target), label)
    if not isinstance(found, kind):
        wrong = ": not a balance run" if kind is Row else ": not a stress run"
        raise ReplayError(f"the replay left no usable {RESULT}" + (f": {found.reason}" if isinstance(found, Skipped)
                                                                else wrong if found else ""))
    return found


# ---------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a run, a sweep, or a synclab archive of one")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="replay with N repeats instead of the recorded number (an inconclusive verdict "
                             "says about how many would settle it); not for stress runs, which take samples "
                             "for their time budget")
    parser.add_argument("--out", metavar="DIR", default=str(DEFAULT_OUT),
                        help=f"where the replay's timestamped directory goes (default {DEFAULT_OUT})")
    parser.add_argument("--alpha", type=float, default=ALPHA,
                        help=f"significance level of the exact test on each outcome's rate (default {ALPHA}; "
                             "divided by the number of outcomes when more than two are seen)")
    parser.add_argument("--python", metavar="X",
                        help="replay every job under interpreter X (a version such as 3.12, or a path: yours, "
                             "trusted) instead of the recorded one")
    parser.add_argument("--allow-external-code", action="store_true",
                        help="for your own archives only: also apply recorded ${...} interpolations (resolvers "
                             "included), run a recorded python= path that this machine's discovery does "
                             "not find and import a recorded stress.target other than synclab's own tests. "
                             "Keys under hydra, _target_ and keys that are not synclab settings "
                             "are never applied, even so")


def _fail(message: str) -> int:
    sys.stderr.write(f"synclab replay: {message}\n")
    return EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    from synclab.records.archive import ArchiveError
    from synclab.reports.compare import NotRuns

    if args.repeats is not None and not 1 <= args.repeats <= MAX_REPEATS:
        return _fail(f"--repeats: must be between 1 and {MAX_REPEATS:,} (synclab's bound per job), got {args.repeats}")
    if not 0 < args.alpha < 1:
        return _fail(f"--alpha: must be between 0 and 1, got {args.alpha}")
    out = Path(args.out).resolve()
    if out.exists() and not out.is_dir():
        return _fail(f"--out: {args.out} exists and is not a directory")
    try:
        with opened(args.path) as root:
            return _replay_tree(args, root, out)
    except (ArchiveError, NotRuns, ReplayError) as error:
        return _fail(str(error))


def _replay_tree(args: argparse.Namespace, root: Path, out: Path) -> int:
    report = collect(root)
    if report.empty:
        raise ReplayError(f"{args.path}: no synclab runs found (no {RESULT} anywhere below it)")
    if report.stress and args.repeats is not None:  # refused before anything runs
        first = report.stress[0].path
        held = "a stress run, which takes" if first == "." else f"stress runs (job {first}), which take"
        raise ReplayError(f"--repeats: {args.path} holds {held} samples for a time budget, not repeats; "
                          "replay without --repeats")
    label = args.path.rstrip("/")
    origins: List[Union[Row, StressJob]] = [*report.rows, *report.stress]
    origins.sort(key=lambda job: _job_order(job.path))
    jobs = plan(args, root, origins, label)  # every configuration is checked before anything runs
    single = len(jobs) == 1 and jobs[0].row.path == "." and not report.skipped
    base = new_directory(out)
    failures: List[Tuple[str, str]] = [(s.path, f"could not replay: {s.reason}") for s in report.skipped]
    comparisons: List[Comparison] = []
    stress: List[StressComparison] = []
    for index, job in enumerate(jobs, 1):
        target = base if single else base / job.row.path
        what = label if single else job.row.path
        sys.stderr.write(f"replaying {what} ({index}/{len(jobs)}) -> {shown_path(target)}\n")
        try:
            run_again(job, target)
            replayed = _replay_row(target, job.row.path, type(job.row))
        except ReplayError as error:
            if single:
                raise ReplayError(f"could not replay {label}: {error}") from None
            failures.append((job.row.path, f"could not replay: {error}"))
            continue
        finally:
            _write_origin(target, origin_record(args.path, root, job, args.repeats))
        origin = side_of(root, job.row, label) if isinstance(job.row, Row) else None
        if origin is None:
            shown = label if job.row.path == "." else f"{label}/{job.row.path}"
            stress.append(compare_stress(job.row.path, job.row, replayed, (shown, shown_path(target)), NAMES,
                                         args.alpha, env_differences(read_env(job.directory), read_env(target), NAMES)))
        else:
            comparisons.append(compare_sides(job.row.path, origin, Side(shown_path(target), replayed, read_env(target)),
                                             NAMES, args.alpha))
    hints = [hint for c in comparisons for hint in _repeats_hint(c, label if single else f"{label}/{c.job}")]
    everything: List[Any] = [*comparisons, *stress]
    if single:
        sys.stdout.write(format_pair(comparisons[0], NAMES) if comparisons else format_stress_pair(stress[0], NAMES))
        sys.stdout.write("".join(f"{hint}\n" for hint in hints))
        sys.stdout.write(tally(everything) + "\n")
    else:
        if base.is_dir():
            write_json_atomic(base / ORIGIN, {"origin": os.path.abspath(args.path),
                                              "jobs": [job.row.path for job in jobs], "repeats": args.repeats})
            summarize_sweep(base, table=False)  # its summary files and plots, as a sweep's end writes them
        if comparisons or not stress:
            text = format_sweep(comparisons, NAMES, failures)
            sys.stdout.write(text.rsplit("\n", 2)[0] + "\n" if stress else text)  # one tally, for every job
        for c in stress:
            sys.stdout.write(f"\njob {c.job}:\n" + format_stress_pair(c, NAMES))
        if stress:
            if not comparisons:
                sys.stdout.write("".join(f"{job}: {why}\n" for job, why in failures))
            sys.stdout.write(tally(everything, len(failures)) + "\n")
        sys.stdout.write("".join(f"{hint}\n" for hint in hints))
        sys.stdout.write(f"replay: {shown_path(base)}\n")
    if failures:
        return EXIT_FAILED
    return EXIT_CODES[overall([c.verdict for c in everything])]


def _job_order(path: str) -> Tuple[Any, ...]:
    """Jobs in the order a sweep numbered them (1 before 10), other paths after, by name."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in Path(path).parts)


def _repeats_hint(comparison: Comparison, path: str) -> List[str]:
    """For an inconclusive job, what the replay's own side can do: how many replay repeats would
    tell the origin's count from never, or that none would."""
    if comparison.verdict is not Verdict.INCONCLUSIVE:
        return []
    origin = comparison.a.row
    hints = []
    for test in comparison.decision.tests:
        if test.telling or not test.count_a or test.count_a / origin.repeats < test.rate:
            continue  # the origin's side is not the one that showed it
        needed = other_side_to_tell(test.count_a, origin.repeats, comparison.decision.alpha)
        seen = f"the origin's {test.count_a}/{origin.repeats} {test.outcome}"
        if needed is None:
            hints.append(f"hint: no number of replay repeats can tell {seen} from never; run the experiment "
                         "again with more repeats and compare the two")
        else:
            hints.append(f"hint: `synclab replay {path} --repeats {needed}` gives the replay side enough repeats "
                         f"to tell {seen} from never")
    return hints[:1] if len(comparison.decision.tests) == 2 else hints


def _write_origin(target: Path, record: Dict[str, Any]) -> None:
    """Link a replay to its origin, even when it failed, as long as it left a directory."""
    if target.is_dir() and not (target / ORIGIN).exists():
        write_json_atomic(target / ORIGIN, record)
