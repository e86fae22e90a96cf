"""Faults end in one line: a directory that cannot be one, an option no file can be named
after, an immutable directory, a full disk. Each names the path and the cause, exits non-zero
without a traceback, leaves nothing half-written, and a sweep keeps its finished jobs, their
summary and a resume that works once the cause is gone."""

import errno
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Sequence

import pytest

from conftest import ROOT, CliRun, cli_command, cli_env, run_cli
from synclab.app.claim import LOCK
from synclab.kernel.spec import shorten

WAIT_S = 60
TINY = ["times=50", "repeats=1"]
LONG_NAME = "n" * 10_000


def run_all(runs: Sequence[Sequence[str]]) -> List[CliRun]:
    """Several `python run.py` at once (each takes about a second of start-up), every wait bounded."""
    procs = [subprocess.Popen(cli_command(args), cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for args in runs]
    try:
        outputs = [proc.communicate(timeout=WAIT_S) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return [CliRun(tuple(args), proc.returncode, out, err) for args, proc, (out, err) in zip(runs, procs, outputs)]


def one_line(done: CliRun) -> str:
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(done.stderr_lines) == 1, done.stderr[-3000:]
    return done.stderr_lines[0]


def fault_line(done: CliRun) -> str:
    """The line a sweep's fault ends with, after the log lines of the jobs that ran."""
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    *logged, last = done.stderr_lines
    assert all(re.match(r"\d\d:\d\d:\d\d \| (INFO|WARNING) ", line) for line in logged), done.stderr[-3000:]
    return last


def tree(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _synclab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synclab", *args], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=WAIT_S)


@pytest.mark.parametrize("kind", ["a file", "/dev/null", "under a file", "under /proc", "a name too long"])
def test_a_directory_that_cannot_be_one_is_refused_naming_the_path_and_the_cause(tmp_path: Path, kind: str) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    directory, named, cause = {
        "a file": (a_file, a_file, "Not a directory"),
        "/dev/null": (Path("/dev/null"), Path("/dev/null"), "Not a directory"),
        "under a file": (a_file / "run", a_file, "Not a directory"),
        "under /proc": (Path("/proc/synclab/run"), Path("/proc/synclab"), "No such file or directory"),
        "a name too long": (tmp_path / LONG_NAME, tmp_path / LONG_NAME, "File name too long"),
    }[kind]
    with pytest.raises(OSError) as refused:
        claim("hydra.run.dir", directory)
    assert (refused.value.filename, refused.value.strerror) == (str(named), cause)
    assert tree(tmp_path) == ["file"] and a_file.read_text() == "not a directory"


def claim(key: str, directory: Path) -> None:
    from synclab.app import claim as claims

    try:
        claims.claim(directory, key)
    finally:
        claims.release_all()


def test_a_run_or_sweep_into_a_directory_that_cannot_be_one_ends_in_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    cases = [  # (key, value, the path the line names, the cause)
        ("hydra.run.dir", "/dev/null", "/dev/null", "Not a directory"),
        ("hydra.run.dir", tmp_path / LONG_NAME, shorten(str(tmp_path / LONG_NAME)), "File name too long"),
        ("hydra.sweep.dir", a_file / "sweep", a_file, "Not a directory"),
    ]
    runs = [(["-m"] if key == "hydra.sweep.dir" else []) + [*TINY, f"{key}={value}"] for key, value, _, _ in cases]
    for (key, _, named, cause), done in zip(cases, run_all(runs)):
        line = one_line(done)
        assert done.returncode == 1, line
        assert line == f"synclab: {key}: {named}: unusable as a directory ({cause})"
        assert len(line) < 300, line  # a 10,000-character name is shown cut short
    assert tree(tmp_path) == ["file"] and a_file.read_text() == "not a directory"


def test_an_option_name_longer_than_a_file_name_is_a_configuration_error(tmp_path: Path) -> None:
    runs = [["lock=" + LONG_NAME, *TINY, f"hydra.run.dir={tmp_path}/run"],
            ["+experiment=" + LONG_NAME, *TINY, f"hydra.run.dir={tmp_path}/run"]]
    for group, done in zip(("lock", "experiment"), run_all(runs)):
        line = one_line(done)
        assert done.returncode == 2
        assert line.startswith(f"synclab: configuration error: {group}: unknown option 'nnnn"), line
        assert "(10,000 characters)', longer than a file name can be; choose from " in line
    assert not list(tmp_path.iterdir())


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody may write into, root included (chattr +i), made writable again after."""
    directory = tmp_path / "immutable"
    directory.mkdir()
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    with arranged(["chattr", "+i", str(directory)], ["chattr", "-i", str(directory)],
                  "cannot make a directory immutable here"):
        yield directory


@contextmanager
def arranged(command: List[str], undo: List[str], refused: str) -> Iterator[None]:
    """Set the machine up with a command (the test is skipped, with the reason, where the
    machine refuses it) and undo it afterwards."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"{refused}: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(undo, check=True)


def test_a_run_into_an_immutable_directory_ends_in_one_line(immutable: Path) -> None:
    done = run_cli([*TINY, f"hydra.run.dir={immutable}/run"])
    line = one_line(done)
    assert done.returncode == 1
    assert line == f"synclab: hydra.run.dir: {immutable}/run: unusable as a directory (Operation not permitted)"
    assert not list(immutable.iterdir())


def test_a_sweep_with_an_immutable_job_directory_keeps_the_summary_and_resumes_once_it_is_writable(
    tmp_path: Path, immutable: Path
) -> None:
    sweep = immutable.parent
    subprocess.run(["chattr", "-i", str(immutable)], check=True)
    immutable.rename(sweep / "1")  # job 1's directory: Hydra cannot write its record there
    subprocess.run(["chattr", "+i", str(sweep / "1")], check=True)
    immutable.mkdir()  # for the fixture to clean up
    try:
        done = run_cli(["-m", "lock=none,explicit", *TINY, f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.plots=false"])
    finally:
        subprocess.run(["chattr", "-i", str(sweep / "1")], check=True)
    line = fault_line(done)
    assert done.returncode == 1
    assert line == (f"synclab: {sweep}/1/.hydra: Operation not permitted; the summary covers the finished jobs; "
                    f"once the cause is gone, finish it with: synclab resume {sweep}")
    assert [row.split(",")[0] for row in (sweep / "summary.csv").read_text().splitlines()[1:]] == ["0"]
    assert not list((sweep / "1").iterdir()) and not (sweep / LOCK).exists()

    resumed = _synclab("resume", str(sweep))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [row.split(",")[0] for row in (sweep / "summary.csv").read_text().splitlines()[1:]] == ["0", "1"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs of the test's own, unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    with arranged(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], ["umount", "-l", str(disk)],
                  "cannot mount a tmpfs here"):
        yield disk


def fill(disk: Path) -> Path:
    """Fill the disk to its last byte; return the filler, whose removal frees it again."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC
    return filler


def no_half_written_file(root: Path) -> None:
    for path in root.rglob("*"):
        assert not path.name.endswith(".tmp"), path
        if path.is_file() and path.name not in ("filler", "run.log"):
            assert path.stat().st_size > 0, f"{path} is empty, as if it were valid"


def test_a_run_on_a_full_disk_ends_in_one_line_leaves_nothing_and_runs_once_there_is_room(small_disk: Path) -> None:
    filler = fill(small_disk)
    run_dir = small_disk / "outputs" / "run"
    done = run_cli([*TINY, f"hydra.run.dir={run_dir}"])
    line = one_line(done)
    assert done.returncode == 1
    assert line.startswith(f"synclab: {run_dir}") and line.endswith("No space left on device"), line
    assert tree(small_disk) == ["filler"]  # not even the 0-byte .hydra/config.yaml Hydra began

    filler.unlink()
    again = run_cli([*TINY, f"hydra.run.dir={run_dir}"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert (run_dir / "result.json").is_file()


def test_a_sweep_whose_disk_fills_up_ends_in_one_line_and_resumes_once_there_is_room(small_disk: Path) -> None:
    sweep = small_disk / "sweep"
    proc = subprocess.Popen(cli_command(["-m", "lock=none,explicit", "times=300", "sleep=0.001", "repeats=2",
                                         f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.plots=false"]),
                            cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while not (sweep / "0" / "result.json").exists():
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "job 0 did not finish"
            time.sleep(0.01)
        filler = fill(small_disk)  # while job 1 runs, or before it starts
        out, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    done = CliRun((), proc.returncode, out, err)
    line = fault_line(done)
    assert done.returncode == 1
    assert "No space left on device; " in line and line.endswith(f"finish it with: synclab resume {sweep}"), line
    assert (sweep / "0" / "result.json").is_file() and not (sweep / "1" / "result.json").exists()
    assert not (sweep / "1" / ".hydra").exists()
    no_half_written_file(small_disk)

    filler.unlink()
    resumed = _synclab("resume", str(sweep))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [row.split(",")[0] for row in (sweep / "summary.csv").read_text().splitlines()[1:]] == ["0", "1"]
