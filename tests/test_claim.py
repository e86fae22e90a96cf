"""One directory, one writer: two runs (or sweeps) started at once into one directory, a claim
that dies with its process, and a refusal that leaves nothing behind, not even an empty
dated directory."""

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import pytest
from omegaconf import OmegaConf

from conftest import RUN_PY, cli_command, cli_env
from synclab.app import claim

WAIT_S = 60
# Long enough to still be running when the other process, started at the same moment, has
# been refused; it is stopped with SIGTERM once that is so.
LONG = ["times=300", "sleep=0.001", "repeats=100", "timeout_s=30"]


def _start(args: Sequence[str]) -> subprocess.Popen:
    return subprocess.Popen(cli_command(args), cwd=RUN_PY.parent, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _race(first: List[str], second: List[str], started: Path) -> Dict[str, object]:
    """Start both at once; once one has ended and the other has started its job (``started``
    holds its first whole line: a log that exists may not have its header yet), stop the
    other with SIGTERM. Every wait bounded."""
    procs = [_start(first), _start(second)]
    try:
        deadline = time.monotonic() + WAIT_S
        while all(proc.poll() is None for proc in procs):
            assert time.monotonic() < deadline, f"neither process ended within {WAIT_S} s"
            time.sleep(0.02)
        loser = next(proc for proc in procs if proc.poll() is not None)
        winner = next(proc for proc in procs if proc is not loser)
        lost = loser.communicate(timeout=WAIT_S)
        while not (started.exists() and "\n" in started.read_text(errors="replace")):
            assert winner.poll() is None, f"both ended: {lost[1][-2000:]}"
            assert time.monotonic() < deadline, f"{started} did not appear within {WAIT_S} s"
            time.sleep(0.02)
        winner.send_signal(signal.SIGTERM)
        won = winner.communicate(timeout=WAIT_S)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return {"loser": loser, "lost_err": lost[1], "winner": winner, "won_err": won[1],
            "winner_args": first if winner is procs[0] else second}


def _refused_one_of(race: Dict[str, object], key: str, directory: Path) -> None:
    """The one that ended was refused in one line naming the other; the other ran on until stopped."""
    winner, loser = race["winner"], race["loser"]
    assert loser.returncode == 2, race["lost_err"]
    assert race["lost_err"].splitlines() == [
        f"synclab: {key}: {directory} is in use by another synclab process (pid {winner.pid}); "
        "wait for it to end or choose another directory"
    ]
    assert winner.returncode == 128 + signal.SIGTERM, race["won_err"][-2000:]


def test_two_runs_started_at_once_into_one_directory_one_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    race = _race(["lock=none", *LONG, f"hydra.run.dir={run_dir}"],
                 ["lock=rlock", *LONG, f"hydra.run.dir={run_dir}"], started=run_dir / "run.log")
    _refused_one_of(race, "hydra.run.dir", run_dir)
    lock = race["winner_args"][0].split("=")[1]
    assert OmegaConf.load(run_dir / ".hydra" / "config.yaml").lock.name == lock
    log = (run_dir / "run.log").read_text()
    assert log.count("synclab 0.1.0: primitive=") == 1 and f"lock={lock} " in log
    assert (run_dir / "interrupted.json").is_file()
    assert not (run_dir / claim.LOCK).exists()  # released when the winner ended


def test_two_sweeps_started_at_once_into_one_directory_one_is_refused_and_keeps_the_others_record(
    tmp_path: Path,
) -> None:
    sweep = tmp_path / "sweep"
    race = _race(["-m", "lock=none,explicit", *LONG, f"hydra.sweep.dir={sweep}"],
                 ["-m", "lock=rlock,semaphore", *LONG, f"hydra.sweep.dir={sweep}"], started=sweep / "0" / "run.log")
    _refused_one_of(race, "hydra.sweep.dir", sweep)
    assert f"synclab resume {sweep}" in race["won_err"]
    record = OmegaConf.load(sweep / "multirun.yaml")  # the refused sweep left the winner's record
    assert list(record.hydra.overrides.task)[0] == race["winner_args"][1]
    assert not (sweep / claim.LOCK).exists()


HOLD = "import sys, time; from synclab.app import claim; claim.claim(sys.argv[1], 'hydra.run.dir'); print('held', flush=True); time.sleep(60)"


def test_a_claim_ends_with_its_process_however_it_dies(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(directory)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(claim.DirectoryInUse, match=rf"is in use by another synclab process \(pid {holder.pid}\)"):
            claim.claim(directory, "hydra.run.dir")
    finally:
        holder.kill()
        holder.communicate(timeout=WAIT_S)
    assert (directory / claim.LOCK).exists()  # left by the killed holder: stale, not binding
    try:
        assert claim.held(claim.claim(directory, "hydra.run.dir").directory) is not None
    finally:
        claim.release_all()
    assert directory.is_dir() and not list(directory.iterdir())  # not this claim's to remove


HOLD_SWEEP = HOLD.replace("'hydra.run.dir'", "'hydra.sweep.dir'")


def test_a_run_aimed_into_a_sweep_in_use_is_refused_and_a_stale_one_is_not(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SWEEP, str(sweep)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(claim.DirectoryInUse) as caught:
            claim.claim(sweep / "3", "hydra.run.dir")
        assert str(caught.value) == (f"hydra.run.dir: {sweep / '3'} is inside {sweep}, which another synclab "
                                     f"process is writing (pid {holder.pid}); choose a directory outside it")
        assert not (sweep / "3").exists()  # refused before anything was made
        nested = claim.claim(tmp_path / "elsewhere" / "run", "hydra.run.dir")  # outside it: free
        assert nested.directory == tmp_path / "elsewhere" / "run"
        claim.release_all()
    finally:
        holder.kill()
        holder.communicate(timeout=WAIT_S)
    try:  # the holder is gone; its lock file binds nothing
        assert claim.claim(sweep / "3", "hydra.run.dir").directory == sweep / "3"
    finally:
        claim.release_all()


def test_a_released_claim_removes_the_directories_it_created_when_empty(tmp_path: Path) -> None:
    claim.claim(tmp_path / "a" / "b" / "run", "hydra.run.dir")
    claim.release_all()
    assert not list(tmp_path.iterdir())
    (tmp_path / "kept").mkdir()
    claim.claim(tmp_path / "kept" / "run", "hydra.run.dir")
    (tmp_path / "kept" / "run" / "result.json").write_text("{}")
    claim.release_all()
    assert [p.name for p in (tmp_path / "kept" / "run").iterdir()] == ["result.json"]


@pytest.mark.parametrize("args", [["workers=0"], ["-m", "workers=1,0"]], ids=["run", "sweep"])
def test_a_refused_configuration_leaves_no_empty_dated_directory(tmp_path: Path, args: List[str]) -> None:
    """From a directory without outputs/, as the README's example is typed: Hydra's default
    run and sweep directories (outputs/DATE/TIME) are made and then must all go again."""
    done = subprocess.run([sys.executable, str(RUN_PY), *args], cwd=tmp_path, env=cli_env(),
                          capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("synclab: configuration error: workers: must be >= 1, got 0")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args", [
    ["hydra.run.dir=${hydra:runtime.cwd}/runs/${hydra:job.name}"],
    ["hydra.run.dir=runs/${hydra.job.name}"],
    ["-m", "amount=1,2", "hydra.sweep.dir=${hydra:runtime.cwd}/runs/${hydra:job.name}"],
], ids=["run-hydra-resolver", "run-through-another-key", "sweep-hydra-resolver"])
def test_a_directory_named_through_hydra_config_is_claimed_where_the_job_writes(tmp_path: Path, args: List[str]) -> None:
    """The claim resolves the directory as the job does, with HydraConfig set, so the lock is
    taken in the directory that then receives the result, and nothing else is made."""
    done = subprocess.run([sys.executable, str(RUN_PY), *args, "workers=1", "times=10", "repeats=1"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    results = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("result.json"))
    expected = ["runs/synclab/0/result.json", "runs/synclab/1/result.json"] if "-m" in args else ["runs/synclab/result.json"]
    assert results == expected
    assert not list(tmp_path.rglob(claim.LOCK))  # released where it was taken
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
