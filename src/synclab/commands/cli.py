"""The synclab command: tools that work on runs already on disk, and quick stress tests of your own
code (also: python -m synclab).

Experiments themselves run through Hydra (``python run.py``); each subcommand here lives in
its own module and is imported only when it is asked for, so the command starts quickly.
"""

import argparse
import contextlib
import importlib
import signal
import sys
from typing import List, Optional

from synclab import __version__

# subcommand -> (module under synclab, one-line help). Each module provides add_arguments(parser) and run(args) -> int.
COMMANDS = {
    "stress": ("commands.stress", "run the stress tests a file, directory or module holds: one outcome histogram per "
                                  "test; exit 1 when any saw a forbidden outcome"),
    "interpreters": ("commands.interpreters", "list the Python interpreters an experiment can run under (python=...)"),
    "report": ("commands.report", "summarize runs and sweeps on disk: one row per job; --check fails on forbidden or contradicted records"),
    "resume": ("app.resume", "finish an interrupted sweep in its own directory: rerun only the jobs without a result"),
    "archive": ("records.archive", "pack a run or sweep into one .tar.gz with a manifest (sha256 of every file, environment)"),
    "verify": ("commands.verify", "check an archive against its manifest, and every result in it against its own numbers"),
    "replay": ("commands.replay", "re-run a run or sweep (or an archive) with its recorded configuration and compare"),
    "compare": ("commands.compare", "compare two runs or sweeps (or archives), matching jobs by configuration"),
}
RUNS_JOBS = ("resume",)


EXIT_USAGE = 2  # a usage or configuration error, for every subcommand


def fail(command: str, message: str, code: int = EXIT_USAGE) -> int:
    """One line on stderr, ``synclab COMMAND: message``, and the exit status to return."""
    sys.stderr.write(f"synclab {command}: {message}\n")
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="synclab", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"synclab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in COMMANDS:
        module = importlib.import_module(f"synclab.{COMMANDS[argv[0]][0]}")
        sub = argparse.ArgumentParser(prog=f"synclab {argv[0]}", description=COMMANDS[argv[0]][1],
                                      epilog=getattr(module, "EPILOG", None),
                                      formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        from synclab.records.signals import interrupting

        # A replay's run is stopped and an unpacked archive removed whatever the signal; resume
        # runs jobs, whose signals interrupt.py handles (forked workers included).
        handling = contextlib.nullcontext() if argv[0] in RUNS_JOBS else interrupting()
        try:
            with handling:
                return int(module.run(sub.parse_args(argv[1:])) or 0)
        except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM/SIGHUP made one
            name = str(stop) if str(stop) in ("SIGTERM", "SIGHUP") else "SIGINT"
            sys.stderr.write(f"synclab {argv[0]}: interrupted ({name})\n")
            return 128 + int(getattr(signal, name))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
