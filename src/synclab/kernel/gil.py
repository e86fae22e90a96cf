"""The GIL as a setting: what a build allows, how an interpreter is started with the GIL on or
off, and what the GIL really was while an experiment ran.

A free-threaded build (PEP 703, ``python3.13t``) starts without the GIL unless ``PYTHON_GIL=1``
(or ``-X gil=1``) says otherwise, and it turns the GIL back on, for the rest of the process, when
it imports an extension module that has not declared it can run without one. So the state is
asked of the interpreter after every repeat, never assumed from the setting. ``PYTHON_GIL`` is
the way in because every worker the experiment starts inherits it, whatever the start method.
"""

import os
import re
import sys
import sysconfig
import threading
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

from synclab.kernel.spec import ConfigError

VARIABLE = "PYTHON_GIL"
_VALUE = {"enabled": "1", "disabled": "0"}
# CPython's warning when an import turns the GIL back on (Python/import.c)
_REENABLED = re.compile(r"The global interpreter lock \(GIL\) has been enabled to load module '([^']+)'")


def free_threaded() -> bool:
    """Whether this interpreter is a free-threaded build (whatever its GIL is doing now)."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def is_enabled() -> bool:
    """Whether the GIL is on in this process now: always on before 3.13 and in GIL builds."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def wanted(setting: Optional[str]) -> Optional[bool]:
    """The GIL state a setting asks for; None: whatever the interpreter starts with."""
    return None if setting is None else setting == "enabled"


class GilUnavailable(ConfigError):
    """gil=disabled on a build with a GIL: a combination that does not exist, not a typo. A sweep
    across interpreters and GIL states skips such jobs; a single run refuses them."""


def check(setting: Optional[str], free_threaded_build: bool, where: str) -> None:
    """Refuse a setting the interpreter cannot honour: only a free-threaded build runs without a GIL.
    (Which values the key takes is spec.validate's to check, before this.)"""
    if setting == "disabled" and not free_threaded_build:
        raise GilUnavailable(
            f"gil: 'disabled' needs a free-threaded build (python3.13t or newer); {where} is a build with the "
            "GIL (see `synclab interpreters`)"
        )


def child_environment(setting: Optional[str], free_threaded_build: bool, environ: Mapping[str, str]) -> Dict[str, str]:
    """The environment for an interpreter that runs the experiment, or for the workers it starts.

    On a free-threaded build, PYTHON_GIL says what ``setting`` asks (``0`` also keeps CPython from
    turning the GIL back on for a module that has not declared it safe: disabled means disabled);
    with no setting an inherited PYTHON_GIL is left as it is. A build with the GIL never gets
    one: 3.13 with the GIL stops at start-up on an inherited PYTHON_GIL=0."""
    env = dict(environ)
    if not free_threaded_build:
        env.pop(VARIABLE, None)
    elif setting is not None:
        env[VARIABLE] = _VALUE[setting]
    return env


@contextmanager
def workers_inherit(setting: Optional[str]) -> Iterator[None]:
    """While an experiment runs in this process, the workers it starts under spawn or forkserver
    (fresh interpreters) get the same GIL setting through PYTHON_GIL, as a child interpreter's do."""
    build = free_threaded()
    before = os.environ.get(VARIABLE)
    wanted_env = child_environment(setting, build, os.environ).get(VARIABLE)
    if wanted_env == before:
        yield
        return
    _set(wanted_env)
    try:
        yield
    finally:
        _set(before)


def _set(value: Optional[str]) -> None:
    if value is None:
        os.environ.pop(VARIABLE, None)
    else:
        os.environ[VARIABLE] = value


class Watch:
    """Collects the modules whose import turned the GIL back on while an experiment ran.

    CPython announces it with a RuntimeWarning; this hooks ``warnings.showwarning`` (it still
    shows the warning) and keeps the module names under a lock, since the import can happen on
    any thread and, on a free-threaded build, nothing else serialises the appends.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._modules: List[str] = []
        self._previous: Optional[Callable[..., Any]] = None
        self.at_start = is_enabled()

    def _show(self, message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        found = _REENABLED.search(str(message))
        if found:
            with self._lock:
                if found.group(1) not in self._modules:
                    self._modules.append(found.group(1))
        assert self._previous is not None
        self._previous(message, category, *args, **kwargs)

    def __enter__(self) -> "Watch":
        self._previous = warnings.showwarning
        warnings.showwarning = self._show
        return self

    def __exit__(self, *exc: Any) -> None:
        if warnings.showwarning == self._show:
            warnings.showwarning = self._previous  # type: ignore[assignment]

    @property
    def modules(self) -> List[str]:
        with self._lock:
            return list(self._modules)


def reenabled_in(text: str) -> List[str]:
    """The modules named by the GIL's warning in a child interpreter's stderr."""
    return _REENABLED.findall(text)


def merged(*names: "List[str] | tuple") -> "tuple[str, ...]":
    """Module names from several places, each once, in the order first seen."""
    return tuple(dict.fromkeys(name for group in names for name in group))


def target(spec: Any) -> "tuple[Optional[str], bool]":
    """The interpreter that runs the experiment's loop (None: this process) and whether it is a
    free-threaded build. A GIL state this process is not in needs a fresh interpreter: the GIL of
    a running process cannot be switched off, and the setting applies from the start.
    Raises GilUnavailable for gil=disabled on a build with a GIL."""
    import platform

    if spec.python is not None:
        from synclab.kernel.interpreters import resolve  # probes interpreters: only when python= is set

        found = resolve(spec.python)
        check(spec.gil, found.free_threaded, f"python={spec.python} ({found.path}, Python {found.version})")
        return found.path, found.free_threaded
    build = free_threaded()
    check(spec.gil, build, f"this interpreter ({sys.executable}, Python {platform.python_version()})")
    if spec.gil is not None and build and is_enabled() != wanted(spec.gil):
        return sys.executable, True
    return None, build
