"""The pytest plugin, run as a user runs it: pytest in a subprocess on a small test module written
in tmp_path. Stress classes are collected once each, a forbidden outcome fails with the histogram,
bad tests and options are one line, -p no:synclab collects nothing, and on the free-threaded build
without the GIL a racy counter shows its lost update and passes."""

import importlib.metadata
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest

from test_stress_engine import LOCKED

SRC = Path(__file__).resolve().parents[1] / "src"
TIMEOUT_S = 120
BUDGET = "--synclab-time-budget=0.2"

# The locked counter of the kernel's tests (it passes), then a misdeclared one and a skipped one.
COUNTERS = LOCKED + textwrap.dedent('''
    import pytest


    @synclab.stress(outcomes={"1": synclab.ACCEPTABLE})
    class MisdeclaredCounter:
        """Declares only 1: the 2 that every sample returns is forbidden."""

        def actor1(self):
            return 2


    @pytest.mark.skip(reason="marks on the class apply to its item")
    @synclab.stress(outcomes={"1": synclab.ACCEPTABLE})
    class SkippedCounter:
        def actor1(self):
            return 1
''')

# A test whose actor raises on every third state (its module's own count), then one whose state cannot be built.
EVERY_THIRD_RAISES = textwrap.dedent('''
    import itertools

    import synclab

    numbers = itertools.count(1)


    @synclab.stress(outcomes={"ok": synclab.ACCEPTABLE})
    class EveryThirdRaises:
        def __init__(self):
            self.n = next(numbers)

        def actor1(self):
            if self.n % 3 == 0:
                raise RuntimeError(f"state {self.n} is a multiple of 3")
            return "ok"
''')
BROKEN = EVERY_THIRD_RAISES + textwrap.dedent('''


    @synclab.stress(outcomes={"1": synclab.ACCEPTABLE})
    class Unbuildable:
        def __init__(self):
            raise ValueError("no state today")

        def actor1(self):
            return 1
''')


def _env(**extra: str) -> Dict[str, str]:
    """This environment without what would change how the inner pytest runs or which GIL it has."""
    drop = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTHON_GIL", "CI")
    return {**{k: v for k, v in os.environ.items() if k not in drop}, **extra}


def _project(tmp_path: Path, files: Dict[str, str], ini: str = "") -> Path:
    """A directory with its own pytest.ini (so that rootdir and options are this test's) and files."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n" + ini)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def _pytest(where: Path, *args: str, python: str = sys.executable,
            env: Optional[Dict[str, str]] = None, run_parallel: bool = False) -> "subprocess.CompletedProcess[str]":
    # pytest-run-parallel (installed for the bench) would add its own lines to every run
    off = [] if run_parallel else ["-p", "no:run-parallel"]
    return subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", *off, *args],
                          cwd=where, capture_output=True,
                          text=True, timeout=TIMEOUT_S, env=env if env is not None else _env())


def _failure(output: str, name: str) -> str:
    """The failure section of one item: from its ``___ stress test NAME ___`` header to the next."""
    found = re.search(rf"^_+ stress test {name} _+\n(.*?)(?=^_{{3,}} |^={{3,}} )", output, flags=re.M | re.S)
    assert found, f"no failure section for {name} in:\n{output}"
    return found.group(1)


def _histogram_shape(text: str, test: str, gil: str) -> None:
    """What format_histogram prints, in order: the name and where it ran, the table, the samples, the verdict."""
    lines = text.splitlines()
    head = [i for i, line in enumerate(lines) if re.fullmatch(rf"\S+:{test}  \(CPython \d+\.\d+\.\d+t?, {gil}\)", line)]
    assert head, f"no histogram of {test} ({gil}) in:\n{text}"
    rest = lines[head[0]:]
    table = next(i for i, line in enumerate(rest) if re.fullmatch(r"  outcome +count +share +grade +description", line))
    samples = next(i for i, line in enumerate(rest) if re.match(r"  [\d,]+ samples in \d+\.\d\d s ", line))
    assert table < samples and re.match(r"  (FAILED: |interesting: |no interesting or forbidden)", rest[samples + 1])


def test_stress_classes_are_items_and_a_forbidden_outcome_fails_with_the_histogram(tmp_path: Path) -> None:
    where = _project(tmp_path, {"test_counters.py": COUNTERS})
    done = _pytest(where, BUDGET, "-rfs")
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert re.search(r"^=+ 1 failed, 1 passed, 1 skipped in ", out, flags=re.M), out
    failure = _failure(out, "MisdeclaredCounter")
    _histogram_shape(failure, "MisdeclaredCounter", "GIL enabled")
    assert re.search(r"^  2 +[\d,]+ +\S+% +forbidden *$", failure, flags=re.M), failure
    assert "Traceback" not in out and "pytest_plugin" not in out
    assert re.search(r"^FAILED test_counters.py::MisdeclaredCounter - FAILED: a forbidden outcome in ", out,
                     flags=re.M)
    assert "SKIPPED [1] test_counters.py" in out and "marks on the class apply to its item" in out
    summary = out.split("= synclab stress tests =", 1)[1]
    assert re.search(r"^test_counters.py::LockedIncrement: no interesting or forbidden outcome in [\d,]+ samples",
                     summary, flags=re.M), summary
    assert re.search(r"^test_counters.py::MisdeclaredCounter: FAILED: a forbidden outcome", summary, flags=re.M)
    assert re.search(r"^2 stress tests, [\d,]+ samples: 1 failed", summary, flags=re.M)


def test_with_v_every_stress_test_shows_its_histogram(tmp_path: Path) -> None:
    where = _project(tmp_path, {"test_counters.py": COUNTERS})
    done = _pytest(where, BUDGET, "-v", "-k", "LockedIncrement")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_counters.py::LockedIncrement PASSED" in done.stdout
    summary = done.stdout.split("= synclab stress tests =", 1)[1]
    _histogram_shape(summary, "LockedIncrement", "GIL enabled")
    assert re.search(r"^  2 +[\d,]+ +100% +acceptable *$", summary, flags=re.M), summary


def test_beside_pytest_run_parallel_a_stress_test_runs_once_without_its_warning(tmp_path: Path) -> None:
    try:
        importlib.metadata.version("pytest-run-parallel")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("pytest-run-parallel is not installed")
    where = _project(tmp_path, {"test_counters.py": COUNTERS})
    done = _pytest(where, BUDGET, "-k", "LockedIncrement", "-W", "error::UserWarning", run_parallel=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "incompatible with pytest-run-parallel" not in done.stdout + done.stderr
    assert re.search(r"^=+ 1 passed, 2 deselected in ", done.stdout, flags=re.M), done.stdout


def test_an_actor_that_raises_shows_its_traceback_and_a_state_that_cannot_be_built_is_one_line(
        tmp_path: Path) -> None:
    where = _project(tmp_path, {"test_broken.py": BROKEN})
    done = _pytest(where, BUDGET)
    assert done.returncode == 1, done.stdout + done.stderr
    raises = _failure(done.stdout, "EveryThirdRaises")
    _histogram_shape(raises, "EveryThirdRaises", "GIL enabled")
    assert re.search(r"^  error +[\d,]+ +33\.\d+% +forbidden +an actor or the arbiter raised", raises, flags=re.M)
    user_frames = raises.split("the first traceback of an actor or the arbiter that raised:", 1)[1]
    assert 'test_broken.py", line' in user_frames and "RuntimeError: state 3 is a multiple of 3" in user_frames
    unbuildable = _failure(done.stdout, "Unbuildable")
    assert unbuildable.strip() == "Unbuildable: the state cannot be built: ValueError: no state today"


def test_a_stress_class_is_collected_once_where_it_is_defined_and_other_classes_as_pytest_would(
        tmp_path: Path) -> None:
    """Named Test*, it is not also a test class (pytest would warn about its __init__); imported
    into another test module or given a second name, it is not collected again."""
    defined = textwrap.dedent('''
        import synclab

        @synclab.stress(outcomes={"1": synclab.ACCEPTABLE})
        class TestCounter:
            def __init__(self):  # pytest would warn that it cannot collect a Test* class with one
                self.x = 1
            def actor1(self):
                return self.x

        Again = TestCounter

        class TestPlain:
            def test_plain(self):
                pass
    ''')
    where = _project(tmp_path, {"test_defined.py": defined,
                                "test_imported.py": "from test_defined import TestCounter\n"})
    done = _pytest(where, "--collect-only", "-q")
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    assert collected == ["test_defined.py::TestCounter", "test_defined.py::TestPlain::test_plain"]
    assert "PytestCollectionWarning" not in done.stdout


def test_without_the_plugin_no_stress_class_is_collected(tmp_path: Path) -> None:
    where = _project(tmp_path, {"test_counters.py": COUNTERS})
    assert _pytest(where, "--collect-only", "-q").returncode == 0
    done = _pytest(where, "-p", "no:synclab")
    assert done.returncode == 5, done.stdout + done.stderr  # pytest's "no tests collected"
    assert "no tests ran" in done.stdout


def _usage_error(done: "subprocess.CompletedProcess[str]") -> str:
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 4 and len(lines) == 1, done.stdout + done.stderr  # pytest's usage error
    return lines[0]


@pytest.mark.parametrize("args, ini, expected", [
    (["--synclab-time-budget=0"], "", "ERROR: --synclab-time-budget: seconds per test, > 0 and <= 86400, got 0"),
    (["--synclab-time-budget=soon"], "", "ERROR: --synclab-time-budget: seconds per test, > 0 and <= 86400, "
                                         "got 'soon'"),
    (["--synclab-gil=maybe"], "", "ERROR: --synclab-gil: unknown option 'maybe'; choose from enabled, disabled"),
    ([], "synclab_time_budget = -1\n", "ERROR: synclab_time_budget (ini): seconds per test, > 0 and <= 86400, got -1"),
])
def test_a_bad_option_is_a_usage_error_of_one_line(tmp_path: Path, args: List[str], ini: str, expected: str) -> None:
    where = _project(tmp_path, {"test_counters.py": COUNTERS}, ini)
    assert _usage_error(_pytest(where, *args)).startswith(expected)


def test_gil_disabled_on_a_build_with_the_gil_is_a_usage_error_of_one_line(tmp_path: Path) -> None:
    from synclab.kernel.gil import free_threaded

    if free_threaded():
        pytest.skip("this interpreter is a free-threaded build")
    where = _project(tmp_path, {"test_counters.py": COUNTERS})
    line = _usage_error(_pytest(where, "--synclab-gil=disabled"))
    assert line.startswith("ERROR: --synclab-gil: 'disabled' needs a free-threaded build (python3.13t or newer); "
                           f"this interpreter ({sys.executable}, Python ")


@pytest.mark.parametrize("args, ini, budget", [
    (["--synclab-time-budget=0.15"], "", "0.15"),
    ([], "synclab_time_budget = 0.12\n", "0.12"),
    (["--synclab-time-budget=0.15"], "synclab_time_budget = 0.1\n", "0.15"),
])
def test_the_time_budget_comes_from_the_option_then_the_ini_file(tmp_path: Path, args: List[str], ini: str,
                                                                 budget: str) -> None:
    """The histogram names the budget the test ran for, and the engine spent at least that: the
    command line wins over the ini file (the kernel's default, else, is in the help text)."""
    where = _project(tmp_path, {"test_counters.py": COUNTERS}, ini)
    done = _pytest(where, *args, "-v", "-k", "LockedIncrement")
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"^  [\d,]+ samples in (\d+\.\d\d) s .*, a time budget of (\S+) s$", done.stdout, flags=re.M)
    assert found and found.group(2) == budget, done.stdout
    assert float(found.group(1)) >= float(budget)


def test_help_names_the_options_and_the_kernels_default_budget(tmp_path: Path) -> None:
    from synclab.kernel.stress.spec import DEFAULT_TIME_BUDGET_S

    done = _pytest(_project(tmp_path, {}), "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--synclab-time-budget=S" in text and "--synclab-gil={enabled,disabled}" in text
    assert f"synclab's default of {DEFAULT_TIME_BUDGET_S:g} s" in text


def test_the_plugin_loads_nothing_of_synclab_where_no_stress_test_is_collected(tmp_path: Path) -> None:
    """pytest loads the plugin in every run: a suite without stress tests never imports the kernel."""
    plain = textwrap.dedent('''
        import sys

        class TestPlain:
            def test_only_the_plugin_is_loaded(self):
                loaded = sorted(name for name in sys.modules if name.startswith("synclab"))
                assert loaded == ["synclab", "synclab.commands", "synclab.commands.pytest_plugin"]
    ''')
    done = _pytest(_project(tmp_path, {"test_plain.py": plain}))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout and "synclab stress tests" not in done.stdout


# --- on the free-threaded build -------------------------------------------------------------------

# Read, sleep, write: the lost update of `self.x += 1` with a window that holds a sleep, so that the
# two actors meet inside it even when this machine's cores are busy with other work (the bare `+=`
# needs both threads running at the same moment; the kernel's own tests show that race).
RACY = textwrap.dedent('''
    import os
    import time

    import synclab

    with open(os.path.join(os.path.dirname(__file__), "imported-by.txt"), "a") as pids:
        pids.write(f"{os.getpid()}\\n")  # which processes imported this module

    @synclab.stress(outcomes={"2": synclab.ACCEPTABLE, "1": synclab.INTERESTING("lost update: both actors read 0")})
    class CounterIncrement:
        def __init__(self):
            self.x = 0

        def actor1(self):
            x = self.x
            time.sleep(1e-5)
            self.x = x + 1

        def actor2(self):
            x = self.x
            time.sleep(1e-5)
            self.x = x + 1

        def arbiter(self):
            return self.x
''')


def _distributions(root: str) -> List[importlib.metadata.Distribution]:
    """root and what it requires (on this interpreter's markers), each once."""
    from packaging.requirements import Requirement

    found: Dict[str, importlib.metadata.Distribution] = {}
    todo = [root]
    while todo:
        dist = importlib.metadata.distribution(todo.pop())
        name = dist.metadata["Name"].lower()
        if name in found:
            continue
        found[name] = dist
        requires: Sequence[str] = dist.requires or ()
        todo.extend(req.name for req in map(Requirement, requires)
                    if req.marker is None or req.marker.evaluate({"extra": ""}))
    return list(found.values())


@pytest.fixture(scope="module")
def pytest_for_free_threaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This venv's pytest and what it requires (pure Python), linked into one directory for a
    free-threaded interpreter that has none installed."""
    lib = tmp_path_factory.mktemp("pytest-lib")
    for dist in _distributions("pytest"):
        tops = {Path(str(entry)).parts[0] for entry in dist.files or () if not str(entry).startswith("..")}
        for top in sorted(tops - {"__pycache__"}):
            if not (lib / top).exists():
                (lib / top).symlink_to(Path(str(dist.locate_file(top))))
    return lib


def _pytest_free_threaded(python: str, lib: Path, where: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    # That interpreter has no synclab installed, so no entry point: the plugin is named with -p.
    env = _env(PYTHONPATH=os.pathsep.join((str(lib), str(SRC))), PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    return _pytest(where, "-p", "synclab.commands.pytest_plugin", *args, python=python, env=env)


def test_free_threaded_without_the_gil_a_racy_counter_shows_its_lost_update_and_passes(
        free_threaded_python, pytest_for_free_threaded: Path, tmp_path: Path) -> None:
    where = _project(tmp_path, {"test_race.py": RACY})
    done = _pytest_free_threaded(free_threaded_python.path, pytest_for_free_threaded, where,
                                 "--synclab-gil=disabled", "--synclab-time-budget=0.3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^=+ 1 passed in ", done.stdout, flags=re.M)
    summary = done.stdout.split("= synclab stress tests =", 1)[1]
    _histogram_shape(summary, "CounterIncrement", "GIL disabled")  # an interesting outcome's is always shown
    assert re.search(r"^  1 +[\d,]+ +\S+% +interesting +lost update: both actors read 0$", summary, flags=re.M)
    assert re.search(r"^  interesting: seen in [\d,]+ of [\d,]+ samples", summary, flags=re.M)
    assert re.search(r"^1 stress test, [\d,]+ samples: 0 failed \(forbidden outcome seen\), 1 with an interesting",
                     summary, flags=re.M)
    assert len(set((where / "imported-by.txt").read_text().split())) == 1  # pytest's own process ran it


def test_free_threaded_a_gil_state_this_process_is_not_in_runs_in_a_fresh_interpreter(
        free_threaded_python, pytest_for_free_threaded: Path, tmp_path: Path) -> None:
    """pytest runs without the GIL (the build's default); --synclab-gil=enabled can only be had in
    another process, and the histogram says the GIL was on there."""
    where = _project(tmp_path, {"test_race.py": RACY})
    done = _pytest_free_threaded(free_threaded_python.path, pytest_for_free_threaded, where,
                                 "--synclab-gil=enabled", "--synclab-time-budget=0.2", "-v")
    assert done.returncode == 0, done.stdout + done.stderr
    _histogram_shape(done.stdout.split("= synclab stress tests =", 1)[1], "CounterIncrement", "GIL enabled")
    assert len(set((where / "imported-by.txt").read_text().split())) == 2  # pytest's and the fresh one's
