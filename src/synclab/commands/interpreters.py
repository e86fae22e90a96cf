"""``synclab interpreters``: the Python interpreters an experiment can run under (``python=...``)."""

import argparse
import json
import sys

from synclab.commands.cli import fail
from synclab.kernel.interpreters import discover, unusable_extras
from synclab.reports.table import format_table

EPILOG = """columns:
  version         the interpreter's own platform.python_version()
  implementation  CPython, PyPy, ...
  build           GIL, or free-threaded (built with --disable-gil: Py_GIL_DISABLED)
  GIL by default  whether the GIL is enabled when it starts without PYTHON_GIL or -X gil
  usable          whether synclab's runner runs there (3.8 or newer)
  path            the executable; python=VERSION picks the first of its version and build,
                  python=VERSIONt (3.13t) a free-threaded one

--json prints a list with, for each: path, version, implementation, free_threaded,
gil_default, gil_enabled (the same as gil_default) and supported.
An entry of SYNCLAB_PYTHONS that gives no interpreter is named on stderr, exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    found = discover()
    if getattr(args, "json", False):
        print(json.dumps([i.to_dict() for i in found], indent=2))
    else:
        rows = [
            (i.version, i.implementation, "free-threaded" if i.free_threaded else "GIL",
             "yes" if i.gil_default else "no", "yes" if i.supported else "no (< 3.8)", i.path)
            for i in found
        ]
        print(format_table(("version", "implementation", "build", "GIL by default", "usable", "path"), rows))
    sys.stdout.flush()  # the list, then what is wrong with SYNCLAB_PYTHONS
    code = 0
    for problem in unusable_extras():
        code = fail("interpreters", problem)
    return code
