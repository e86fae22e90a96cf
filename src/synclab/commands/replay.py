"""``synclab replay PATH``: run a run or a sweep again with exactly the configuration its ``.hydra/``
recorded, into a new timestamped directory that links back to it (``origin.json``), and say
whether it gave the same answer (see compare.py).

PATH may be an archive from someone else, so nothing it holds is trusted: the configuration
is read with ``yaml.safe_load`` (no Python tags), a ``_target_`` outside synclab or an
interpolation is refused unless ``--allow-external-code``, and every job's configuration is
checked before the first one runs. Only ``config.yaml`` is replayed, as one override per
setting; Hydra's own record (``hydra.yaml``) is never loaded: the replay runs under this
checkout's Hydra settings. Exit 0 reproduced, 1 differs, 3 inconclusive (verdict.py says how
each is earned), 2 could not replay.
"""

import argparse
import datetime
import hashlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from synclab import __version__
from synclab.reports.compare import (ALPHA, Comparison, Side, compare_sides, format_pair, format_sweep, opened, read_env, side_of,
                      tally)
from synclab.reports.report import RESULT, Row, collect, read_run, write_summary
from synclab.kernel.results import write_json_atomic
from synclab.reports.table import shown_path

from synclab.reports.stats import other_side_to_tell
from synclab.reports.verdict import EXIT_CODES, EXIT_HELP, Verdict, overall

EXIT_FAILED = 2
EPILOG = EXIT_HELP.replace("2 usage or configuration error", "2 usage error, or a job could not be replayed")
ORIGIN = "origin.json"
CONFIG = (".hydra", "config.yaml")
OVERRIDES = (".hydra", "overrides.yaml")
DEFAULT_OUT = Path("outputs") / "replay"
CODE_PREFIX = "synclab."  # the only code an archived configuration may name
RUN_PY = Path(__file__).resolve().parents[3] / "run.py"
_START_BOUND_S = 120.0  # Hydra's start-up and the run's imports, on a slow machine
_REAP_BOUND_S = 10.0  # a killed process is gone long before this
NAMES = ("origin", "replay")


class ReplayError(ValueError):
    """A job that cannot be replayed; the message is one line saying why."""


@dataclass(frozen=True)
class Job:
    row: Row
    directory: Path
    overrides: Tuple[str, ...]
    bound_s: float


# ---------------------------------------------------------------- reading a recorded configuration


def _safe_yaml(path: Path, shown: str) -> Any:
    import yaml  # installed with omegaconf

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReplayError(f"{shown}: missing; nothing records the run's configuration") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReplayError(f"{shown}: unreadable ({getattr(error, 'strerror', None) or error})") from None
    except yaml.YAMLError as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ReplayError(f"{shown}: not plain YAML ({problem}); refused") from None


def code_references(data: Any, prefix: str = "") -> List[Tuple[str, Any]]:
    """Every ``_target_`` (a reference to code Hydra would import) and interpolation, with its key."""
    found: List[Tuple[str, Any]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{prefix}{key}"
            if key == "_target_":
                found.append((where, value))
            else:
                found.extend(code_references(value, f"{where}."))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(code_references(value, f"{prefix.rstrip('.')}[{index}]."))
    elif isinstance(data, str) and "${" in data:
        found.append((prefix.rstrip("."), data))
    return found


def _refuse_foreign(references: Sequence[Tuple[str, Any]], shown: str) -> None:
    for key, value in references:
        if key.endswith("_target_") and not (isinstance(value, str) and value.startswith(CODE_PREFIX)):
            raise ReplayError(f"{shown}: {key} = {value!r} points outside synclab; refused "
                              "(--allow-external-code runs it anyway)")
        if not key.endswith("_target_"):
            raise ReplayError(f"{shown}: {key} = {value!r} is an interpolation, which can call resolvers; "
                              "refused (--allow-external-code runs it anyway)")


def load_config(directory: Path, label: str, allow_external_code: bool = False) -> Dict[str, Any]:
    """The job's recorded configuration, read safely and checked for references to foreign code."""
    config = _safe_yaml(directory.joinpath(*CONFIG), f"{label}/{'/'.join(CONFIG)}")
    if not isinstance(config, dict):
        raise ReplayError(f"{label}/{'/'.join(CONFIG)}: not a mapping of settings")
    overrides_path = directory.joinpath(*OVERRIDES)
    overrides = _safe_yaml(overrides_path, f"{label}/{'/'.join(OVERRIDES)}") if overrides_path.exists() else []
    if not allow_external_code:
        _refuse_foreign(code_references(config), f"{label}/{'/'.join(CONFIG)}")
        pairs = {}
        for item in overrides if isinstance(overrides, list) else []:
            key, _, value = str(item).partition("=")
            pairs[key.lstrip("+~")] = value
        _refuse_foreign([(k, v) for k, v in pairs.items() if k.endswith("_target_")],
                        f"{label}/{'/'.join(OVERRIDES)}")
    return config


def _value(key: str, value: Any) -> str:
    """A recorded value as Hydra's override grammar reads it back unchanged."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        if "'" in value or "\\" in value or "${" in value:
            raise ReplayError(f"{key}: {value!r} holds a quote, backslash or interpolation; cannot be replayed exactly")
        return f"'{value}'"  # quoted: '3.10' stays a string
    raise ReplayError(f"{key}: {value!r} is a {type(value).__name__}; synclab settings are plain values")


def overrides_for(config: Dict[str, Any], repeats: Optional[int] = None, prefix: str = "") -> List[str]:
    """One override per recorded setting, so the replay does not depend on today's defaults or presets."""
    items: List[str] = []
    for key, value in config.items():
        if isinstance(value, dict):
            items.extend(overrides_for(value, None, f"{prefix}{key}."))
        elif not prefix and key == "repeats" and repeats is not None:
            items.append(f"repeats={repeats}")
        else:
            items.append(f"{prefix}{key}={_value(prefix + str(key), value)}")
    return items


def _bound(config: Dict[str, Any], repeats: Optional[int]) -> float:
    count = repeats or config.get("repeats")
    timeout = config.get("timeout_s")
    if not isinstance(count, int) or not isinstance(timeout, (int, float)):
        return _START_BOUND_S + 3600.0
    return _START_BOUND_S + count * (float(timeout) + 5.0)


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
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)  # its own group: a stuck run is stopped with its workers
    try:
        _, stderr = proc.communicate(timeout=job.bound_s)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise ReplayError(f"the replay did not finish within {job.bound_s:.0f} s; stopped") from None
    except BaseException:  # Ctrl-C reaches only our group: take the run and its workers down with us
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


def _replay_row(target: Path, label: str) -> Row:
    found = read_run(str(target), label)
    if not isinstance(found, Row):
        raise ReplayError(f"the replay left no usable {RESULT}" + (f": {found.reason}" if found else ""))
    return found


# ---------------------------------------------------------------- the command


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a run, a sweep, or a synclab archive of one")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="replay with N repeats instead of the recorded number (an inconclusive verdict "
                             "says about how many would settle it)")
    parser.add_argument("--out", metavar="DIR", default=str(DEFAULT_OUT),
                        help=f"where the replay's timestamped directory goes (default {DEFAULT_OUT})")
    parser.add_argument("--alpha", type=float, default=ALPHA,
                        help=f"significance level of the exact test on each outcome's rate (default {ALPHA}; "
                             "divided by the number of outcomes when more than two are seen)")
    parser.add_argument("--allow-external-code", action="store_true",
                        help="replay a configuration whose _target_ points outside synclab, or that interpolates")


def _fail(message: str) -> int:
    sys.stderr.write(f"synclab replay: {message}\n")
    return EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    from synclab.records.archive import ArchiveError
    from synclab.reports.compare import NotRuns

    if args.repeats is not None and args.repeats < 1:
        return _fail(f"--repeats: must be >= 1, got {args.repeats}")
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
    if not report.rows and not report.skipped:
        raise ReplayError(f"{args.path}: no synclab runs found (no {RESULT} anywhere below it)")
    label = args.path.rstrip("/")
    jobs: List[Job] = []
    for row in report.rows:  # every configuration is checked before anything runs
        directory = root if row.path == "." else root / row.path
        shown = label if row.path == "." else f"{label}/{row.path}"
        config = load_config(directory, shown, args.allow_external_code)
        jobs.append(Job(row, directory, tuple(overrides_for(config, args.repeats)), _bound(config, args.repeats)))
    single = len(jobs) == 1 and jobs[0].row.path == "." and not report.skipped
    base = new_directory(out)
    failures: List[Tuple[str, str]] = [(s.path, f"could not replay: {s.reason}") for s in report.skipped]
    comparisons: List[Comparison] = []
    for index, job in enumerate(jobs, 1):
        target = base if single else base / job.row.path
        what = label if single else job.row.path
        sys.stderr.write(f"replaying {what} ({index}/{len(jobs)}) -> {shown_path(target)}\n")
        try:
            run_again(job, target)
            replayed = Side(shown_path(target), _replay_row(target, job.row.path), read_env(target))
        except ReplayError as error:
            if single:
                raise ReplayError(f"could not replay {label}: {error}") from None
            failures.append((job.row.path, f"could not replay: {error}"))
            continue
        finally:
            _write_origin(target, origin_record(args.path, root, job, args.repeats))
        origin = side_of(root, job.row, label)
        comparisons.append(compare_sides(job.row.path, origin, replayed, NAMES, args.alpha))
    hints = [hint for c in comparisons for hint in _repeats_hint(c, label if single else f"{label}/{c.job}")]
    if single:
        sys.stdout.write(format_pair(comparisons[0], NAMES))
        sys.stdout.write("".join(f"{hint}\n" for hint in hints))
        sys.stdout.write(tally(comparisons) + "\n")
    else:
        if base.is_dir():
            write_json_atomic(base / ORIGIN, {"origin": os.path.abspath(args.path),
                                              "jobs": [job.row.path for job in jobs], "repeats": args.repeats})
            write_summary(collect(base), base)
        sys.stdout.write(format_sweep(comparisons, NAMES, failures))
        sys.stdout.write("".join(f"{hint}\n" for hint in hints))
        sys.stdout.write(f"replay: {shown_path(base)}\n")
    if failures:
        return EXIT_FAILED
    return EXIT_CODES[overall([c.verdict for c in comparisons])]


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
