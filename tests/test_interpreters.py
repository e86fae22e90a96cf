"""Other interpreters: discovery, the standard-library-only rule for the measuring side, and
the answer to the notebook's GIL question under every interpreter this machine has.

Interpreters other than the running one are optional: a test that needs one is skipped, with
the reason, where none is installed."""

import ast
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest

from synclab.kernel.interpreters import Interpreter, discover, probe, resolve
from synclab.kernel.remote import run_in_interpreter
from synclab.kernel.spec import ConfigError, ExperimentSpec

from conftest import ROOT, run_cli

SRC = ROOT / "src"
# The part that runs experiments: it executes inside whatever interpreter `python=` names.
_KERNEL = Path(__file__).resolve().parents[1] / "src" / "synclab" / "kernel"
# every module of the kernel, dotted below it: spec, primitives, primitives.pools, ...
MEASURING = tuple(sorted(".".join(path.relative_to(_KERNEL).with_suffix("").parts).replace(".__init__", "")
                         for path in _KERNEL.rglob("*.py") if path != _KERNEL / "__init__.py"))
THIRD_PARTY = ("hydra", "omegaconf", "loguru", "matplotlib", "yaml")

FOUND: List[Interpreter] = [i for i in discover() if i.supported]


def _oldest() -> Interpreter:
    return min(FOUND, key=lambda i: i.version_tuple)


def _id(found: Interpreter) -> str:
    return f"python{found.version}{'t' if found.free_threaded else ''}"


# --- discovery ----------------------------------------------------------------------------------


def test_the_running_interpreter_is_always_found() -> None:
    versions = {(i.version, i.implementation) for i in FOUND}
    assert (platform.python_version(), platform.python_implementation()) in versions
    first = discover([sys.executable])
    assert len(first) == 1 and first[0].path == sys.executable and first[0].supported


def test_discovered_interpreters_confirm_their_own_facts() -> None:
    for found in FOUND:
        facts = json.loads(
            subprocess.run(
                [found.path, "-c", "import json, platform; print(json.dumps(platform.python_version()))"],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout
        )
        assert facts == found.version


@pytest.mark.parametrize("path", ["/bin/true", "/bin/false", "/nonexistent/python3"])
def test_something_that_is_not_python_is_not_an_interpreter(path: str) -> None:
    assert probe(path) is None


def test_a_version_resolves_to_an_interpreter_of_that_version() -> None:
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    found = resolve(wanted)
    assert found.version.startswith(wanted + ".") and found.supported


def test_a_path_resolves_to_that_interpreter() -> None:
    assert resolve(sys.executable).version == platform.python_version()


@pytest.mark.parametrize(
    "request_, words",
    [
        ("3.1", ["python: no Python 3.1 found", "pyenv", "synclab interpreters"]),
        ("2.99", ["python: no Python 2.99 found"]),
        ("three", ["python:", "neither a version", "nor a path"]),
        ("/nonexistent/python3", ["python:", "not a Python interpreter"]),
    ],
)
def test_a_missing_interpreter_is_a_configuration_error_naming_what_was_looked_for(
    request_: str, words: List[str]
) -> None:
    with pytest.raises(ConfigError) as error:
        resolve(request_)
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_an_interpreter_too_old_for_the_runner_is_refused() -> None:
    old = [i for i in discover() if not i.supported]
    if not old:
        pytest.skip("no Python older than 3.8 on this machine")
    with pytest.raises(ConfigError, match="needs 3.8 or newer"):
        resolve(old[0].path)


def test_the_interpreters_command_lists_what_it_finds() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "synclab", "interpreters", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    listed = json.loads(done.stdout)
    assert {i["version"] for i in listed} >= {i.version for i in FOUND}
    for entry in listed:
        assert set(entry) >= {"path", "version", "implementation", "free_threaded", "gil_enabled", "supported"}
    table = subprocess.run(
        [sys.executable, "-m", "synclab", "interpreters"], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert platform.python_version() in table and "free-threaded" in table and "GIL" in table


# --- the measuring side is standard library only -------------------------------------------------


def _imported_top_level(module: str) -> "set[str]":
    path = SRC / "synclab" / "kernel" / Path(*module.split("."))
    tree = ast.parse((path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", MEASURING)
def test_measuring_modules_import_only_the_standard_library(module: str) -> None:
    if not hasattr(sys, "stdlib_module_names"):
        pytest.skip("sys.stdlib_module_names needs Python 3.10")
    outside = _imported_top_level(module) - set(sys.stdlib_module_names) - {"synclab"}
    assert not outside, f"synclab.kernel.{module} imports {sorted(outside)}"


def test_measuring_modules_import_in_a_clean_oldest_interpreter() -> None:
    """Under the oldest Python found, with no site-packages at all (-S) and no environment (-I)."""
    oldest = _oldest()
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        + "".join(f"import synclab.kernel.{m};" for m in MEASURING)
        + f"print(sorted(m for m in {THIRD_PARTY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [oldest.path, "-I", "-S", "-c", code, str(SRC)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_experiment_runs_under_the_oldest_interpreter_and_reports_its_capture() -> None:
    oldest = _oldest()
    envs = []
    spec = ExperimentSpec(primitive="thread", lock="explicit", workers=4, times=2000, repeats=2)
    result = run_in_interpreter(oldest.path, spec, on_env=envs.append)
    assert [run.outcome for run in result.runs] == ["consistent"] * 2
    assert all(run.ops_done == spec.ops_expected for run in result.runs)
    assert envs and envs[0]["python"]["version"] == oldest.version
    assert envs[0]["python"]["executable"] == oldest.path or os.path.samefile(envs[0]["python"]["executable"], oldest.path)


def test_python_key_through_the_command_line(tmp_path: Path) -> None:
    oldest = _oldest()
    version = ".".join(oldest.version.split(".")[:2])
    run = run_cli([f"python={version}", "primitive=thread", "lock=context", "workers=2", "times=1000",
                   "repeats=1", f"hydra.run.dir={tmp_path / 'run'}"])
    assert run.returncode == 0, run.stderr
    env = json.loads((tmp_path / "run" / "env.json").read_text())
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert env["python"]["version"] == oldest.version
    assert result["config"]["python"] == version
    assert [r["outcome"] for r in result["runs"]] == ["consistent"]


# --- the GIL question, per interpreter and increment -------------------------------------------


def _expected_without_lock(found: Interpreter, increment: str) -> Optional[str]:
    """What this interpreter must show for unlocked threads, or None where synclab makes no claim.

    CPython with the GIL switches threads only where its eval loop checks for a request: from
    3.10 on, that is at calls and backward jumps, never between the read and the write of
    `balance += 1` or `balance = balance + 1`; before 3.10 it can be at almost any instruction.
    A call between the read and the write (read_call_write) opens the window everywhere."""
    if found.implementation != "CPython" or found.free_threaded or not found.gil_enabled:
        return None
    if increment == "read_call_write" or found.version_tuple[:2] < (3, 10):
        return "lost_updates"
    return "consistent"


# 4 depositing threads with a 1 us switch interval: each thread's loop spans thousands of forced
# switches, so an open window is hit in every repeat where the interpreter has one.
@pytest.mark.parametrize("shape", ["inplace", "read_modify_write", "read_call_write"])
@pytest.mark.parametrize("found", FOUND, ids=_id)
def test_unlocked_threads_lose_updates_exactly_where_the_interpreter_allows_it(found: Interpreter, shape: str) -> None:
    expected = _expected_without_lock(found, shape)
    if expected is None:
        pytest.skip(f"no claim for {_id(found)} ({found.implementation}, free-threaded={found.free_threaded})")
    # a lossy cell must lose in every repeat: twice the operations make a repeat with no switch
    # inside an open window vanishingly unlikely, even on a loaded machine
    spec = ExperimentSpec(
        primitive="thread", lock="none", workers=4, times=100_000 if expected == "consistent" else 200_000,
        direction="deposit", increment=shape, switch_interval=1e-6, repeats=2,
    )
    result = run_in_interpreter(found.path, spec)
    assert [run.outcome for run in result.runs] == [expected] * 2, [(run.outcome, run.drift) for run in result.runs]
    for run in result.runs:
        assert run.ops_done == spec.ops_expected
        assert (run.after == spec.expected) == (expected == "consistent")
