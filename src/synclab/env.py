"""Capture of the environment a run happened in, kept apart from the measuring code.

What cannot change during a process (interpreter, machine, packages, checkout) is captured
once and reused by every job of a sweep; only what can (load, start method) is read per job.
"""

import functools
import multiprocessing
import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Optional

PACKAGES = ("hydra-core", "omegaconf", "loguru")


def _version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git(*args: str, cwd: Path) -> Optional[str]:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout


def git_state(where: Path) -> Dict[str, Any]:
    """Commit, branch and dirty flag of the checkout holding ``where``; nulls outside one."""
    commit = _git("rev-parse", "HEAD", cwd=where)
    if commit is None:
        return {"commit": None, "branch": None, "dirty": None}
    branch = _git("rev-parse", "--abbrev-ref", "HEAD", cwd=where)
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=where)
    return {
        "commit": commit.strip(),
        "branch": branch.strip() if branch else None,
        "dirty": None if status is None else bool(status.strip()),
    }


def gil_enabled() -> bool:
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


@functools.lru_cache(maxsize=1)
def static_capture() -> Dict[str, Any]:
    """The part that is the same for every job of this process."""
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "gil_enabled": gil_enabled(),
        },
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "packages": {name: _version(name) for name in ("synclab",) + PACKAGES},
        "git": git_state(Path(__file__).resolve().parent),
    }


def capture(start_method: Optional[str]) -> Dict[str, Any]:
    """Everything env.json records for one job."""
    return {
        **static_capture(),
        "start_method": start_method or multiprocessing.get_start_method(allow_none=False),
        "switch_interval": sys.getswitchinterval(),
    }
