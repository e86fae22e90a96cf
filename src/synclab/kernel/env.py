"""Capture of the environment a run happened in, kept apart from the measuring code.

What cannot change during a process (interpreter, machine, packages, checkout) is captured
once and reused by every job of a sweep; only what can (load, start method) is read per job.
Standard library only, and Python 3.8 compatible: ``synclab.kernel.child`` captures with it inside
other interpreters. No subprocess is started except git, once per process.
"""

import functools
import hashlib
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
import sysconfig
import threading
# imported here, never first in the capture's background thread: a thread importing importlib's
# packages while the main thread does can end in a deadlock error
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

# Always listed in ``packages``, as null when missing, so their absence is recorded too.
PACKAGES = ("synclab", "hydra-core", "omegaconf", "loguru")
# Written beside env.json when the checkout has uncommitted changes to tracked files.
PATCH = "source.patch"
_GIT_TIMEOUT_S = 5


def _metadata_header(dist: Any) -> Tuple[Optional[str], Optional[str]]:
    """Name and version from a distribution's METADATA header, without parsing its long description."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    name = version = None
    for line in text.splitlines():
        if not line.strip():
            break  # the header ends at the first blank line
        if line.startswith("Name:"):
            name = line[5:].strip()
        elif line.startswith("Version:"):
            version = line[8:].strip()
    return name, version


def installed_packages() -> Dict[str, Optional[str]]:
    """Every distribution importable from this interpreter's path, name -> version (from its metadata).

    The first one on sys.path wins, as it does for import.
    """
    found: Dict[str, Optional[str]] = {}  # lower-case name -> version
    names: Dict[str, str] = {}  # lower-case name -> name as published
    for dist in metadata.distributions():
        try:
            name, version = _metadata_header(dist)
        except (OSError, UnicodeDecodeError):
            continue
        if name and name.lower() not in names:
            names[name.lower()] = name
            found[name.lower()] = version
    packages: Dict[str, Optional[str]] = {name: found.get(name.lower()) for name in PACKAGES}
    listed = {name.lower() for name in PACKAGES}
    for lower in sorted(found):
        if lower not in listed:
            packages[names[lower]] = found[lower]
    return packages


def _git(*args: str, cwd: Path) -> Optional[bytes]:
    try:
        done = subprocess.run(
            ["git", *args], cwd=str(cwd), capture_output=True, timeout=_GIT_TIMEOUT_S, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


@functools.lru_cache(maxsize=4)
def git_diff(where: Path) -> Optional[bytes]:
    """Uncommitted changes to tracked files of the checkout holding ``where``, as a patch."""
    return _git("diff", "HEAD", "--binary", "--no-color", "--no-ext-diff", cwd=where)


def git_state(where: Path) -> Dict[str, Any]:
    """Commit, branch and dirty flag of the checkout holding ``where`` (one git call); nulls outside one.

    Dirty means tracked files differ from the commit (untracked files do not count); then the
    diff's size and sha256 are recorded too, and the patch itself is kept beside env.json.
    """
    status = _git("status", "--porcelain=v2", "--branch", "--untracked-files=no", cwd=where)
    state: Dict[str, Any] = {"commit": None, "branch": None, "dirty": None}
    if status is None:
        return state
    changed = False
    for line in status.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            oid = line.split(" ", 2)[2].strip()
            state["commit"] = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2].strip()
            state["branch"] = "HEAD" if head == "(detached)" else head
        elif line and not line.startswith("#"):
            changed = True
    state["dirty"] = changed
    if changed:
        diff = git_diff(where)
        state["patch"] = PATCH if diff else None
        state["diff_bytes"] = None if diff is None else len(diff)
        state["diff_sha256"] = None if diff is None else hashlib.sha256(diff).hexdigest()
    return state


def source_dir() -> Path:
    """The directory of the synclab code that runs: its checkout is the one recorded."""
    return Path(__file__).resolve().parent


def gil_enabled() -> bool:
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def cpu_model() -> Optional[str]:
    """The CPU's model name as the kernel reports it (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("model name", "Model", "cpu model", "Hardware"):
                    return value.strip() or None
    except OSError:
        pass
    return platform.processor() or None


def usable_cpus() -> Optional[List[int]]:
    """The CPUs this process may run on (its affinity), where the platform tells."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is None:
        return None
    try:
        return sorted(affinity(0))
    except OSError:
        return None


def os_release() -> Optional[str]:
    """The distribution's name (/etc/os-release PRETTY_NAME), where there is one."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.startswith("PRETTY_NAME="):
                        return line.split("=", 1)[1].strip().strip("\"'") or None
        except OSError:
            continue
    return None


def load_average() -> Optional[List[float]]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


_static_lock = threading.Lock()


def prefetch() -> None:
    """Start reading the process's capture in the background (git and package metadata wait
    on the disk), so it overlaps with Hydra composing the configuration. A job still calls
    capture() before it starts any worker, so no worker is forked while this thread runs."""
    threading.Thread(target=static_capture, name="synclab-env-capture", daemon=True).start()


def static_capture() -> Dict[str, Any]:
    """The part that is the same for every job of this process, read once."""
    with _static_lock:
        return _static_capture()


@functools.lru_cache(maxsize=1)
def _static_capture() -> Dict[str, Any]:
    build_number, build_date = platform.python_build()
    cpus = usable_cpus()
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "compiler": platform.python_compiler(),
            "build": f"{build_number}, {build_date}",
            "free_threaded": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
            "gil_enabled": gil_enabled(),
            "hash_seed": os.environ.get("PYTHONHASHSEED"),  # null: random per process
            "hash_randomization": bool(sys.flags.hash_randomization),
        },
        "platform": platform.platform(),
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "version": platform.version(),
            "distribution": os_release(),
        },
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": cpus,
        "start_methods": multiprocessing.get_all_start_methods(),
        "packages": installed_packages(),
        "git": git_state(source_dir()),
    }


def interpreter_record(env: Dict[str, Any]) -> Dict[str, Any]:
    """What result.json keeps of the interpreter that ran the loop: what decides whether two runs
    measured the same thing (implementation, version, build, GIL state, start method)."""
    python = env.get("python") or {}
    return {
        "implementation": python.get("implementation"),
        "version": python.get("version"),
        "free_threaded": python.get("free_threaded"),
        "gil_enabled": python.get("gil_enabled"),
        "start_method": env.get("start_method"),
    }


def capture(start_method: Optional[str]) -> Dict[str, Any]:
    """Everything env.json records for one job: the process's capture plus what can change per job."""
    return {
        **static_capture(),
        "load_average": load_average(),
        "start_method": start_method or multiprocessing.get_start_method(allow_none=False),
        "switch_interval": sys.getswitchinterval(),
    }
