"""One file for a run or a sweep: ``synclab archive`` packs it with a manifest, ``synclab verify``
checks it, and report and replay read it.

An archive is data from someone else. Reading one never runs anything it holds, and never
writes outside the directory it is unpacked into: every member is checked before a byte is
written (no absolute path, no ``..``, no link, no device, no sparse file, one top directory, a
bound on the number of members and on their total size), and files are written by synclab
itself, never by ``tarfile.extract``. Tar's own metadata (GNU long names, pax headers) and the
manifest are bounded before they are read into memory (bounds in bounded.py), and the private
directory an archive is unpacked into is removed on every way out, SIGTERM included.
"""

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sys
import tarfile
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterator, List, Mapping, Tuple

from synclab import __version__
from synclab.kernel.spec import shorten
from synclab.records.files import CLAIM, RESULT, umask
from synclab.records.bounded import (MAX_MANIFEST_BYTES, MAX_MEMBER_NAME, MAX_TAR_HEADER_BYTES, MAX_TAR_METADATA_BYTES,
                                     BoundError, loads_json)
from synclab.records.signals import INTERRUPTING, interrupting

MANIFEST = "synclab-manifest.json"
# Launcher internals, not results: submitit's pickled jobs and scripts (code a colleague
# should never be handed to unpickle) and its logs, which run.log already covers.
LEFT_OUT = (".submitit",)
# A writer's claim on its directory: a lock, not a result (a killed run leaves it behind).
LEFT_OUT_FILES = (CLAIM,)
FORMAT = "synclab-archive"
FORMAT_VERSION = 1
SUFFIXES = (".tar.gz", ".tgz", ".tar")
MAX_BYTES = 1 << 30  # what an archive may unpack to, in all
MAX_MEMBERS = 100_000
_CHUNK = 1 << 20
EXIT_MISMATCH = 1
EXIT_USAGE = 2
_DRIVE = re.compile(r"^[A-Za-z]:")
_LONG_NAMES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
_PAX = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
_MAX_CHAINED = 8  # header extensions before one member (tar writes at most two); tarfile recurses per one
_TEMP_PREFIX = "synclab-archive-"


class ArchiveError(ValueError):
    """An archive that cannot be used as it is; the message is one line saying why."""


@dataclass(frozen=True)
class Manifest:
    root: str  # the top directory every member lives under
    files: Mapping[str, Mapping[str, Any]]  # path under root -> {"sha256", "size"}
    data: Mapping[str, Any]  # the whole manifest as written


@dataclass(frozen=True)
class Verification:
    manifest: Manifest
    changed: Tuple[str, ...]
    missing: Tuple[str, ...]
    extra: Tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)


def is_archive(path: "str | os.PathLike[str]") -> bool:
    """A file whose name says it is one of the archives synclab reads."""
    text = os.fspath(path)
    return text.endswith(SUFFIXES) and os.path.isfile(text)


# ---------------------------------------------------------------- packing


def _files(directory: Path) -> List[Tuple[str, Path]]:
    """Every regular file under directory but LEFT_OUT, sorted; a link or special file is refused, not followed."""
    def unreadable(error: OSError) -> None:
        raise ArchiveError(f"{error.filename}: unreadable ({error.strerror or error}); nothing packed")

    found: List[Tuple[str, Path]] = []
    for current, dirs, names in os.walk(directory, onerror=unreadable):
        dirs[:] = [d for d in dirs if d not in LEFT_OUT]
        here = Path(current)
        for name in sorted(dirs + names):
            path = here / name
            rel = path.relative_to(directory).as_posix()
            if path.is_symlink():
                raise ArchiveError(f"{rel}: a symbolic link; an archive holds regular files only")
            if name in names and not path.is_file():
                raise ArchiveError(f"{rel}: not a regular file; an archive holds regular files only")
            if name in names and name not in LEFT_OUT_FILES:
                found.append((rel, path))
        dirs.sort()
    return sorted(found)


def _has_result(directory: Path) -> bool:
    return any(RESULT in names for _, _, names in os.walk(directory))


def _tarinfo(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    """A member that says nothing about the packer's users and gives no special permission."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _write_mode(output: Path) -> str:
    return "w:" if output.name.endswith(".tar") else "w:gz"


def pack(directory: Path, output: Path) -> Manifest:
    """Pack a run or sweep directory into output with its manifest, atomically."""
    directory, output = Path(directory), Path(output)
    if not directory.is_dir():
        raise ArchiveError(f"{directory}: not a directory")
    if not output.name.endswith(SUFFIXES):
        raise ArchiveError(f"-o: {output.name} must end in {', '.join(SUFFIXES)}")
    if output.exists():
        raise ArchiveError(f"-o: {output} already exists; an archive is never overwritten")
    if not output.parent.is_dir():
        raise ArchiveError(f"-o: {output.parent} is not a directory")
    if output.resolve().is_relative_to(directory.resolve()):
        raise ArchiveError(f"-o: {output} is inside {directory}; write the archive elsewhere")
    if not _has_result(directory):
        raise ArchiveError(f"{directory}: no synclab run in it (no result.json anywhere below it)")
    from synclab.kernel.env import capture  # the packer's environment, beside the runs' own env.json

    root = directory.resolve().name
    files: Dict[str, Dict[str, Any]] = {}
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    try:
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode=_write_mode(output)) as tar:
            for rel, path in _files(directory):
                data = path.read_bytes()  # one read: what is hashed is what is packed
                files[rel] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                tar.addfile(_tarinfo(f"{root}/{rel}", len(data), path.stat().st_mtime), io.BytesIO(data))
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "synclab_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "root": root,
                "kind": "run" if (directory / RESULT).is_file() else "sweep",
                "files": files,
                "environment": capture(None),
            }
            text = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
            tar.addfile(_tarinfo(f"{root}/{MANIFEST}", len(text), time.time()), io.BytesIO(text))
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise
    return Manifest(root, files, manifest)


# ---------------------------------------------------------------- reading safely


class _BoundedTarInfo(tarfile.TarInfo):
    """A member header whose extensions are bounded before tarfile reads them into memory.

    tarfile reads a GNU long name or a pax header whole, whatever size its header claims, and
    reads a sparse file's maps without a bound: both are refused here, before any of it is read.
    """

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type == tarfile.GNUTYPE_SPARSE:
            raise ArchiveError(f"member {_shown(self.name)}: a sparse file; archives hold regular files only")
        if self.type not in _LONG_NAMES + _PAX:
            return super()._proc_member(archive)  # type: ignore[misc]
        kind = "GNU long name" if self.type in _LONG_NAMES else "pax header"
        if self.size > MAX_TAR_HEADER_BYTES:
            raise ArchiveError(f"a {kind} of {self.size:,} bytes (at most {MAX_TAR_HEADER_BYTES:,}); refused")
        state = archive.__dict__.setdefault("synclab_headers", {"bytes": 0, "chained": 0})
        state["bytes"] += self.size
        if state["bytes"] > MAX_TAR_METADATA_BYTES:
            raise ArchiveError(f"more than {MAX_TAR_METADATA_BYTES:,} bytes of long names and pax headers; refused")
        state["chained"] += 1
        try:
            if state["chained"] > _MAX_CHAINED:
                raise ArchiveError(f"more than {_MAX_CHAINED} header extensions before one member; refused")
            return super()._proc_member(archive)  # type: ignore[misc]
        finally:
            state["chained"] -= 1

    def _proc_gnusparse_00(self, *args: Any) -> None:  # pax headers describing a sparse file (three formats)
        raise ArchiveError(f"member {_shown(self.name)}: a sparse file; archives hold regular files only")

    _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00


def _shown(name: str) -> str:
    """A member's name for a message: quoted, and cut when it is long."""
    return repr(shorten(name))


def _member_path(member: tarfile.TarInfo) -> PurePosixPath:
    """The member's path, or ArchiveError when it could land outside the directory it is unpacked into."""
    name = member.name
    if len(name) > MAX_MEMBER_NAME:
        raise ArchiveError(f"member {_shown(name)}: a name longer than {MAX_MEMBER_NAME:,} characters; refused")
    if not name or "\x00" in name or "\\" in name:
        raise ArchiveError(f"member {name!r}: not a plain relative path; refused")
    if name.startswith("/") or _DRIVE.match(name):
        raise ArchiveError(f"member {name!r}: an absolute path; refused")
    parts = [part for part in PurePosixPath(name).parts if part != "."]
    if ".." in parts:
        raise ArchiveError(f"member {name!r}: climbs out with '..'; refused")
    if not parts:
        raise ArchiveError(f"member {name!r}: an empty path; refused")
    if member.issym() or member.islnk():
        raise ArchiveError(f"member {name!r}: a link (to {member.linkname!r}); archives hold regular files only")
    if member.ischr() or member.isblk() or member.isfifo():
        raise ArchiveError(f"member {name!r}: a device or pipe; archives hold regular files only")
    if not (member.isreg() or member.isdir()):
        raise ArchiveError(f"member {name!r}: an unsupported kind of member; refused")
    return PurePosixPath(*parts)


@contextlib.contextmanager
def _open(archive: Path) -> Iterator[tarfile.TarFile]:
    if not Path(archive).is_file():
        raise ArchiveError(f"{archive}: no such file")
    try:
        with tarfile.open(archive, mode="r:*", tarinfo=_BoundedTarInfo) as tar:
            yield tar
    except ArchiveError as error:  # a refused member: say which archive holds it
        if str(error).startswith(f"{archive}:"):
            raise
        raise ArchiveError(f"{archive}: {error}") from None
    except (tarfile.TarError, EOFError, zlib.error) as error:
        reason = str(error).splitlines()[0].rstrip(":") if "\n" not in str(error) else ""
        raise ArchiveError(f"{archive}: not a readable tar archive" + (f" ({reason})" if reason else "")) from None
    except OSError as error:
        raise ArchiveError(f"{archive}: not a readable archive ({error.strerror or error})") from None
    except RecursionError:  # _MAX_CHAINED keeps tarfile shallow; this is a last guard
        raise ArchiveError(f"{archive}: tar headers nested too deeply; refused") from None


def _checked(tar: tarfile.TarFile, max_bytes: int, max_members: int) -> List[Tuple[PurePosixPath, tarfile.TarInfo]]:
    """Every member, each checked, under one top directory and within the bounds; nothing written yet."""
    members: List[Tuple[PurePosixPath, tarfile.TarInfo]] = []
    seen = set()
    total = 0
    for member in tar:  # read one header at a time: a flood of members stops at the bound
        if len(members) >= max_members:
            raise ArchiveError(f"more than {max_members} members; refused")
        path = _member_path(member)
        if path in seen:
            raise ArchiveError(f"member {member.name!r} appears twice; refused")
        seen.add(path)
        total += member.size if member.isreg() else 0
        if total > max_bytes:
            raise ArchiveError(f"unpacks to more than {max_bytes:,} bytes; refused")
        members.append((path, member))
    if not members:
        raise ArchiveError("an empty archive")
    roots = {path.parts[0] for path, _ in members}
    if len(roots) != 1:
        raise ArchiveError(f"members under {len(roots)} top directories; a synclab archive has one")
    return members


def _read_manifest(tar: tarfile.TarFile, members: List[Tuple[PurePosixPath, tarfile.TarInfo]]) -> Manifest:
    root = members[0][0].parts[0]
    entry = next((m for p, m in members if p == PurePosixPath(root, MANIFEST) and m.isreg()), None)
    if entry is None:
        raise ArchiveError(f"no {root}/{MANIFEST}: not a synclab archive")
    if entry.size > MAX_MANIFEST_BYTES:
        raise ArchiveError(f"{MANIFEST} is {entry.size:,} bytes, more than synclab reads ({MAX_MANIFEST_BYTES:,})")
    handle = tar.extractfile(entry)
    try:
        data = loads_json(handle.read(MAX_MANIFEST_BYTES) if handle else b"")
    except BoundError as error:
        raise ArchiveError(f"{MANIFEST} {error}") from None
    except ValueError as error:
        raise ArchiveError(f"{MANIFEST} is not valid JSON: {error}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ArchiveError(f"{MANIFEST} is not a synclab archive manifest")
    if data.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(f"{MANIFEST}: format_version {data.get('format_version')!r} is not one this synclab reads")
    files = data.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("sha256"), str) for v in files.values()
    ):
        raise ArchiveError(f"{MANIFEST}: malformed files list")
    return Manifest(root, files, data)


def _sha256(handle: Any) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(_CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def verify(archive: Path, max_bytes: int = MAX_BYTES, max_members: int = MAX_MEMBERS) -> Verification:
    """Check every member against the manifest without unpacking anything."""
    with _open(archive) as tar:
        members = _checked(tar, max_bytes, max_members)
        manifest = _read_manifest(tar, members)
        present: Dict[str, str] = {}
        for path, member in members:
            rel = PurePosixPath(*path.parts[1:]).as_posix()
            if member.isreg() and rel != MANIFEST:
                handle = tar.extractfile(member)
                present[rel] = _sha256(handle) if handle else ""
    listed = manifest.files
    changed = tuple(sorted(rel for rel in present if rel in listed and present[rel] != listed[rel]["sha256"]))
    missing = tuple(sorted(rel for rel in listed if rel not in present))
    extra = tuple(sorted(rel for rel in present if rel not in listed))
    return Verification(manifest, changed, missing, extra)


def extract(archive: Path, into: Path, max_bytes: int = MAX_BYTES, max_members: int = MAX_MEMBERS) -> Path:
    """Unpack archive into the existing directory ``into``; returns the top directory it made there.

    Everything is checked first; the files are written into a staging directory inside ``into``
    and moved into place at the end, so a refusal or a failure leaves ``into`` as it was.
    """
    into = Path(into)
    if not into.is_dir():
        raise ArchiveError(f"{into}: not a directory to unpack into")
    with _open(archive) as tar:
        members = _checked(tar, max_bytes, max_members)
        _read_manifest(tar, members)
        root = members[0][0].parts[0]
        if (into / root).exists():
            raise ArchiveError(f"{into / root} already exists; unpack elsewhere")
        staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=into))
        try:
            base = os.path.realpath(staging)
            for path, member in members:
                target = staging.joinpath(*path.parts)
                if os.path.commonpath([base, os.path.realpath(target)]) != base:
                    raise ArchiveError(f"member {member.name!r}: resolves outside the destination; refused")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_member(tar, member, target)
            os.replace(staging / root, into / root)
        except OSError as error:
            raise ArchiveError(f"cannot unpack into {into}: {error.strerror or error}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return into / root


def _write_member(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    source = tar.extractfile(member)
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as out:
        written = 0
        for chunk in iter(lambda: source.read(_CHUNK) if source else b"", b""):
            written += len(chunk)
            if written > member.size:  # tarfile reads no more than the header says; keep it so
                raise ArchiveError(f"member {member.name!r}: larger than its header says; refused")
            out.write(chunk)


@contextlib.contextmanager
def unpacked(archive: Path) -> Iterator[Path]:
    """A verified archive unpacked into a private temporary directory, removed afterwards."""
    checked = verify(archive)
    if not checked.ok:
        raise ArchiveError(f"{archive}: does not match its manifest ({problems(checked)}); see synclab verify")
    with private_directory() as tmp:
        yield extract(archive, tmp)


_HELD = set(INTERRUPTING)  # held while the private directory is made and removed


def _remove_orphans() -> None:
    """Remove the private directories of synclab processes that no longer exist: SIGKILL (an
    out-of-memory kill, a timeout's kill) leaves no chance to clean up, so the next one does.
    Each directory names its process; one whose process still runs is never touched."""
    for path in Path(tempfile.gettempdir()).glob(f"{_TEMP_PREFIX}*-*"):
        pid = path.name[len(_TEMP_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or not path.is_dir():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # alive, under another user
            pass


@contextlib.contextmanager
def private_directory() -> Iterator[Path]:
    """A synclab-archive-* temporary directory, removed on every way out: an error, Ctrl-C, SIGTERM or SIGHUP.

    The signals are held while the directory is made and while it is removed, so none lands
    between the two and leaves it behind; one held meanwhile arrives once it is gone.
    """
    _remove_orphans()
    prefix = f"{_TEMP_PREFIX}{os.getpid()}-"
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield Path(tmp)
        return
    with interrupting():
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        try:
            tmp = tempfile.mkdtemp(prefix=prefix)
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            raise
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            yield Path(tmp)
        finally:
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
            finally:  # even when a signal lands just before the line above
                shutil.rmtree(tmp, ignore_errors=True)
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def problems(checked: Verification) -> str:
    parts = [f"{len(items)} {label}" for label, items in
             (("changed", checked.changed), ("missing", checked.missing), ("extra", checked.extra)) if items]
    return ", ".join(parts)


# ---------------------------------------------------------------- the commands


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="a run or a sweep directory")
    parser.add_argument("-o", "--output", metavar="NAME.tar.gz", required=True,
                        help=f"the archive to write (ending in {', '.join(SUFFIXES)}); never overwritten")


def run(args: argparse.Namespace) -> int:
    try:
        manifest = pack(Path(args.directory), Path(args.output))
    except ArchiveError as error:
        sys.stderr.write(f"synclab archive: {error}\n")
        return EXIT_USAGE
    except OSError as error:
        sys.stderr.write(f"synclab archive: {getattr(error, 'filename', '') or args.output}: {error.strerror or error}\n")
        return EXIT_USAGE
    size = os.path.getsize(args.output)
    print(f"{args.output}: {manifest.data['kind']} {manifest.root}, {len(manifest.files)} files "
          f"with sha256 in {MANIFEST}, {size:,} bytes")
    return 0
