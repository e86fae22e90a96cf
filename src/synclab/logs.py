"""Logging through loguru: one console sink for the process, one file sink per job.

Hydra's basic launcher runs a sweep's jobs one after another in one process, so a job's
file sink is removed when the job ends; otherwise the next job would write into it.
"""

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

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


def setup_console() -> None:
    logger.remove()
    logger.add(sys.stderr, format=CONSOLE_FORMAT, level="INFO")
    logging.basicConfig(handlers=[InterceptHandler()], level=logging.INFO, force=True)


@contextmanager
def job_log(path: Path) -> Iterator[None]:
    sink = logger.add(path, format=FORMAT, level="INFO", encoding="utf-8")
    try:
        yield
    finally:
        logger.remove(sink)
