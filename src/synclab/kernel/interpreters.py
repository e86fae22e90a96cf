"""Find Python interpreters on this machine and describe them, so an experiment can run
under each (the ``python`` key) and ``synclab interpreters`` can list them.

Looked for, in this order: the running interpreter, every entry of ``SYNCLAB_PYTHONS``
(separated like PATH; an interpreter of any name, or a directory holding ``python3*`` in it,
in its ``bin/`` or in each of its children's ``bin/``), ``python3.X`` (and free-threaded
``python3.Xt``) on PATH, pyenv's versions, uv's managed installations, and the usual system
directories. Each candidate is asked for its own facts in a subprocess, so a list never claims
what an interpreter would not confirm.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from synclab.kernel.spec import ConfigError, shorten

MIN_VERSION = (3, 8)  # the runner's oldest supported Python
PROBE_TIMEOUT_S = 15.0  # one candidate's answer; past it, it is not an interpreter
# Run with PYTHON_GIL removed from its environment: gil_default is the build's own default.
_PROBE = (
    "import json, platform, sys, sysconfig;"
    "gil = getattr(sys, '_is_gil_enabled', None);"
    "print(json.dumps({'version': platform.python_version(), 'implementation': platform.python_implementation(),"
    " 'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')),"
    " 'gil_default': True if gil is None else bool(gil())}))"
)
_NAME = re.compile(r"^python3(\.\d+)?t?$")
VERSION = re.compile(r"(\d+)\.(\d+)(\.\d+)?(t?)")  # a python value naming a version: 3.9, 3.13.1, 3.13t
EXTRA = "SYNCLAB_PYTHONS"  # interpreters, or directories of them, that discovery would not find; separated like PATH
SYSTEM_DIRS = ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin")


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str
    implementation: str
    free_threaded: bool
    gil_default: bool  # the GIL is enabled when the interpreter starts with no PYTHON_GIL and no -X gil

    @property
    def version_tuple(self) -> "tuple[int, ...]":
        return tuple(int(p) for p in re.findall(r"\d+", self.version)[:3])

    @property
    def supported(self) -> bool:
        return self.version_tuple[:2] >= MIN_VERSION

    @property
    def name(self) -> str:
        """The ``python`` value naming this build: 3.13.5, or 3.13.5t for a free-threaded one."""
        return self.version + ("t" if self.free_threaded else "")

    def to_dict(self) -> Dict[str, object]:
        # gil_enabled: gil_default under the name the listing had before it
        return {**asdict(self), "gil_enabled": self.gil_default, "supported": self.supported}


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _uv_roots() -> List[Path]:
    """Where uv keeps the interpreters ``uv python install`` downloads (``uv python dir``)."""
    if os.environ.get("UV_PYTHON_INSTALL_DIR"):
        return [Path(os.environ["UV_PYTHON_INSTALL_DIR"]).expanduser()]
    data = os.environ.get("XDG_DATA_HOME")
    roots = [(Path(data) if data else Path.home() / ".local" / "share") / "uv" / "python"]
    if sys.platform == "darwin":  # older uv releases on macOS, still used where it exists
        roots.append(Path.home() / "Library" / "Application Support" / "uv" / "python")
    return roots


def _extra_entries() -> List[str]:
    return [os.path.expanduser(entry) for entry in os.environ.get(EXTRA, "").split(os.pathsep) if entry]


def _in(directory: object, *below: str) -> List[str]:
    """The interpreter-named ``python3*`` in ``directory`` (``below`` it: a path that may hold ``*``),
    in each directory the most specific name first: python3.13t before python3."""
    pattern = os.path.join(glob.escape(str(directory)), *below, "python3*")
    return sorted((path for path in glob.glob(pattern) if _NAME.match(os.path.basename(path))),
                  key=lambda path: (os.path.dirname(path), -len(os.path.basename(path)), path))


def _named_in(directory: str) -> List[str]:
    """What a SYNCLAB_PYTHONS directory holds: interpreters in it, in its bin/, in each child's bin/."""
    return _in(directory) + _in(directory, "bin") + _in(directory, "*", "bin")


def sources() -> List[Tuple[str, List[str]]]:
    """Where discovery looks, in order: each place as a message names it, and the executables
    found there."""
    extra = _extra_entries()
    named: List[str] = []
    for entry in extra:
        named += _named_in(entry) if os.path.isdir(entry) else [entry]  # a file: the user's, any name
    path_dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep)
                 if d and "shims" not in Path(d).parts]  # pyenv shims only redirect
    uv = _uv_roots()
    return [
        ("the running interpreter", [sys.executable]),
        (f"{EXTRA} ({shorten(os.pathsep.join(extra)) if extra else 'unset'})", named),
        ("PATH", [path for d in path_dirs for path in _in(d)]),
        (f"pyenv ({_pyenv_root() / 'versions'})", _in(_pyenv_root() / "versions", "*", "bin")),
        (f"uv ({', '.join(map(str, uv))})", [path for root in uv for path in _in(root, "*", "bin")]),
        (", ".join(SYSTEM_DIRS), [path for d in SYSTEM_DIRS for path in _in(d)]),
    ]


def candidates() -> List[str]:
    """Executable paths worth probing, running interpreter first, duplicates removed."""
    unique, seen = [], set()
    for _, paths in sources():
        for path in paths:
            if not os.path.isfile(path) or not os.access(path, os.X_OK):
                continue
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                unique.append(path)
    return unique


def unusable_extras() -> List[str]:
    """One line for each SYNCLAB_PYTHONS entry that gives no interpreter: a mistake to report."""
    problems = []
    for entry in _extra_entries():
        if os.path.isdir(entry):
            if not any(probe(path) for path in _named_in(entry) if os.access(path, os.X_OK)):
                problems.append(f"{EXTRA}: {shorten(entry)} is a directory with no python3* interpreter "
                                "that answers in it, in its bin/ or in its children's bin/")
        elif not os.path.exists(entry):
            problems.append(f"{EXTRA}: {shorten(entry)} does not exist")
        elif probe(entry) is None:
            problems.append(f"{EXTRA}: {shorten(entry)} is not a Python interpreter that answers")
    return problems


# What each interpreter said, by its path and the file behind it: a sweep's driver and each of its
# jobs ask for the same python value, and a binary's version and build do not change while its
# file stays the same. Only answers are kept; a probe that failed is tried again.
_ANSWERS: Dict[tuple, Interpreter] = {}
_ANSWERS_LOCK = threading.Lock()


def probe(path: str) -> Optional[Interpreter]:
    """Ask the interpreter at ``path`` what it is; None if it does not answer sensibly."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    key = (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    with _ANSWERS_LOCK:
        known = _ANSWERS.get(key)
    if known is not None:
        return known
    try:
        env = {name: value for name, value in os.environ.items() if name != "PYTHON_GIL"}
        done = subprocess.run([path, "-c", _PROBE], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=env, timeout=PROBE_TIMEOUT_S, check=True)
        found = Interpreter(path=path, **json.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError, TypeError):
        return None
    with _ANSWERS_LOCK:
        _ANSWERS[key] = found
    return found


def discover(paths: Optional[Iterable[str]] = None) -> List[Interpreter]:
    """Every interpreter found, one per distinct (version, build), newest first."""
    result: Dict[tuple, Interpreter] = {}
    probed = set()
    for path in candidates() if paths is None else paths:
        try:
            info = os.stat(path)
        except OSError:
            continue
        if (info.st_dev, info.st_ino) in probed:  # a hard link to one asked already (python3.13, python3.13t)
            continue
        probed.add((info.st_dev, info.st_ino))
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
            places = "; ".join(place for place, _ in sources())
            raise ConfigError(f"python: no Python {request} found (looked in: {places}; see `synclab interpreters`)")
        found = options[0]
    if not found.supported:
        raise ConfigError(f"python: {found.path} is Python {found.version}; synclab's runner needs 3.8 or newer")
    return found
