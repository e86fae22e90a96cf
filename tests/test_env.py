"""env.json: every captured field present and true for this machine, captured once per process,
the dirty checkout's diff kept as a patch, and the capture working under Python 3.8."""

import glob
import hashlib
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from synclab.kernel import env

from conftest import ROOT


def _git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


# A child that changes what capture must see, and reports it through other means than env.py uses.
_CHILD = """
import json, multiprocessing, os, sys
multiprocessing.set_start_method("spawn")
sys.setswitchinterval(0.0025)
from synclab.kernel import env
print(json.dumps({"captured": env.capture(None), "version": sys.version, "version_info": list(sys.version_info[:3]),
                  "implementation": sys.implementation.name, "release": os.uname().release}))
"""


def _allowed_cpus() -> "list[int]":
    """The CPUs the kernel lets a process run on, from /proc/self/status ("0-1,4")."""
    text = next(line for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("Cpus_allowed_list:")).split(":", 1)[1].strip()
    cpus: "list[int]" = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.extend(range(int(low), int(high or low) + 1))
    return cpus


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="reads the truth from Linux's /proc")
def test_capture_is_true_for_this_machine() -> None:
    done = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, "PYTHONHASHSEED": "0"})
    facts = json.loads(done.stdout)
    captured, python = facts["captured"], facts["captured"]["python"]
    assert python["version"] == ".".join(map(str, facts["version_info"]))
    assert python["implementation"].lower() == facts["implementation"]
    assert python["executable"] == sys.executable
    assert f"[{python['compiler']}]" in facts["version"]  # sys.version ends with the compiler in brackets
    free_threaded = "free-threading" in facts["version"]
    assert python["free_threaded"] is free_threaded
    if not free_threaded:
        assert python["gil_enabled"] is True
    assert (python["hash_seed"], python["hash_randomization"]) == ("0", False)  # PYTHONHASHSEED=0 turns it off
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    assert captured["cpu_count"] == sum(line.startswith("processor") for line in cpuinfo)
    assert captured["cpus_usable"] == _allowed_cpus()
    models = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    if models:
        assert captured["cpu_model"] in models
    load = captured["load_average"]
    assert len(load) == 3 and all(isinstance(value, float) and value >= 0 for value in load)
    assert (captured["os"]["system"], captured["os"]["release"]) == ("Linux", facts["release"])
    assert captured["start_method"] == "spawn" and "fork" in captured["start_methods"]
    assert captured["switch_interval"] == 0.0025
    assert env.capture("forkserver")["start_method"] == "forkserver"


def test_packages_come_from_installed_metadata() -> None:
    packages = env.capture(None)["packages"]
    assert list(packages)[:4] == list(env.PACKAGES)  # the core ones first, always present
    for name in ("hydra-core", "omegaconf", "loguru", "pytest", "PyYAML"):
        assert packages[name] == metadata.version(name)
    assert packages["synclab"] == __import__("synclab").__version__


def test_git_state_of_this_checkout() -> None:
    state = env.capture(None)["git"]
    assert state["commit"] == _git("rev-parse", "HEAD").strip()
    assert state["branch"] == _git("rev-parse", "--abbrev-ref", "HEAD").strip()
    assert state["dirty"] is bool(_git("status", "--porcelain", "--untracked-files=no").strip())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A one-commit git checkout."""
    for args in (("init", "-q", "-b", "main"), ("config", "user.email", "t@example.org"),
                 ("config", "user.name", "t")):
        _git(*args, cwd=tmp_path)
    (tmp_path / "tracked.txt").write_text("one\n")
    _git("add", "tracked.txt", cwd=tmp_path)
    _git("commit", "-q", "-m", "first", cwd=tmp_path)
    return tmp_path


def test_git_state_clean_untracked_and_dirty(repo: Path) -> None:
    head = _git("rev-parse", "HEAD", cwd=repo).strip()
    assert env.git_state(repo) == {"commit": head, "branch": "main", "dirty": False}
    (repo / "untracked.txt").write_text("not part of the checkout\n")
    assert env.git_state(repo)["dirty"] is False
    (repo / "tracked.txt").write_text("two\n")
    state = env.git_state(repo)
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=repo, capture_output=True, check=True).stdout
    assert state["dirty"] is True and state["patch"] == env.PATCH
    assert state["diff_sha256"] == hashlib.sha256(diff).hexdigest()
    assert state["diff_bytes"] == len(diff) and b"+two" in diff


def test_git_state_outside_a_checkout(tmp_path: Path) -> None:
    assert env.git_state(tmp_path) == {"commit": None, "branch": None, "dirty": None}


def test_captured_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep's jobs reuse the capture: git and the package list are read once, not per job."""
    calls = []
    real_git, real_packages = env._git, env.installed_packages
    monkeypatch.setattr(env, "_git", lambda *args, **kw: calls.append(args) or real_git(*args, **kw))
    monkeypatch.setattr(env, "installed_packages", lambda: calls.append("packages") or real_packages())
    env._static_capture.cache_clear()
    env.git_diff.cache_clear()
    try:
        first = [env.capture(None) for _ in range(5)]
    finally:
        env._static_capture.cache_clear()
        env.git_diff.cache_clear()
    assert calls.count("packages") == 1
    assert 1 <= len([c for c in calls if c != "packages"]) <= 2  # status, and diff when dirty
    assert all(job["git"] == first[0]["git"] for job in first)


def test_run_writes_env_json_and_the_patch_when_dirty(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = cli(["primitive=thread", "lock=explicit", "times=100", "repeats=1", f"hydra.run.dir={out}"])
    assert done.returncode == 0, done.stderr
    written = json.loads((out / "env.json").read_text())
    assert written["python"]["version"] == platform.python_version()
    assert written["packages"]["hydra-core"] == metadata.version("hydra-core")
    git = written["git"]
    assert git["commit"] == _git("rev-parse", "HEAD").strip()
    if git["dirty"]:
        patch = (out / env.PATCH).read_bytes()
        assert hashlib.sha256(patch).hexdigest() == git["diff_sha256"]
    else:
        assert not (out / env.PATCH).exists()


def _python38() -> str:
    found = sorted(glob.glob(str(Path.home() / ".pyenv/versions/3.8*/bin/python")))
    if not found:
        pytest.skip("no Python 3.8 on this machine")
    return found[-1]


def test_capture_runs_under_python_3_8() -> None:
    """synclab.kernel.child captures inside other interpreters with the standard library only."""
    code = "import json, sys; sys.path.insert(0, sys.argv[1]); import synclab.kernel.env as e; print(json.dumps(e.capture(None)))"
    done = subprocess.run([_python38(), "-c", code, str(ROOT / "src")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    captured = json.loads(done.stdout)
    assert captured["python"]["version"].startswith("3.8.")
    assert set(captured) == set(env.capture(None))
    assert captured["git"]["commit"] == _git("rev-parse", "HEAD").strip()
