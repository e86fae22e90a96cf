"""Logging through loguru: one console sink for the process, one file per job.

Hydra's basic launcher runs a sweep's jobs one after another in one process, so a job's
file is closed and detached when the job ends; otherwise the next job would write into it.
The file sink itself is added to loguru once per process: adding a sink builds loguru's
exception formatter, which costs milliseconds that a sweep of tiny jobs would pay per job.
"""

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Optional

from loguru import logger

FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {message}"
CONSOLE_FORMAT = "<green>{time:HH:mm:ss}</green> | <level>{level: <7}</level> | {message}"


class InterceptHandler(logging.Handler):
    """Send standard-library records (Hydra's among them) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: "str | int" = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.opt(exception=record.exc_info).log(level, "{}", record.getMessage())


_console = {"pid": None}  # the process whose console sink synclab set up


def setup_console() -> None:
    _console["pid"] = os.getpid()
    logger.remove()
    _job_file.sink_id = None  # removed with the rest; job_log adds it again when needed
    logger.add(sys.stderr, format=CONSOLE_FORMAT, level="INFO")
    logging.basicConfig(handlers=[InterceptHandler()], level=logging.INFO, force=True)


class _JobFile:
    """The one loguru file sink of the process: writes to the running job's log, if any."""

    def __init__(self) -> None:
        self.handle: Optional[IO[str]] = None
        self.sink_id: Optional[int] = None

    def write(self, message: str) -> None:
        if self.handle is not None:
            self.handle.write(message)


_job_file = _JobFile()


def ensure_console() -> None:
    """In a launcher's worker process (joblib's, Ray's) that synclab did not start, give loguru
    synclab's console format instead of its default one."""
    if _console["pid"] != os.getpid():
        setup_console()


@contextmanager
def job_log(path: Path) -> Iterator[None]:
    """Send log lines to ``path`` (line-buffered: complete even if the job dies) for the block."""
    if _job_file.sink_id is None:
        # catch=False: a log that cannot be written (a full disk) is a fault of the job, reported
        # in one line, not a report of loguru's own on stderr while the job goes on
        _job_file.sink_id = logger.add(_job_file.write, format=FORMAT, level="INFO", colorize=False, catch=False)
    with open(path, "a", encoding="utf-8", buffering=1) as handle:
        _job_file.handle = handle
        try:
            yield
        finally:
            _job_file.handle = None
