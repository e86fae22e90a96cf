"""Find the stress tests a target names: ``pkg.module:Class``, ``path/to/file.py:Class``, a file,
a module, or a directory (each ``*.py`` file under it).

A file is imported with its directory first on ``sys.path``, as Python runs a script, so that it
can import its neighbours. Every failure is one line naming the target.
"""

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import List, Optional, Tuple

from synclab.kernel.stress.api import StressError, StressTest, declaration

MAX_FILES = 10_000  # files a directory target may hold


def split_target(target: str) -> Tuple[str, Optional[str]]:
    """(module or path, class name or None); a Windows drive's colon is not a separator."""
    where, sep, name = target.rpartition(":")
    if not sep or not name or "/" in name or "\\" in name or not where:
        return target, None
    return where, name


def _import_file(path: Path) -> ModuleType:
    resolved = path.resolve()
    directory = str(resolved.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    name = resolved.stem
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) and Path(existing.__file__).resolve() == resolved:
        return existing
    if existing is not None or not name.isidentifier():
        name = "synclab_stress_" + "".join(c if c.isalnum() else "_" for c in str(resolved))
    spec = importlib.util.spec_from_file_location(name, resolved)
    if spec is None or spec.loader is None:
        raise StressError(f"{path}: not a Python file synclab can import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except StressError:
        sys.modules.pop(name, None)
        raise
    except BaseException as error:
        sys.modules.pop(name, None)
        if isinstance(error, (KeyboardInterrupt, SystemExit)) and not isinstance(error, SystemExit):
            raise
        raise StressError(f"{path}: cannot import it: {type(error).__name__}: {error}") from None
    return module


def _import_module(name: str) -> ModuleType:
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # `synclab stress mymodule` finds the module beside the user
    try:
        return importlib.import_module(name)
    except StressError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        raise StressError(f"{name}: cannot import it: {type(error).__name__}: {error}") from None


def _tests_in(module: ModuleType) -> List[StressTest]:
    found = []
    for value in list(vars(module).values()):
        test = declaration(value)
        if test is not None and value.__module__ == module.__name__:
            found.append(test)
    return found


def _module_of(where: str) -> Tuple[List[ModuleType], str]:
    path = Path(where)
    if where.endswith(".py") or path.is_file():
        if not path.is_file():
            raise StressError(f"{where}: no such file")
        return [_import_file(path)], where
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.py") if not any(part.startswith((".", "__pycache__")) for part in
                                                                  p.relative_to(path).parts))
        if len(files) > MAX_FILES:
            raise StressError(f"{where}: holds more than {MAX_FILES} Python files; name a file or a module")
        return [_import_file(p) for p in files], where
    if not all(part.isidentifier() for part in where.split(".")):
        raise StressError(f"{where}: neither a file, a directory nor a module name")
    return [_import_module(where)], where


def load(target: str, pattern: Optional[str] = None) -> List[StressTest]:
    """The stress tests ``target`` names, those whose class name contains ``pattern`` if given."""
    if not isinstance(target, str) or not target.strip():
        raise StressError("stress.target: names the tests to run: pkg.module:Class, path/to/file.py:Class, a file, "
                          "a module or a directory")
    where, name = split_target(target.strip())
    modules, shown = _module_of(where)
    if name is not None:
        value = getattr(modules[0], name, None)
        if value is None:
            raise StressError(f"{shown}: has no class {name!r}")
        test = declaration(value)
        if test is None:
            raise StressError(f"{shown}:{name}: not a stress test (decorate the class with @synclab.stress(...))")
        tests = [test]
    else:
        tests = [test for module in modules for test in _tests_in(module)]
    if pattern:
        tests = [test for test in tests if pattern in test.title]
    if not tests:
        filtered = f" whose name contains {pattern!r}" if pattern else ""
        raise StressError(f"{shown}: no stress test{filtered} found (a class decorated with @synclab.stress(...))")
    return tests
