"""``synclab stress TARGET``: a quick answer on every stress test a file, directory or module
holds: one histogram per test as it finishes, a summary line, and a run directory like any run's.

The run goes through app.stress.run_and_file, as the Hydra job does, so both leave the same files.
The run directory is made when the first result is in and removed again if the run is refused
or interrupted: a command that did not finish leaves nothing behind.
"""

import argparse
import datetime
import os
import sys
from pathlib import Path
from typing import List, Optional

from synclab.commands.cli import fail
from synclab.kernel.spec import GIL_SETTINGS
from synclab.kernel.stress.spec import DEFAULT_STRIDE, DEFAULT_TIME_BUDGET_S, StressSpec, problems
from synclab.records.files import ENV, RESULT

EXIT_FORBIDDEN = 1
OUTPUTS = "outputs"  # as conf/config.yaml's hydra.run.dir: outputs/YYYY-MM-DD/HH-MM-SS-ffffff
# Hydra's spelling of each setting, so that an error names what a user would type on either route.
OPTIONS = {"stress.pattern": "-k", "stress.time_budget_s": "--time-budget", "stress.stride": "--stride",
           "stress.threads_per_actor": "--threads-per-actor", "switch_interval": "--switch-interval",
           "gil": "--gil", "python": "--python", "stress.target": "TARGET"}

EPILOG = f"""exit status: 0 when no test saw a forbidden outcome, {EXIT_FORBIDDEN} when one did,
2 when the target or a setting is refused (nothing is written then)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET",
                        help="the tests: path/to/file.py, file.py:Class, a directory, pkg.module or pkg.module:Class")
    parser.add_argument("-k", dest="pattern", metavar="PATTERN", help="only tests whose class name contains PATTERN")
    parser.add_argument("--time-budget", dest="time_budget_s", type=float, default=DEFAULT_TIME_BUDGET_S, metavar="S",
                        help=f"seconds per test (default {DEFAULT_TIME_BUDGET_S:g})")
    parser.add_argument("--stride", type=int, default=DEFAULT_STRIDE, metavar="N", help=f"fresh states per stride (default {DEFAULT_STRIDE})")
    parser.add_argument("--threads-per-actor", type=int, default=1, metavar="N", help="threads running each actor (default 1)")
    parser.add_argument("--switch-interval", type=float, metavar="S",
                        help="sys.setswitchinterval while the actors run (default: unchanged)")
    parser.add_argument("--gil", choices=GIL_SETTINGS, help="the GIL state, on a free-threaded build")
    parser.add_argument("--python", metavar="VERSION_OR_PATH", help="run under another interpreter: 3.13t, 3.11, or a path")
    parser.add_argument("--out", metavar="DIR", help=f"the run directory (default: {OUTPUTS}/YYYY-MM-DD/HH-MM-SS-ffffff)")


def _spec(args: argparse.Namespace) -> StressSpec:
    return StressSpec(target=args.target, pattern=args.pattern, time_budget_s=args.time_budget_s, stride=args.stride,
                      threads_per_actor=args.threads_per_actor, switch_interval=args.switch_interval,
                      python=args.python, gil=args.gil)


def _as_option(line: str) -> str:
    """A spec problem as this command spells it: ``--stride: ...`` rather than ``stress.stride: ...``."""
    key, sep, rest = line.partition(": ")
    return f"{OPTIONS.get(key, key)}: {rest}" if sep else line


def timestamped(base: Path) -> Path:
    """Where a run started now goes, as Hydra's run.dir names it."""
    now = datetime.datetime.now()
    return base / OUTPUTS / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S-%f")


class RunDirectory:
    """The run's directory, made on first use; discard() removes what the run wrote and every
    directory made for it (a directory that was there before is left, emptied of the run's files)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.made: List[Path] = []  # innermost first
        self.started = False

    def create(self) -> Path:
        if not self.started:
            self.made = [p for p in (self.path, *self.path.parents) if not p.exists()]
            self.path.mkdir(parents=True, exist_ok=True)
            self.started = True
        return self.path

    def discard(self) -> None:
        if not self.started:
            return
        for name in (ENV, RESULT):
            try:
                os.unlink(self.path / name)
            except FileNotFoundError:
                pass
        for directory in self.made:
            try:
                directory.rmdir()
            except OSError:  # not empty (another run landed beside it) or already gone
                break
        self.started = False


def _check_out(out: Path) -> Optional[str]:
    if out.exists() and not out.is_dir():
        return f"--out: {out} exists and is not a directory"
    if out.is_dir() and any((out / name).exists() for name in (RESULT, ENV)):
        return f"--out: {out} already holds a run ({RESULT} or {ENV}); name a new or empty directory"
    return None


def run(args: argparse.Namespace) -> int:
    from synclab.kernel.spec import ConfigError
    from synclab.kernel.stress.api import StressError

    spec = _spec(args)
    wrong = problems(spec)
    if wrong:
        return fail("stress", _as_option(wrong[0]))
    out = None if args.out is None else Path(args.out)
    if out is not None and _check_out(out):
        return fail("stress", _check_out(out))  # type: ignore[arg-type]
    directory = RunDirectory(out if out is not None else timestamped(Path.cwd()))
    results: List[dict] = []
    try:
        data = _run(spec, directory, results)
    except ConfigError as error:  # GilUnavailable included; python= not found
        directory.discard()
        return fail("stress", _as_option(str(error)))
    except StressError as error:
        directory.discard()
        return fail("stress", _as_option(str(error)))
    except OSError as error:
        directory.discard()
        return fail("stress", f"cannot write the run into {directory.path}: {error.strerror or error}")
    except BaseException:  # Ctrl-C, SIGTERM: no half-written run (cli.main says which signal)
        directory.discard()
        raise
    return _finish(data, directory.path)


def _run(spec: StressSpec, directory: RunDirectory, results: List[dict]) -> dict:
    from synclab.app.stress import run_and_file
    from synclab.kernel.remote import RemoteError
    from synclab.kernel.stress.api import StressError
    from synclab.reports.histogram import format_histogram

    def heard(result, label: str) -> None:  # type: ignore[no-untyped-def]
        shown = result.to_dict()
        results.append(shown)
        if result.error:
            sys.stderr.write(f"{result.test}: an actor raised; the first traceback:\n{result.error.rstrip()}\n")
        sys.stdout.write(format_histogram(shown, label) + "\n\n")
        sys.stdout.flush()

    try:
        # env.json is written with the first result: the directory is made when the run has started
        return run_and_file(spec, directory.path, on_result=heard,
                            on_env=lambda env: directory.create())
    except RemoteError as error:
        raise StressError(str(error)) from None


def _finish(data: dict, path: Path) -> int:
    from synclab.reports.histogram import format_summary, status
    from synclab.reports.table import shown_path

    tests = data.get("tests") or []
    print(format_summary(tests))
    print(f"run: {shown_path(path.resolve())}")
    return EXIT_FORBIDDEN if any(status(test) == "forbidden" for test in tests) else 0
