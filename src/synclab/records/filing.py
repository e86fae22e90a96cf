"""A job returns its files; the driver files them in its own sweep directory.

Under a launcher whose workers do not share a filesystem with the machine that started the
sweep (a Ray or Slurm cluster), whatever a job writes stays on its worker. So a sweep job
returns the text of everything it wrote (result, environment capture, log, Hydra's record of
its config), and the sweeper files it in the job's directory on the driver. result.json is
written last, every file atomically: a job directory holding result.json is complete, and a
complete job is never overwritten.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

from synclab.kernel.env import PATCH
from synclab.records.files import ENV, INTERRUPTED, LOG, RESULT, write_text_atomic

# What a job leaves in its directory, in the order it is filed: result.json last marks it complete.
JOB_FILES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml", ENV, PATCH, LOG, RESULT)
# What an unfinished attempt may leave, cleared before the job runs again.
ATTEMPT_FILES = (ENV, PATCH, LOG, INTERRUPTED)


@dataclass(frozen=True)
class JobFiles:
    """A finished job's files as text, keyed by their path inside the job directory."""

    subdir: str  # the job's directory relative to the sweep directory (hydra.sweep.subdir)
    files: Tuple[Tuple[str, str], ...]

    def text(self, name: str) -> str:
        return dict(self.files)[name]


def pack(job_dir: Path, subdir: str) -> JobFiles:
    """Read back what the job wrote, so that it travels to the driver with the job's return value."""
    files = []
    for name in JOB_FILES:
        path = job_dir / name
        if path.is_file():
            files.append((name, path.read_text(encoding="utf-8", errors="replace")))
    return JobFiles(subdir=subdir, files=tuple(files))


def is_complete(job_dir: Path) -> bool:
    return (job_dir / RESULT).is_file()


def file_job(sweep_dir: Path, job: JobFiles) -> str:
    """File a returned job under sweep_dir; say what happened: filed, present (a shared
    filesystem: the job wrote there itself) or kept (another complete result was already there)."""
    job_dir = sweep_dir / job.subdir
    if is_complete(job_dir):
        same = (job_dir / RESULT).read_text(encoding="utf-8", errors="replace") == job.text(RESULT)
        return "present" if same else "kept"
    for name, text in job.files:
        path = job_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, text)
    (job_dir / INTERRUPTED).unlink(missing_ok=True)  # left by an earlier interruption of the driver
    return "filed"


def clear_attempt(job_dir: Path) -> None:
    """Remove what an unfinished attempt left (never a complete job), so the rerun starts clean."""
    if is_complete(job_dir) or not job_dir.is_dir():
        return
    for name in ATTEMPT_FILES:
        (job_dir / name).unlink(missing_ok=True)
    remove_temporary(job_dir)


def remove_temporary(job_dir: Path) -> None:
    """Remove the temporary files of atomic writes an interruption cut short (write_bytes_atomic)."""
    for entry in os.scandir(job_dir):
        if entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file():
            os.unlink(entry.path)


def unfinished(sweep_dir: Path) -> Dict[str, Path]:
    """Job directories under sweep_dir that Hydra started (they hold .hydra/) without a result.json."""
    found: Dict[str, Path] = {}
    for root, dirs, _ in os.walk(sweep_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".") or d == ".hydra"]
        if ".hydra" in dirs:
            dirs.remove(".hydra")
            here = Path(root)
            if here != sweep_dir and not is_complete(here):
                found[str(here.relative_to(sweep_dir))] = here
    return found
