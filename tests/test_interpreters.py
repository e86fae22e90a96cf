"""Other interpreters: discovery, the standard-library-only rule for the measuring side, and
the answer to the notebook's GIL question under every interpreter this machine has.

Interpreters other than the running one are optional: a test that needs one is skipped, with
the reason, where none is installed (one that needs a free-threaded build fails instead under
SYNCLAB_REQUIRE_FREE_THREADED=1, as in CI)."""

import ast
import json
import os
import platform
import re
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from synclab.kernel import interpreters
from synclab.kernel.interpreters import EXTRA, Interpreter, discover, probe, resolve
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
        assert set(entry) == {"path", "version", "implementation", "free_threaded", "gil_default", "gil_enabled",
                              "supported"}
        assert entry["gil_enabled"] == entry["gil_default"]
    table = subprocess.run(
        [sys.executable, "-m", "synclab", "interpreters"], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert platform.python_version() in table and "build" in table and "GIL by default" in table


# --- where discovery looks: each place, as a tree under tmp_path holding a real interpreter -------

# Where each place keeps an interpreter, below the test's tmp_path ({tmp}), and the environment
# that points discovery there (None: unset). {exe} is the interpreter's name (python3.13t),
# {pyenv}, {uv} and {install} the directory pyenv, uv and ../shared/interpreters/unpack.sh give it.
LAYOUTS: Dict[str, "tuple[str, Dict[str, Optional[str]]]"] = {
    "PATH": ("bin/{exe}", {"PATH": "{tmp}/bin"}),
    "pyenv": ("pyenv/versions/{pyenv}/bin/{exe}", {"PYENV_ROOT": "{tmp}/pyenv"}),
    "uv UV_PYTHON_INSTALL_DIR": ("uv-pythons/{uv}/bin/{exe}", {"UV_PYTHON_INSTALL_DIR": "{tmp}/uv-pythons"}),
    "uv XDG_DATA_HOME": ("data/uv/python/{uv}/bin/{exe}",
                         {"UV_PYTHON_INSTALL_DIR": None, "XDG_DATA_HOME": "{tmp}/data"}),
    "uv home": ("home/.local/share/uv/python/{uv}/bin/{exe}", {"UV_PYTHON_INSTALL_DIR": None}),
    "SYNCLAB_PYTHONS file": ("anywhere/my-python", {EXTRA: "{tmp}/missing" + os.pathsep + "{tmp}/anywhere/my-python"}),
    "SYNCLAB_PYTHONS dir": ("dir/{exe}", {EXTRA: "{tmp}/dir"}),
    "SYNCLAB_PYTHONS prefix": ("prefix/bin/{exe}", {EXTRA: "{tmp}/prefix"}),
    "SYNCLAB_PYTHONS dir of installs": ("home/pythons/{install}/bin/{exe}", {EXTRA: "~/pythons"}),
}


def _names(found: Interpreter) -> Dict[str, str]:
    minor = ".".join(found.version.split(".")[:2])
    t = "t" if found.free_threaded else ""
    return {"exe": f"python{minor}{t}", "pyenv": f"{found.version}{t}", "install": f"cpython-{found.version}{t}",
            "uv": f"cpython-{found.version}{'+freethreaded' if t else ''}-linux-x86_64-gnu",
            # python=3.13t; a GIL build by its full version, which the running interpreter cannot also answer
            "request": minor + t if t else found.version}


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Discovery sees the running interpreter only, until a test points it somewhere below tmp_path."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "no-uv"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv(EXTRA, raising=False)
    monkeypatch.setattr(interpreters, "SYSTEM_DIRS", ())
    return tmp_path


@pytest.fixture(params=["free-threaded", "GIL"])
def linked(request: pytest.FixtureRequest) -> Interpreter:
    """A real interpreter to link into a tree: the free-threaded one, or a GIL build of another
    version than the running one."""
    if request.param == "free-threaded":
        found: Optional[Interpreter] = request.getfixturevalue("free_threaded_python")
    else:
        found = next((i for i in FOUND if not i.free_threaded and i.version != platform.python_version()), None)
        if found is None:
            pytest.skip("no GIL interpreter of another version than the running one")
    assert found is not None
    if os.path.realpath(found.path) == os.path.realpath(sys.executable):
        pytest.skip(f"{found.path} is the running interpreter, which discovery always lists first")
    return found


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_place_discovery_looks_finds_the_interpreter_kept_there(
    layout: str, linked: Interpreter, nowhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where, env = LAYOUTS[layout]
    names = _names(linked)
    exe = nowhere / where.format(**names)
    exe.parent.mkdir(parents=True)
    exe.symlink_to(os.path.realpath(linked.path))
    (exe.parent / "python3").symlink_to(exe.name)  # as installs have it: reported by its own name
    assert [i.path for i in discover()] == [sys.executable]
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value.replace("{tmp}", str(nowhere)))
    others = [i for i in discover() if i.path != sys.executable]
    assert [(i.path, i.version, i.free_threaded, i.gil_default) for i in others] == [
        (str(exe), linked.version, linked.free_threaded, not linked.free_threaded)
    ]
    assert resolve(names["request"]).path == str(exe)
    other_build = names["request"][:-1] if linked.free_threaded else names["request"] + "t"
    try:
        chosen: Optional[str] = resolve(other_build).path  # the running interpreter may be one
    except ConfigError:
        chosen = None
    assert chosen != str(exe)


def test_a_hard_link_to_an_interpreter_already_asked_is_not_asked_again(
    free_threaded_python: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = Path(free_threaded_python.path).parent
    links = [str(path) for path in sorted(here.glob("python3*")) if os.path.samefile(path, free_threaded_python.path)]
    if len(links) < 2:
        pytest.skip(f"{here} holds no second link to {Path(free_threaded_python.path).name}")
    asked: List[str] = []
    monkeypatch.setattr(interpreters, "probe", lambda path: asked.append(path) or probe(path))
    assert [i.path for i in discover(links)] == links[:1] and asked == links[:1]


def test_a_version_not_found_names_every_place_looked(nowhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXTRA, str(nowhere / "mine"))
    with pytest.raises(ConfigError) as error:
        resolve("3.99t")
    message = str(error.value)
    assert "\n" not in message and message.startswith("python: no Python 3.99t found (looked in: ")
    for place in ("the running interpreter", f"{EXTRA} ({nowhere / 'mine'})", "PATH",
                  f"pyenv ({nowhere / 'no-pyenv' / 'versions'})", f"uv ({nowhere / 'no-uv'})", "synclab interpreters"):
        assert place in message


def test_the_probe_reports_a_free_threaded_builds_default_whatever_PYTHON_GIL_says(
    free_threaded_python: Interpreter, monkeypatch: pytest.MonkeyPatch
) -> None:
    check = [free_threaded_python.path, "-c", "import sys; print(sys._is_gil_enabled())"]
    told = subprocess.run(check, env={**os.environ, "PYTHON_GIL": "1"}, capture_output=True, text=True, timeout=30)
    assert told.stdout.strip() == "True"  # the setting the probe must not pass on
    for value in ("1", "0"):
        monkeypatch.setenv("PYTHON_GIL", value)
        found = probe(free_threaded_python.path)
        assert found is not None and found.free_threaded and found.gil_default is False


def test_a_callers_PYTHON_GIL_0_does_not_hide_the_GIL_builds_that_refuse_it(monkeypatch: pytest.MonkeyPatch) -> None:
    newer = [i for i in FOUND if not i.free_threaded and i.version_tuple[:2] >= (3, 13)]
    if not newer:
        pytest.skip("no GIL build of Python 3.13 or newer (the first to read PYTHON_GIL)")
    refused = subprocess.run([newer[0].path, "-c", "pass"], env={**os.environ, "PYTHON_GIL": "0"},
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0  # a GIL build cannot start with the GIL disabled
    monkeypatch.setenv("PYTHON_GIL", "0")
    found = probe(newer[0].path)
    assert found is not None and not found.free_threaded and found.gil_default is True


def _command(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synclab", "interpreters", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_the_interpreters_command_shows_each_build_and_its_gil_default(free_threaded_python: Interpreter) -> None:
    table = _command()
    assert table.returncode == 0, table.stderr
    header, _, *rows = table.stdout.splitlines()
    columns = ["version", "implementation", "build", "GIL by default", "usable", "path"]
    assert re.split(r"\s{2,}", header.strip()) == columns
    cells = {row.split()[-1]: re.split(r"\s{2,}", row.strip()) for row in rows}
    assert cells[free_threaded_python.path] == [free_threaded_python.version, "CPython", "free-threaded", "no", "yes",
                                                free_threaded_python.path]
    running_build = "free-threaded" if sysconfig.get_config_var("Py_GIL_DISABLED") else "GIL"
    assert cells[sys.executable][:5] == [platform.python_version(), platform.python_implementation(), running_build,
                                         "no" if running_build == "free-threaded" else "yes", "yes"]
    listed = {entry["path"]: entry for entry in json.loads(_command("--json").stdout)}
    assert {key: listed[free_threaded_python.path][key] for key in ("free_threaded", "gil_default", "gil_enabled")} == {
        "free_threaded": True, "gil_default": False, "gil_enabled": False}


def test_a_SYNCLAB_PYTHONS_entry_that_gives_no_interpreter_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    entries = [str(tmp_path / "missing"), "/bin/true", str(tmp_path / "empty")]
    done = _command(**{EXTRA: os.pathsep.join(entries)})
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == len(entries)
    for line, entry, why in zip(lines, entries, ("does not exist", "is not a Python interpreter that answers",
                                                 "is a directory with no python3* interpreter")):
        assert line.startswith(f"synclab interpreters: {EXTRA}: {entry} {why}")
    assert "Traceback" not in done.stderr and platform.python_version() in done.stdout  # the list still printed


def test_sweep_values_name_each_build_so_that_each_selects_it(free_threaded_python: Interpreter) -> None:
    from synclab.app.config import _interpreter_versions

    values = _interpreter_versions().split(",")
    assert free_threaded_python.name in values and free_threaded_python.name.endswith("t")
    assert resolve(free_threaded_python.name).free_threaded


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
    A call between the read and the write (read_call_write) opens the window everywhere. A
    free-threaded build, run with its GIL disabled, runs the threads at once: every shape races."""
    if found.implementation != "CPython":
        return None
    if found.free_threaded:
        return "lost_updates"
    if not found.gil_default:
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
    # without a GIL the race needs two threads on the CPU at once, or the OS preempting one between
    # its read and its write: 8 threads give either many chances even on a loaded machine
    spec = ExperimentSpec(
        primitive="thread", lock="none", workers=8 if found.free_threaded else 4,
        times=100_000 if expected == "consistent" else 200_000,
        direction="deposit", increment=shape, switch_interval=1e-6, repeats=2,
        gil="disabled" if found.free_threaded else None,
    )
    result = run_in_interpreter(found.path, spec, free_threaded=found.free_threaded)
    assert [run.outcome for run in result.runs] == [expected] * 2, [(run.outcome, run.drift) for run in result.runs]
    for run in result.runs:
        assert run.ops_done == spec.ops_expected
        assert (run.after == spec.expected) == (expected == "consistent")
