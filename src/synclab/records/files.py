"""The files a run and a sweep leave, named once, and the atomic writes every writer uses."""

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

RESULT = "result.json"  # a job's configuration, every repeat (or stress test) and its summary (records.resultfile)
ENV = "env.json"  # the environment the job ran in (kernel.env; its diff beside it: kernel.env.PATCH)
LOG = "run.log"  # one line per repeat
INTERRUPTED = "interrupted.json"  # left by a job stopped before its result
MULTIRUN = "multirun.yaml"  # Hydra's record of a sweep
NOT_RUN = "not-run.json"  # a sweep's jobs that do not exist as combinations (gil=disabled on a GIL build)
ORIGIN = "origin.json"  # where a replay came from
SUMMARY_CSV = "summary.csv"  # a sweep's table, one row per job, or per stress job and test (reports.render)
SUMMARY_MD = "summary.md"  # the same table for reading
STRESS_SUMMARY_CSV = "stress-summary.csv"  # a tree's stress tests, when summary.csv holds its balance jobs
ANSWER = "answer.md"  # a sweep's answer table (reports.answer), when its preset asks for one
CLAIM = ".synclab.lock"  # the flock of the one process writing a run or sweep directory (app.claim)


@functools.lru_cache(maxsize=1)
def umask() -> int:
    """The process's umask, read once (reading it means setting it for an instant)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write next to the destination, then rename: a reader never sees half a file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())  # as readable as any other file of the run, not mkstemp's 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except OSError as error:  # a full disk's write() error names no file: name the one meant
        os.unlink(tmp)
        raise OSError(error.errno, error.strerror or str(error), str(path)) from None
    except BaseException:
        os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """UTF-8 text written atomically, exactly as given (line endings included)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON written atomically (see write_bytes_atomic)."""
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))
