"""`python run.py` end to end, as a user runs it: bad input refused in one line, a run's files
(result.json, env.json, run.log, .hydra/), a race that loses updates and still exits 0, a run
directory never written twice, a sweep with one result and one clean log per job, and every
preset from the command line. Every run lands under the test's tmp_path, never in outputs/."""

import json
import multiprocessing
import os
import platform
import re
import socket
import stat
import statistics
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import pytest
from omegaconf import OmegaConf

from conftest import CONF, ROOT, CliRun, preset_names, run_cli
from synclab.records.resultfile import SCHEMA_VERSION
from synclab.kernel.spec import INCREMENTS, LOCK_SUPPORT

Cli = Callable[..., CliRun]

ERROR_PREFIX = "synclab: configuration error: "
RUN_FILES = {".hydra", "env.json", "result.json", "run.log"}
RUN_KEYS = {
    "repeat", "before", "after", "expected", "drift", "ops_expected", "ops_done",
    "wall_s", "work_s", "ops_per_s", "outcome", "grade", "gil_enabled",
}
REPEAT_LINE = re.compile(
    r"repeat (?P<repeat>\d+): before=(?P<before>-?\d+) after=(?P<after>-?\d+) expected=(?P<expected>-?\d+) "
    r"drift=(?P<drift>[+-]\d+) ops=(?P<ops_done>\d+)/(?P<ops_expected>\d+) work_s=\S+ outcome=(?P<outcome>\w+)$"
)


def options(group: str) -> List[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def no_traceback(done: CliRun) -> None:
    assert "Traceback" not in done.stdout and "Traceback" not in done.stderr, done.stderr[-3000:]


def names_key(message: str, key: str) -> bool:
    """The key appears as a word of the message (not inside another key's name)."""
    return re.search(rf"(?<![\w.]){re.escape(key)}(?![\w])", message) is not None


def files_under(root: Path) -> List[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def repeat_messages(text: str) -> List[str]:
    """The repeat lines of a log or of the console, without their timestamp and level."""
    messages = [line.split(" | ", 2)[-1] for line in text.splitlines() if " | " in line]
    return [message for message in messages if message.startswith("repeat ")]


# --- bad input: one line naming the key, exit 2, no traceback, nothing written ------------------


def bad(*args: str, key: Optional[str], mentions: Sequence[str] = (), marks: Any = ()) -> Any:
    return pytest.param(list(args), key, list(mentions), id=" ".join(args), marks=marks)


BAD_INPUTS = [
    # unknown group options list the valid ones
    bad("lock=bogus", key="lock", mentions=options("lock")),
    bad("lock=Explicit", key="lock", mentions=options("lock")),
    bad("primitive=bogus", key="primitive", mentions=options("primitive")),
    bad("+experiment=nope", key="experiment", mentions=preset_names()),
    bad("hydra/launcher=bogus", key="hydra/launcher"),
    # wrong types
    bad("workers=abc", key="workers"),
    bad("times=1.5", key="times"),
    bad("times=1e3", key="times"),
    bad("workers=true", key="workers"),
    bad("timeout_s=soon", key="timeout_s"),
    bad("workers=[1,2]", key="workers"),
    # out of range
    bad("workers=0", key="workers"),
    bad("workers=-1", key="workers"),
    bad("workers=513", key="workers"),
    bad("times=0", key="times"),
    bad("times=-5", key="times"),
    bad("repeats=0", key="repeats"),
    bad("repeats=-1", key="repeats"),
    bad("amount=0", key="amount"),
    bad("amount=-3", key="amount"),
    bad("timeout_s=0", key="timeout_s"),
    bad("timeout_s=-1", key="timeout_s"),
    bad("sleep=-0.1", key="sleep"),
    bad("sleep=nan", key="sleep"),
    bad("sleep=1e300", key="sleep"),
    bad("timeout_s=1e10", key="timeout_s"),
    bad("experiment=threads_safe", key="experiment", mentions=["+experiment"]),
    bad("switch_interval=0", key="switch_interval"),
    # choices
    bad("start_method=bogus", key="start_method", mentions=multiprocessing.get_all_start_methods()),
    bad("direction=up", key="direction"),
    bad("grades.timeout=bad", key="grades.timeout"),
    bad("increment=bogus", key="increment", mentions=INCREMENTS),
    # a balance the shared C int cannot hold
    bad("initial=3000000000", key="initial"),
    bad("initial=-3000000000", key="initial"),
    bad("amount=2000000000", key="amount"),
    # keys that are not settings, or are removed
    bad("foo=1", key="foo"),
    bad("+foo=1", key="foo"),
    bad("~workers", key="workers"),
    # combinations that make no sense
    bad("primitive=asyncio", "lock=manager", key="lock", mentions=LOCK_SUPPORT["asyncio"]),
    bad("primitive=thread", "lock=value_lock", key="lock", mentions=LOCK_SUPPORT["thread"]),
    bad("lock=local_sum", "increment=inplace", key="increment"),
    bad("sharing=inherited", key="sharing"),
    # an interpreter that is not there
    bad("python=2.1", key="python"),
    # malformed overrides
    bad("workers=", key="workers"),
    bad("workers", key="workers"),
    bad("workers=1,2", key="workers"),  # a sweep without -m
    bad("lock=[a", key="lock"),
    bad("lock=null", key="lock", mentions=options("lock")),
    bad("+experiment=null", key="experiment", mentions=preset_names()),
    bad("=3", key=None),
    bad("hydra.run.dir=", key="hydra.run.dir"),
    bad("hydra.job.chdir=true", key="hydra.job.chdir"),
    # Hydra's own options: each takes its value, and -m does not go with --cfg
    bad("-m", "--cfg", "hydra", "-p", "hydra.job", key="--cfg", mentions=["-m"]),
    bad("--cfg", "job", "-p", "lock", "workers=[1", key="workers"),  # not 'job' nor 'lock'
]


@pytest.mark.parametrize("args, key, mentions", BAD_INPUTS)
def test_bad_input_gets_one_line_naming_the_key_and_writes_nothing(
    cli: Cli, tmp_path: Path, args: List[str], key: Optional[str], mentions: List[str]
) -> None:
    run_dir = tmp_path / "run"
    done = cli([*args, f"hydra.run.dir={run_dir}"])
    no_traceback(done)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr_lines) == 1, done.stderr
    line = done.stderr_lines[0]
    assert line.startswith(ERROR_PREFIX), line
    message = line[len(ERROR_PREFIX):]
    if key is not None:
        assert names_key(message, key), message
    for allowed in mentions:
        assert names_key(message, allowed), f"{allowed!r} not offered in: {message}"
    assert done.stdout.strip() == ""
    assert not run_dir.exists(), files_under(run_dir)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("key", ["timeout_s", "switch_interval"])
def test_a_negative_value_is_told_the_range_that_is_allowed(cli: Cli, tmp_path: Path, key: str) -> None:
    zero = cli([f"{key}=0", f"hydra.run.dir={tmp_path / 'zero'}"])
    negative = cli([f"{key}=-1", f"hydra.run.dir={tmp_path / 'negative'}"])
    assert zero.returncode == negative.returncode == 2
    assert "> 0" in zero.stderr
    assert "> 0" in negative.stderr, negative.stderr


def test_a_bad_value_in_any_job_of_a_sweep_stops_it_before_the_first_job(cli: Cli, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    done = cli(["-m", "workers=2,0", "times=100", "repeats=1", f"hydra.sweep.dir={sweep_dir}",
                "hydra.callbacks.report.plots=false"])
    no_traceback(done)
    assert done.returncode == 2
    assert len(done.stderr_lines) == 1, done.stderr
    line = done.stderr_lines[0]
    assert line.startswith(f"{ERROR_PREFIX}workers: must be >= 1, got 0") and "workers=0" in line, line
    assert not sweep_dir.exists()  # no job ran, and the sweep left nothing


def test_a_pair_that_makes_no_sense_in_a_later_job_stops_the_sweep_before_the_first(cli: Cli, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    done = cli(["-m", "primitive=process,thread", "lock=manager", "times=100", "repeats=1",
                f"hydra.sweep.dir={sweep_dir}"])
    no_traceback(done)
    assert done.returncode == 2 and len(done.stderr_lines) == 1
    assert done.stderr_lines[0].startswith(f"{ERROR_PREFIX}lock: 'manager' makes no sense for primitive=thread")
    assert not sweep_dir.exists()


@pytest.mark.parametrize("sweep", [["lock=none,spinlock"], ["+experiment=threads_safe,nope"]])
def test_an_unknown_option_in_a_swept_group_stops_the_sweep_before_any_job(
    cli: Cli, tmp_path: Path, sweep: List[str]
) -> None:
    sweep_dir = tmp_path / "sweep"
    done = cli(["-m", *sweep, "times=100", "repeats=1", f"hydra.sweep.dir={sweep_dir}"])
    no_traceback(done)
    assert done.returncode == 2
    assert len(done.stderr_lines) == 1 and "unknown option" in done.stderr_lines[0], done.stderr
    assert not sweep_dir.exists()


# --- one run and its files -------------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True).stdout


def git_states() -> "tuple[str, bool]":
    return git("rev-parse", "HEAD").strip(), bool(git("status", "--porcelain", "--untracked-files=no").strip())


SINGLE_OVERRIDES = ["times=2000", "repeats=2", "lock=explicit"]


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """One small locked run; the git state before and after it (others may commit meanwhile)."""
    run_dir = tmp_path_factory.mktemp("single") / "run"
    before = git_states()
    done = run_cli([*SINGLE_OVERRIDES, f"hydra.run.dir={run_dir}"])
    after = git_states()
    return {"dir": run_dir, "done": done, "git": {before, after}}


def test_a_run_exits_0_and_leaves_exactly_its_files(single: Dict[str, Any]) -> None:
    done, run_dir = single["done"], single["dir"]
    no_traceback(done)
    assert done.returncode == 0, done.stderr[-3000:]
    dirty = load(run_dir / "env.json")["git"]["dirty"]  # a dirty checkout's diff is kept beside env.json
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES | ({"source.patch"} if dirty else set())
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert not [p for p in run_dir.rglob("*") if p.name.endswith(".tmp")]  # atomic writes left no temp file


def test_result_json_holds_the_config_every_repeat_and_a_matching_summary(single: Dict[str, Any]) -> None:
    data = load(single["dir"] / "result.json")
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["config"] == {
        "primitive": "process", "lock": "explicit", "workers": 2, "times": 2000, "amount": 1, "initial": 0,
        "sleep": 0.0, "repeats": 2, "start_method": None, "timeout_s": 60.0, "direction": "both",
        "sharing": "passed", "grades": None, "increment": None, "switch_interval": None, "python": None,
        "gil": None,
    }
    assert data["overrides"] == SINGLE_OVERRIDES
    runs = data["runs"]
    assert [run["repeat"] for run in runs] == [0, 1]
    for run in runs:
        assert RUN_KEYS <= set(run), RUN_KEYS - set(run)
        assert (run["before"], run["after"], run["expected"], run["drift"]) == (0, 0, 0, 0)
        assert run["ops_expected"] == run["ops_done"] == 4000
        assert (run["outcome"], run["grade"]) == ("consistent", "acceptable")
        assert run["wall_s"] > 0 and run["work_s"] > 0
        # ops_per_s = ops_done / work_s, within the rounding of work_s (1e-6 s) and of the rate (0.1)
        low = run["ops_done"] / (run["work_s"] + 5e-7) - 0.05
        high = run["ops_done"] / max(run["work_s"] - 5e-7, 1e-9) + 0.05
        assert low <= run["ops_per_s"] <= high
    assert [run["gil_enabled"] for run in runs] == [True, True]  # this process's GIL, asked after each repeat
    assert data["gil"] == {"enabled_at_start": True, "enabled": True, "came_back": False, "reenabled_by": []}
    summary = data["summary"]
    assert summary["repeats"] == len(runs)
    assert summary["outcomes"] == {"consistent": 2} and summary["grades"] == {"acceptable": 2}
    assert summary["forbidden"] == []
    assert (summary["drift_mean"], summary["drift_min"], summary["drift_max"]) == (0, 0, 0)
    assert summary["ops_per_s_median"] == round(statistics.median(run["ops_per_s"] for run in runs), 1)


def test_env_json_describes_this_interpreter_machine_and_checkout(single: Dict[str, Any]) -> None:
    env = load(single["dir"] / "env.json")
    assert {key: env["python"][key] for key in ("version", "implementation", "executable", "gil_enabled")} == {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "gil_enabled": bool(getattr(sys, "_is_gil_enabled", lambda: True)()),
    }
    assert env["start_method"] == multiprocessing.get_all_start_methods()[0]  # the platform's default
    assert env["cpu_count"] == os.cpu_count()
    assert env["platform"] == platform.platform()
    assert env["hostname"] == socket.gethostname()
    assert env["switch_interval"] == 0.005  # CPython's default: this run did not set one
    for package in ("hydra-core", "omegaconf", "loguru"):
        assert env["packages"][package] == metadata.version(package)
    assert (env["git"]["commit"], env["git"]["dirty"]) in single["git"]


def test_the_log_and_the_console_show_one_line_per_repeat(single: Dict[str, Any]) -> None:
    done, run_dir = single["done"], single["dir"]
    runs = load(run_dir / "result.json")["runs"]
    logged = repeat_messages((run_dir / "run.log").read_text(encoding="utf-8"))
    assert len(logged) == len(runs) == 2
    for message, run in zip(logged, runs):
        match = REPEAT_LINE.match(message)
        assert match, message
        fields = {key: (value if key == "outcome" else int(value)) for key, value in match.groupdict().items()}
        assert fields == {key: run[key] for key in fields}
    assert repeat_messages(done.stderr + done.stdout) == logged


def test_result_files_are_as_readable_as_the_log(single: Dict[str, Any]) -> None:
    mode = lambda name: stat.S_IMODE((single["dir"] / name).stat().st_mode)  # noqa: E731
    assert mode("result.json") == mode("env.json") == mode("run.log")


def test_a_second_run_into_the_same_directory_is_refused(cli: Cli, single: Dict[str, Any]) -> None:
    run_dir = single["dir"]
    result = (run_dir / "result.json").read_bytes()
    done = cli([*SINGLE_OVERRIDES, f"hydra.run.dir={run_dir}"])
    no_traceback(done)
    assert done.returncode == 2
    assert len(done.stderr_lines) == 1, done.stderr
    assert done.stderr_lines[0].startswith(f"{ERROR_PREFIX}hydra.run.dir: ")
    assert "result.json" in done.stderr_lines[0]
    assert (run_dir / "result.json").read_bytes() == result


def test_a_refused_run_leaves_the_earlier_runs_record_untouched(cli: Cli, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert cli(["times=100", "repeats=1", f"hydra.run.dir={run_dir}"]).returncode == 0
    before = {path: path.read_bytes() for path in files_under(run_dir)}
    assert cli(["times=200", "repeats=2", f"hydra.run.dir={run_dir}"]).returncode == 2
    assert {path: path.read_bytes() for path in files_under(run_dir)} == before


# --- a race is a result, not an error ------------------------------------------------------------


def test_a_race_loses_updates_and_exits_0(cli: Cli, tmp_path: Path) -> None:
    # Every worker deposits, so lost updates cannot cancel out, and 2 x 200000 operations
    # released together overlap far longer than a time slice (see RACES in test_runner.py).
    run_dir = tmp_path / "race"
    done = cli(["lock=none", "workers=2", "times=200000", "direction=deposit", "repeats=2",
                f"hydra.run.dir={run_dir}"])
    no_traceback(done)
    assert done.returncode == 0, done.stderr[-3000:]
    data = load(run_dir / "result.json")
    assert [run["outcome"] for run in data["runs"]] == ["lost_updates"] * 2
    for run in data["runs"]:
        assert run["ops_done"] == run["ops_expected"] == 400000
        assert 0 < run["after"] < run["expected"] == 400000 and run["drift"] < 0
        assert run["grade"] == "interesting"
    assert data["summary"]["forbidden"] == []
    assert "lost_updates" in done.stdout


# --- a sweep -------------------------------------------------------------------------------------


def test_a_sweep_gives_every_job_its_own_result_and_its_own_log(cli: Cli, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    done = cli(["-m", "lock=none,explicit", "workers=2,3", "times=2000", "repeats=1",
                f"hydra.sweep.dir={sweep_dir}", "hydra.callbacks.report.plots=false"])
    no_traceback(done)
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = [("none", 2), ("none", 3), ("explicit", 2), ("explicit", 3)]  # the basic sweeper's order
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0", "1", "2", "3"]
    for num, (lock, workers) in enumerate(jobs):
        job_dir = sweep_dir / str(num)
        dirty = load(job_dir / "env.json")["git"]["dirty"]
        assert {p.name for p in job_dir.iterdir()} == RUN_FILES | ({"source.patch"} if dirty else set())
        data = load(job_dir / "result.json")
        assert (data["config"]["lock"], data["config"]["workers"], data["config"]["times"]) == (lock, workers, 2000)
        assert data["overrides"] == [f"lock={lock}", f"workers={workers}", "times=2000", "repeats=1"]
        assert OmegaConf.load(job_dir / ".hydra" / "config.yaml").workers == workers
        (outcome,) = [run["outcome"] for run in data["runs"]]
        assert outcome in (("consistent",) if lock == "explicit" else ("consistent", "lost_updates"))
        # the job's file sink ended with the job: its log holds its own header and repeat only
        log = (job_dir / "run.log").read_text(encoding="utf-8")
        headers = [line for line in log.splitlines() if " -> " in line]
        assert len(headers) == 1 and headers[0].endswith(f"-> {job_dir}"), log
        assert f"lock={lock} workers={workers} " in headers[0]
        assert len(repeat_messages(log)) == 1, log
    assert (sweep_dir / "summary.csv").is_file() and (sweep_dir / "summary.md").is_file()
    assert not list(sweep_dir.glob("*.png"))  # plots=false was honoured
    assert not [p for p in sweep_dir.rglob("*") if p.name.endswith(".tmp")]


# --- every preset from the command line ----------------------------------------------------------

LOCKED_PRESETS = {"shared_memory_lock", "pool_decorator", "pool_context", "threads_safe"}
# Presets with the notebook's 1 ms sleep run 1000 operations per worker: fewer keep them quick.
PRESET_OVERRIDES = {
    "shared_memory_race": ["times=50"],
    "shared_memory_lock": ["times=50"],
    "gil_question": ["times=1000"],  # a sweep preset; run here as a single job
    "threads_safe": ["times=20000"],  # 8 locked threads: a fifth of the notebook's increments is enough
    "lock_cost_ft": ["times=1000"],
    "idioms": ["stress.pattern=CounterUpdate", "stress.time_budget_s=0.02"],  # two of its tests, briefly
}
STRESS_PRESETS = {"idioms"}
FREE_THREADED_PRESETS = {"lock_cost_ft"}  # run on the free-threaded build the fixture finds


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_runs_from_the_command_line(cli: Cli, tmp_path: Path, name: str,
                                                 request: pytest.FixtureRequest) -> None:
    run_dir = tmp_path / name
    python = [f"python={request.getfixturevalue('free_threaded_python').path}"] if name in FREE_THREADED_PRESETS else []
    done = cli([f"+experiment={name}", "repeats=1", *PRESET_OVERRIDES.get(name, []), *python,
                f"hydra.run.dir={run_dir}"])
    no_traceback(done)
    assert done.returncode == 0, done.stderr[-3000:]
    data = load(run_dir / "result.json")
    assert data["workload"] == ("stress" if name in STRESS_PRESETS else "balance")
    if name in STRESS_PRESETS:
        assert [test["test"].rpartition(":")[2] for test in data["tests"]] == ["CounterUpdate", "CounterUpdateLocked"]
        assert all(test["samples"] > 0 for test in data["tests"])
        assert not [o for test in data["tests"] for o in test["outcomes"] if o["grade"] == "forbidden"]
        return
    assert (data["config"]["lock"] != "none") == (name in LOCKED_PRESETS)
    for run in data["runs"]:
        assert run["ops_done"] == run["ops_expected"] == data["config"]["workers"] * data["config"]["times"]
    outcomes = {run["outcome"] for run in data["runs"]}
    if name in LOCKED_PRESETS:
        assert outcomes == {"consistent"}
    else:
        assert outcomes <= {"consistent", "lost_updates"}
    assert data["summary"]["forbidden"] == []


@pytest.mark.parametrize("primitive", ["process", "pool", "process_pool"])
def test_workers_stopped_mid_operation_still_give_every_repeat_its_timeout(
    cli: Cli, tmp_path: Path, primitive: str
) -> None:
    """A busy worker stopped at the timeout may die holding the shared Value's own lock; the
    parent must still read the balance and go on, repeat after repeat, not hang."""
    run_dir = tmp_path / "run"
    done = cli([f"primitive={primitive}", "times=100000000", "timeout_s=0.2", "repeats=4", f"hydra.run.dir={run_dir}"])
    no_traceback(done)
    assert done.returncode == 0, done.stderr
    runs = load(run_dir / "result.json")["runs"]
    assert [run["outcome"] for run in runs] == ["timeout"] * 4
    assert all(run["grade"] == "forbidden" for run in runs)


def test_a_sweep_into_an_earlier_sweep_is_refused_and_leaves_it_untouched(cli: Cli, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    first = cli(["-m", "lock=none", "times=100", "repeats=1", f"hydra.sweep.dir={sweep_dir}",
                 "hydra.callbacks.report.plots=false"])
    assert first.returncode == 0, first.stderr
    before = {p: p.read_bytes() for p in files_under(sweep_dir)}
    again = cli(["-m", "lock=rlock", "times=100", "repeats=1", f"hydra.sweep.dir={sweep_dir}"])
    no_traceback(again)
    assert again.returncode == 2
    assert len(again.stderr_lines) == 1 and "hydra.sweep.dir" in again.stderr_lines[0] and "synclab resume" in again.stderr
    assert {p: p.read_bytes() for p in files_under(sweep_dir)} == before


def test_a_run_into_a_used_directory_is_refused_however_the_key_is_written(cli: Cli, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert cli(["times=100", "repeats=1", f"hydra.run.dir={run_dir}"]).returncode == 0
    before = {p: p.read_bytes() for p in files_under(run_dir)}
    again = cli(["lock=rlock", "times=100", "repeats=1", f"++hydra.run.dir={run_dir}"])
    no_traceback(again)
    assert again.returncode == 2 and "hydra.run.dir" in again.stderr
    assert {p: p.read_bytes() for p in files_under(run_dir)} == before


def test_a_job_refused_when_it_starts_leaves_the_summary_of_the_jobs_before_it(cli: Cli, tmp_path: Path) -> None:
    """Some checks need the job's own machine (is that interpreter there?): they run at its start."""
    sweep_dir = tmp_path / "sweep"
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    done = cli(["-m", f"python={here},2.99", "primitive=thread", "times=100", "repeats=1",
                f"hydra.sweep.dir={sweep_dir}", "hydra.callbacks.report.plots=false"])
    no_traceback(done)
    assert done.returncode == 2
    assert done.stderr_lines[-1].startswith(f"{ERROR_PREFIX}python: no Python 2.99 found")
    assert load(sweep_dir / "0" / "result.json")["config"]["python"] == here
    assert not (sweep_dir / "1" / "result.json").exists()
    summary = (sweep_dir / "summary.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in summary[1:]] == ["0"]


def test_help_explains_every_setting(cli: Cli) -> None:
    from dataclasses import fields

    from synclab.app.config import SynclabConf

    done = cli(["--help"])
    assert done.returncode == 0, done.stderr
    settings = done.stdout.split("== Settings ==")[1].split("== Config ==")[0]
    described = {line.split()[0].split(".")[0] for line in settings.splitlines() if line.startswith("  ") and
                 not line.startswith("   ")}
    assert {f.name for f in fields(SynclabConf)} <= described
    groups = done.stdout.split("== Config groups (group=option) ==")[1].split("== Settings ==")[0]
    listed = dict(line.split(": ", 1) for line in groups.strip().splitlines())
    # each group's line lists exactly the options on disk, in order
    for group, names in (("lock", options("lock")), ("primitive", options("primitive")),
                         ("experiment", preset_names())):
        assert listed[group].split(", ") == sorted(names), group
