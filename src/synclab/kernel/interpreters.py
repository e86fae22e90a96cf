"""Find Python interpreters on this machine and describe them, so an experiment can run
under each (the ``python`` key) and ``synclab interpreters`` can list them.

Looked for: the running interpreter, every path named in ``SYNCLAB_PYTHONS`` (separated like
PATH), ``python3.X`` (and free-threaded ``python3.Xt``) on PATH, pyenv's versions, and the
usual system directories. Each candidate is asked for its own facts in a subprocess, so a
list never claims what an interpreter would not confirm.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from synclab.kernel.spec import ConfigError, shorten

MIN_VERSION = (3, 8)  # the runner's oldest supported Python
_PROBE = (
    "import json, platform, sys, sysconfig;"
    "gil = getattr(sys, '_is_gil_enabled', None);"
    "print(json.dumps({'version': platform.python_version(), 'implementation': platform.python_implementation(),"
    " 'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')),"
    " 'gil_enabled': True if gil is None else bool(gil())}))"
)
_NAME = re.compile(r"^python3(\.\d+)?t?$")
VERSION = re.compile(r"(\d+)\.(\d+)(\.\d+)?(t?)")  # a python value naming a version: 3.9, 3.13.1, 3.13t
EXTRA = "SYNCLAB_PYTHONS"  # interpreters in places discovery does not look, separated like PATH


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    implementation: str
    free_threaded: bool
    gil_enabled: bool

    @property
    def version_tuple(self) -> "tuple[int, ...]":
        return tuple(int(p) for p in re.findall(r"\d+", self.version)[:3])

    @property
    def supported(self) -> bool:
        return self.version_tuple[:2] >= MIN_VERSION

    def to_dict(self) -> Dict[str, object]:
        return {**asdict(self), "supported": self.supported}


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def candidates() -> List[str]:
    """Executable paths worth probing, running interpreter first, duplicates removed."""
    named = [path for path in os.environ.get(EXTRA, "").split(os.pathsep) if path]  # the user's: any name
    found: List[str] = [sys.executable, *named]
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or "shims" in Path(directory).parts:  # pyenv shims only redirect
            continue
        found += sorted(glob.glob(os.path.join(directory, "python3*")))
    found += sorted(glob.glob(str(_pyenv_root() / "versions" / "*" / "bin" / "python3*")))
    for directory in ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"):
        found += sorted(glob.glob(os.path.join(directory, "python3*")))
    unique, seen = [], set()
    for path in found:
        if (path not in named and not _NAME.match(os.path.basename(path))) or not os.access(path, os.X_OK):
            continue
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def probe(path: str) -> Optional[Interpreter]:
    """Ask the interpreter at ``path`` what it is; None if it does not answer sensibly."""
    try:
        done = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True, timeout=15, check=True)
        facts = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return Interpreter(path=path, **facts)


def discover(paths: Optional[Iterable[str]] = None) -> List[Interpreter]:
    """Every interpreter found, one per distinct (version, build), newest first."""
    result: Dict[tuple, Interpreter] = {}
    for path in candidates() if paths is None else paths:
        found = probe(path)
        if found is not None:
            result.setdefault((found.version, found.implementation, found.free_threaded), found)
    return sorted(result.values(), key=lambda i: (i.version_tuple, i.free_threaded), reverse=True)


def resolve(request: str) -> Interpreter:
    """The interpreter for a ``python`` value: a path, or a version such as 3.9 or 3.13t."""
    request = str(request).strip()
    if os.sep in request or request.startswith("."):
        path = shutil.which(request) or request
        found = probe(path) if os.path.exists(path) else None
        if found is None:
            raise ConfigError(f"python: {shorten(request)!r} is not a Python interpreter that answers")
    else:
        match = VERSION.fullmatch(request)
        if not match:
            raise ConfigError(f"python: {shorten(request)!r} is neither a version like 3.9 / 3.13t nor a path")
        wanted_free = bool(match.group(4))
        version = request.rstrip("t")
        options = [
            i for i in discover()
            if (i.version == version or i.version.startswith(version + ".")) and i.free_threaded == wanted_free
        ]
        if not options:
            raise ConfigError(
                f"python: no Python {request} found (looked for python{request} on PATH, in "
                f"{_pyenv_root() / 'versions'}, /usr/bin and /usr/local/bin; see `synclab interpreters`)"
            )
        found = options[0]
    if not found.supported:
        raise ConfigError(f"python: {found.path} is Python {found.version}; synclab's runner needs 3.8 or newer")
    return found
