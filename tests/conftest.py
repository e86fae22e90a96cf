"""Shared fixtures: the project's paths, Hydra composition, `python run.py` as a subprocess,
a free-threaded interpreter where one is found, and a check after every test that no child
process was left behind."""

import multiprocessing
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional, Sequence

import pytest

if TYPE_CHECKING:
    from synclab.kernel.interpreters import Interpreter

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
EXPERIMENTS = ROOT / "experiments"
RUN_PY = ROOT / "run.py"
# A subprocess run of run.py gets this long; the runs the tests make take about a second.
CLI_TIMEOUT_S = 120
# Set to 1 (as .ci/run does): a test that needs a free-threaded interpreter fails where none is found.
REQUIRE_FREE_THREADED = "SYNCLAB_REQUIRE_FREE_THREADED"


@dataclass(frozen=True)
class CliRun:
    """What one `python run.py ...` left: exit code and both streams."""

    args: "tuple[str, ...]"
    returncode: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> List[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def cli_env() -> "dict[str, str]":
    """The environment for run.py: without variables that would change its error reporting."""
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "PYTHONWARNINGS")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def cli_command(args: Sequence[str]) -> List[str]:
    return [sys.executable, str(RUN_PY), *args]


def run_cli(args: Sequence[str], timeout: float = CLI_TIMEOUT_S) -> CliRun:
    """Run `python run.py ARGS` from the project root with this interpreter (the venv's)."""
    done = subprocess.run(
        cli_command(args), cwd=ROOT, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )
    return CliRun(tuple(args), done.returncode, done.stdout, done.stderr)


def small_locked_run(factory: pytest.TempPathFactory, group: str, repeats: int = 2) -> Path:
    """One real run, quick to make (threads, a lock, a few repeats): material for module fixtures."""
    out = factory.mktemp(group) / "run"
    done = run_cli(["primitive=thread", "lock=explicit", "times=1000", f"repeats={repeats}", f"hydra.run.dir={out}"])
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="session")
def free_threaded_python() -> "Interpreter":
    """A free-threaded CPython (3.13t or newer) that discovery finds; skipped where there is none,
    failed instead when SYNCLAB_REQUIRE_FREE_THREADED=1."""
    from synclab.kernel.interpreters import EXTRA, discover

    found = [i for i in discover() if i.free_threaded and i.supported]
    if found:
        return found[0]
    reason = (f"no free-threaded Python found by discovery: name one or its directory in {EXTRA} "
              f"(../shared/interpreters/unpack.sh, then {EXTRA}=~/.cache/synclab-interpreters), or install "
              "one (pyenv install 3.13t, uv python install 3.13t); see the README's "
              "Free-threaded Python and other interpreters")
    if os.environ.get(REQUIRE_FREE_THREADED) == "1":
        pytest.fail(f"{reason} ({REQUIRE_FREE_THREADED}=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def cli() -> Callable[..., CliRun]:
    return run_cli


@pytest.fixture
def compose() -> Iterator[Callable[..., "object"]]:
    """Hydra's compose API on conf/, the way run.py composes, cleared after the test."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import synclab.app.config  # noqa: F401  (registers the structured schema)

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):

        def _compose(overrides: Optional[Sequence[str]] = None, **kwargs: object) -> object:
            return hydra_compose(config_name="config", overrides=list(overrides or []), **kwargs)

        yield _compose
    GlobalHydra.instance().clear()


@pytest.fixture(autouse=True)
def no_children_left() -> Iterator[None]:
    """Every repeat reaps its workers: no test may leave a child process alive."""
    yield
    left = multiprocessing.active_children()
    for child in left:  # do not let one test's leftovers fail the next one
        child.kill()
        child.join(5)
    assert not left, f"child processes left alive: {left}"


def processes_mentioning(text: str) -> List[int]:
    """Live processes whose command line contains text (a test's own temp dir): what a test left running."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if text.encode() in handle.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def preset_names() -> List[str]:
    return sorted(path.stem for path in EXPERIMENTS.glob("*.yaml"))


@pytest.fixture(autouse=True, scope="session")
def own_running_jobs_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Jobs record the other synclab jobs running on their host (synclab.kernel.corun); the tests'
    jobs look only at each other, not at whatever else runs on the machine."""
    previous = os.environ.get("SYNCLAB_RUNNING_DIR")
    os.environ["SYNCLAB_RUNNING_DIR"] = str(tmp_path_factory.mktemp("running"))
    yield
    if previous is None:
        os.environ.pop("SYNCLAB_RUNNING_DIR", None)
    else:
        os.environ["SYNCLAB_RUNNING_DIR"] = previous

