"""``synclab interpreters``: the Python interpreters an experiment can run under (``python=...``)."""

import argparse
import json

from synclab.kernel.interpreters import discover
from synclab.reports.table import format_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    found = discover()
    if getattr(args, "json", False):
        print(json.dumps([i.to_dict() for i in found], indent=2))
        return 0
    rows = [
        (i.version, i.implementation, "yes" if i.free_threaded else "no", "yes" if i.gil_enabled else "no",
         "yes" if i.supported else "no (< 3.8)", i.path)
        for i in found
    ]
    print(format_table(("version", "implementation", "free-threaded", "GIL", "usable", "path"), rows))
    return 0
