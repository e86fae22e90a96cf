"""Archives: a round trip keeps every byte, verify names every changed, missing and extra file,
and hostile archives are refused with nothing written anywhere."""

import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from conftest import small_locked_run
from synclab.records.archive import MANIFEST, ArchiveError, extract, pack, verify
from synclab.commands.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real locked run, shared by the tests of this module (read only)."""
    return small_locked_run(tmp_path_factory, "runs")


def _tree(root: Path) -> Dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _run_main(capsys: pytest.CaptureFixture, *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_round_trip_keeps_every_byte(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    archive = tmp_path / "run.tar.gz"
    code, out, err = _run_main(capsys, "archive", str(run_dir), "-o", str(archive))
    assert code == 0, err
    assert "with sha256" in out
    manifest = verify(archive).manifest
    original = _tree(run_dir)
    assert set(manifest.files) == set(original) and ".hydra/config.yaml" in original
    assert manifest.data["synclab_version"] == __import__("synclab").__version__
    assert manifest.data["environment"]["python"]["version"]
    assert manifest.data["kind"] == "run"

    code, out, _ = _run_main(capsys, "verify", str(archive))
    assert code == 0 and "ok" in out and f"{len(original)} files match" in out

    into = tmp_path / "unpacked"
    into.mkdir()
    root = extract(archive, into)
    unpacked = _tree(root)
    assert unpacked.pop(MANIFEST)
    assert unpacked == original
    assert sorted(p.name for p in into.iterdir()) == [run_dir.name]  # no staging left behind

    code, report_out, err = _run_main(capsys, "report", str(archive))
    direct_code, direct_out, _ = _run_main(capsys, "report", str(run_dir))
    assert code == direct_code == 0, err
    assert report_out.splitlines()[2:] == direct_out.splitlines()[2:]  # the same rows, read from the archive


def _rewrite(source: Path, target: Path, change: Callable[[str, bytes], Optional[bytes]],
             add: Tuple[Tuple[str, bytes], ...] = ()) -> None:
    """Copy an archive member by member; change returns new bytes, or None to drop the member."""
    with tarfile.open(source) as tar_in, tarfile.open(target, "w:gz") as tar_out:
        for member in tar_in:
            data = tar_in.extractfile(member).read()
            new = change(member.name, data)
            if new is not None:
                member.size = len(new)
                tar_out.addfile(member, io.BytesIO(new))
        for name, data in add:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar_out.addfile(info, io.BytesIO(data))


def test_verify_names_changed_missing_and_extra_files(run_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    archive = tmp_path / "good.tar.gz"
    pack(run_dir, archive)
    root = run_dir.name
    tampered = tmp_path / "tampered.tar.gz"

    def change(name: str, data: bytes) -> Optional[bytes]:
        if name == f"{root}/result.json":
            return data.replace(b'"consistent"', b'"lost_updates"')
        if name == f"{root}/run.log":
            return None
        return data

    _rewrite(archive, tampered, change, add=((f"{root}/notes.txt", b"added later\n"),))
    checked = verify(tampered)
    assert (checked.changed, checked.missing, checked.extra) == (("result.json",), ("run.log",), ("notes.txt",))

    code, out, _ = _run_main(capsys, "verify", str(tampered))
    assert code == 1
    assert "does NOT match" in out and "1 changed, 1 missing, 1 extra" in out
    assert f"changed  {root}/result.json" in out
    assert f"missing  {root}/run.log" in out
    assert f"extra    {root}/notes.txt" in out

    # a tampered archive is not read as if it were what its manifest promises
    code, out, err = _run_main(capsys, "report", str(tampered))
    assert code == 2 and out == ""
    assert "does not match its manifest" in err and len(err.splitlines()) == 1


def _hostile(path: Path, members: List[Tuple[tarfile.TarInfo, bytes]], manifest_root: str = "run") -> Path:
    """An archive with a valid-looking manifest and the given members."""
    with tarfile.open(path, "w:gz") as tar:
        text = json.dumps({"format": "synclab-archive", "format_version": 1, "files": {}}).encode()
        info = tarfile.TarInfo(f"{manifest_root}/{MANIFEST}")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
        for member, data in members:
            member.size = len(data) if member.isreg() else 0
            tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


HOSTILE = {
    "traversal": ([(_info("run/../../evil.txt"), b"x")], "climbs out with '..'"),
    "absolute": ([(_info("/ABS/evil.txt"), b"x")], "an absolute path"),
    "symlink": ([(_info("run/link", tarfile.SYMTYPE, "/etc/passwd"), b"")], "a link"),
    "hardlink": ([(_info("run/hard", tarfile.LNKTYPE, "/etc/passwd"), b"")], "a link"),
    "device": ([(_info("run/dev", tarfile.CHRTYPE), b"")], "a device"),
    "two roots": ([(_info("other/evil.txt"), b"x")], "top directories"),
}


def test_verify_judges_what_a_matching_archive_records(run_dir: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """A manifest that matches proves the bytes, not the claims: a doctored run packed as it is fails."""
    code, out, _ = _run_main(capsys, "verify", str(_packed(run_dir, tmp_path / "honest.tar.gz")))
    assert code == 0 and "every result agrees with its own numbers" in out
    doctored = tmp_path / "doctored" / run_dir.name
    shutil.copytree(run_dir, doctored)
    data = json.loads((doctored / "result.json").read_text())
    data["runs"][1]["outcome"] = "lost_updates"  # its numbers still say consistent
    (doctored / "result.json").write_text(json.dumps(data))
    code, out, _ = _run_main(capsys, "verify", str(_packed(doctored, tmp_path / "doctored.tar.gz")))
    assert code == 1
    assert "files match the manifest" in out and "but what they record does not hold: 1 problem" in out
    assert (f"  inconsistent  {run_dir.name}: repeat 1 claims outcome lost_updates; its numbers say outcome "
            "consistent, grade acceptable, drift 0") in out


def _packed(directory: Path, archive: Path) -> Path:
    pack(directory, archive)
    return archive


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_with_nothing_written(case: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    members, reason = HOSTILE[case]
    if case == "absolute":
        members = [(_info(str(tmp_path / "outside" / "evil.txt")), b"x")]
    archive = _hostile(tmp_path / "hostile.tar.gz", members)
    into = tmp_path / "work" / "into"
    into.mkdir(parents=True)
    before = sorted(tmp_path.rglob("*"))

    with pytest.raises(ArchiveError, match=reason):
        extract(archive, into)
    for command in (["verify", str(archive)], ["report", str(archive)], ["replay", str(archive), "--out", str(into)]):
        code, out, err = _run_main(capsys, *command)
        assert code == 2 and out == "", command
        assert reason in err and len(err.splitlines()) == 1, (command, err)

    assert sorted(tmp_path.rglob("*")) == before  # nothing written anywhere below, not even in `into`
    assert not list(into.iterdir())
    assert not (tmp_path / "outside").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_size_and_member_bounds(run_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "run.tar.gz"
    pack(run_dir, archive)
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(ArchiveError, match="more than 100 bytes"):
        extract(archive, into, max_bytes=100)
    with pytest.raises(ArchiveError, match="more than 2 members"):
        extract(archive, into, max_members=2)
    assert not list(into.iterdir())


def test_a_member_twice_is_refused(tmp_path: Path) -> None:
    twice = [(_info("run/result.json"), b"{}"), (_info("run/result.json"), b"[]")]
    with pytest.raises(ArchiveError, match="appears twice"):
        verify(_hostile(tmp_path / "twice.tar.gz", twice))


def test_unreadable_and_foreign_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text = tmp_path / "notes.tar.gz"
    text.write_text("not an archive\n")
    code, _, err = _run_main(capsys, "verify", str(text))
    assert code == 2 and err == f"synclab verify: {text}: not a readable tar archive\n"
    plain = tmp_path / "plain.tar.gz"
    with tarfile.open(plain, "w:gz") as tar:
        info = tarfile.TarInfo("run/result.json")
        tar.addfile(info, io.BytesIO(b""))
    code, _, err = _run_main(capsys, "verify", str(plain))
    assert code == 2 and "not a synclab archive" in err
    code, _, err = _run_main(capsys, "verify", str(tmp_path / "absent.tar.gz"))
    assert code == 2 and "no such file" in err


def test_pack_refuses_what_it_cannot_pack_honestly(run_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    existing = tmp_path / "exists.tar.gz"
    existing.write_bytes(b"keep me")
    linked = tmp_path / "linked"
    shutil.copytree(run_dir, linked)
    (linked / "link").symlink_to("/etc/passwd")
    inside = tmp_path / "copy"
    shutil.copytree(run_dir, inside)
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ([str(run_dir), "-o", str(existing)], "already exists"),
        ([str(run_dir), "-o", str(tmp_path / "run.zip")], "must end in"),
        ([str(inside), "-o", str(inside / "self.tar.gz")], "is inside"),
        ([str(empty), "-o", str(tmp_path / "e.tar.gz")], "no synclab run"),
        ([str(linked), "-o", str(tmp_path / "l.tar.gz")], "symbolic link"),
        ([str(tmp_path / "absent"), "-o", str(tmp_path / "a.tar.gz")], "not a directory"),
    ]
    for argv, reason in cases:
        code, out, err = _run_main(capsys, "archive", *argv)
        assert code == 2 and out == "" and reason in err and len(err.splitlines()) == 1, (argv, err)
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.glob("*.tar.gz")) == ["exists.tar.gz"]
    assert not [p for p in tmp_path.rglob(".*.tmp")]


def test_sweep_round_trip_reads_every_job(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sweep = tmp_path / "sweep"
    for job in ("0", "1"):
        shutil.copytree(run_dir, sweep / job)
    archive = tmp_path / "sweep.tar"
    pack(sweep, archive)
    assert verify(archive).manifest.data["kind"] == "sweep"
    code, out, _ = _run_main(capsys, "report", str(archive), "--format", "json")
    assert code == 0
    assert [row["job"] for row in json.loads(out)["rows"]] == ["0", "1"]
    assert os.path.exists(archive)


def test_launcher_internals_are_left_out_of_an_archive(tmp_path):
    """submitit's pickled jobs are code, not results, and a writer's lock is no record: an archive
    never carries them."""
    import tarfile

    from synclab.records.archive import pack

    run = tmp_path / "sweep"
    (run / "0").mkdir(parents=True)
    (run / "0" / "result.json").write_text("{}")
    (run / ".submitit" / "123").mkdir(parents=True)
    (run / ".submitit" / "123" / "123_submitted.pkl").write_bytes(b"\x80\x04.")
    (run / ".synclab.lock").write_text("4242\n")  # the claim a killed writer left behind
    (run / "0" / ".synclab.lock").write_text("")
    manifest = pack(run, tmp_path / "sweep.tar.gz")
    assert sorted(manifest.files) == ["0/result.json"]
    with tarfile.open(tmp_path / "sweep.tar.gz") as tar:
        assert not [name for name in tar.getnames() if ".submitit" in name or ".synclab.lock" in name]
