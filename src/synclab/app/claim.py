"""One directory, one writer: a run or sweep directory is claimed before anything is written.

Two synclab processes started at once into the same ``hydra.run.dir`` (or ``hydra.sweep.dir``)
would both find it free, and its result would hold one run's configuration and the other's
repeats. The first to claim the directory holds an ``flock`` on LOCK inside it for as long as
it runs; any other is refused and touches nothing. The kernel drops the lock when its process
dies, however it dies, so a claim never outlives its holder: a lock file left by a killed
process is simply claimed again. On release the lock file is removed, and so is every
directory the claim created that is empty by then, so a refused run leaves no empty
``outputs/DATE/`` behind.
"""

import errno
import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional

from synclab.kernel.spec import shorten
from synclab.records.files import CLAIM

LOCK = CLAIM
# Attempts at claiming a directory whose lock file another process removes at the same moment.
_ATTEMPTS = 20


class DirectoryInUse(Exception):
    """Another live synclab process holds the directory's claim."""


class Refused(BaseException):
    """A claim refused inside a Hydra callback, where Hydra turns every Exception into a
    warning and goes on: carried to the top as a BaseException, it ends there in one line."""

    def __init__(self, error: Exception, key: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.key = key


@dataclass
class Claim:
    """A claimed directory: the open lock file, and what existed before the claim."""

    directory: Path
    key: str  # hydra.run.dir or hydra.sweep.dir: how the user named it
    fd: int
    created: List[Path]  # directories the claim made, innermost first
    existing: FrozenSet[str] = field(default_factory=frozenset)  # entries already there

    def is_new(self, name: str) -> bool:
        """Whether the entry ``name`` of the directory was made after the claim (by this process)."""
        return name not in self.existing


_HELD: Dict[Path, Claim] = {}


def _fault(path: Path, error: OSError) -> OSError:
    """The error again, naming the path it concerns (an error from write() names none)."""
    return OSError(error.errno, error.strerror or str(error), str(path))


def _make_dirs(directory: Path) -> List[Path]:
    """Create directory and its missing parents; return those this call created, innermost first."""
    missing: List[Path] = []
    here = directory
    while not os.path.lexists(here):
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    if not os.path.isdir(here):
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(here))
    created: List[Path] = []
    try:
        for path in reversed(missing):
            try:
                os.mkdir(path)
                created.insert(0, path)
            except FileExistsError:  # made by someone else at the same moment: not ours to remove
                if not os.path.isdir(path):
                    raise
    except OSError:
        _remove_empty(created)
        raise
    return created


def _remove_empty(directories: List[Path]) -> None:
    for path in directories:
        try:
            os.rmdir(path)
        except OSError:  # not empty (something else lives there now), or gone: leave it
            return


def _holder(lock: Path) -> str:
    try:
        pid = lock.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def _claimed_above(directory: Path) -> Optional[Path]:
    """The nearest directory above ``directory`` that another live process has claimed: a single
    run aimed into a running sweep (its job directories are the sweep's to write)."""
    for above in directory.parents:
        lock = above / LOCK
        if above in _HELD or not lock.is_file():
            continue
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # refused only while a holder has it
        except BlockingIOError:
            return above
        finally:
            os.close(fd)  # closing drops the shared lock a stale file gave us
    return None


def claim(directory: Path, key: str) -> Claim:
    """Claim directory (creating it) for this process, or raise DirectoryInUse or an OSError
    naming the path and the cause. Claiming a directory this process holds returns its claim.
    A run (``hydra.run.dir``) is refused inside a directory another process has claimed too."""
    directory = Path(os.path.abspath(directory))
    if directory in _HELD:
        return _HELD[directory]
    above = _claimed_above(directory) if key == "hydra.run.dir" else None
    if above is not None:
        raise DirectoryInUse(
            f"{key}: {shorten(str(directory))} is inside {shorten(str(above))}, which another synclab process "
            f"is writing{_holder(above / LOCK)}; choose a directory outside it"
        )
    lock = directory / LOCK
    try:
        for _ in range(_ATTEMPTS):
            created = _make_dirs(directory)
            existing = frozenset(os.listdir(directory))
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:  # the directory was removed by its last holder meanwhile
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                _remove_empty(created)
                raise DirectoryInUse(
                    f"{key}: {shorten(str(directory))} is in use by another synclab process{_holder(lock)}; "
                    f"wait for it to end or choose another directory"
                ) from None
            try:
                same = os.stat(lock).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # locked a file its holder had just removed: claim the new one
                os.close(fd)
                continue
            _write_pid(fd)
            held = Claim(directory, key, fd, created, existing - {LOCK})
            _HELD[directory] = held
            return held
    except OSError as error:
        raise _fault(Path(error.filename) if error.filename else directory, error) from None
    raise OSError(errno.EBUSY, "its lock file kept changing; claimed by other processes", str(lock))


def _write_pid(fd: int) -> None:
    """Who holds the claim, for the message that refuses the next writer (best effort: the
    claim is the lock, and a full disk must not keep a run from reporting the disk is full)."""
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
    except OSError:
        pass


def held(directory: Path) -> Optional[Claim]:
    """This process's claim of directory, if it holds one."""
    return _HELD.get(Path(os.path.abspath(directory)))


def claims() -> List[Claim]:
    """The claims this process holds, in the order they were taken."""
    return list(_HELD.values())


def release_all() -> None:
    """Give up every claim: remove the lock files, then each directory a claim created that is
    empty now (a refused run's). Only the process that claimed releases: a forked worker never
    does, since it never returns into the code that claimed."""
    while _HELD:
        _, held_claim = _HELD.popitem()
        try:
            os.unlink(held_claim.directory / LOCK)
        except OSError:
            pass
        os.close(held_claim.fd)
        _remove_empty(held_claim.created)


def _forget_in_child() -> None:
    """A forked worker closes its copy of every claim's lock file: a claim must end with the
    process that took it, not live on in a worker that outlives it."""
    for held_claim in _HELD.values():
        os.close(held_claim.fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)
