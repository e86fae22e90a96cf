"""Interrupting a real sweep with SIGINT or SIGTERM, then `synclab resume`: every job complete exactly once."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, cli_command, cli_env, processes_mentioning

# Three jobs of about a second each: a signal sent once job 1 has started lands inside it.
SWEEP = ["-m", "lock=none,explicit,rlock", "times=200", "sleep=0.001", "repeats=2", "timeout_s=30"]
WAIT_S = 60


def _wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while not path.exists():
        assert proc.poll() is None, f"the sweep ended before {path} appeared: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear within {WAIT_S} s"
        time.sleep(0.02)


def _synclab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "synclab", *args], cwd=ROOT, env=cli_env(),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_sweep_resumes_to_every_job_complete_exactly_once(tmp_path, signum):
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(cli_command([*SWEEP, f"hydra.sweep.dir={sweep}"]), cwd=ROOT, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(sweep / "0" / "result.json", proc)
        _wait_for(sweep / "1" / "run.log", proc)  # job 1 has started: it runs for about a second
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, err[-2000:]
    assert f"synclab resume {sweep}" in err

    # the interrupted job is marked, nothing half-written, the finished one intact, the summary covers it
    assert not (sweep / "1" / "result.json").exists() and (sweep / "1" / "interrupted.json").is_file()
    assert not (sweep / "2").exists()
    assert not list(sweep.rglob("*.tmp"))
    assert [line.split(",")[0] for line in (sweep / "summary.csv").read_text().splitlines()[1:]] == ["0"]
    assert "the job was interrupted" in (sweep / "summary.md").read_text()
    deadline = time.monotonic() + 10
    while processes_mentioning(str(sweep)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_mentioning(str(sweep)), "the interrupted job's workers outlived the sweep"

    first = (sweep / "0" / "result.json").read_bytes()
    record = (sweep / "multirun.yaml").read_bytes()
    done = _synclab("resume", str(sweep))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rerunning job(s) 1, 2" in done.stderr
    for job in ("0", "1", "2"):
        assert (sweep / job / "result.json").is_file()
        assert (sweep / job / "run.log").read_text().count("synclab 0.1.0: primitive=") == 1  # ran once
    assert (sweep / "0" / "result.json").read_bytes() == first  # never rerun, never overwritten
    assert not (sweep / "1" / "interrupted.json").exists()
    assert (sweep / "multirun.yaml").read_bytes() == record
    rows = (sweep / "summary.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "1", "2"]

    summary_written = (sweep / "summary.csv").stat().st_mtime_ns
    again = _synclab("resume", str(sweep))
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert (sweep / "summary.csv").stat().st_mtime_ns == summary_written


def test_resume_refuses_a_sweep_whose_configuration_changed(tmp_path, cli):
    sweep = tmp_path / "sweep"
    assert cli([*SWEEP[:2], "times=50", "repeats=1", f"hydra.sweep.dir={sweep}"]).returncode == 0
    (sweep / "1" / "result.json").unlink()
    record = sweep / "multirun.yaml"
    record.write_text(record.read_text().replace("\namount: 1\n", "\namount: 3\n"))
    done = _synclab("resume", str(sweep))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "synclab: configuration error: the sweep's configuration changed since it ran "
        "(amount was 3, is now 1); resume refuses to mix them"
    ]
    assert not (sweep / "1" / "result.json").exists()


def test_resume_needs_a_sweep_directory(tmp_path):
    done = _synclab("resume", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == f"synclab resume: {tmp_path}: not a sweep directory (no multirun.yaml)\n"


def test_resume_refuses_a_job_directory_holding_another_jobs_result(tmp_path, cli):
    sweep = tmp_path / "sweep"
    assert cli([*SWEEP[:2], "times=50", "repeats=1", f"hydra.sweep.dir={sweep}"]).returncode == 0
    (sweep / "2" / "result.json").unlink()
    result = sweep / "1" / "result.json"
    result.write_text(result.read_text().replace('"lock=explicit"', '"lock=semaphore"'))
    done = _synclab("resume", str(sweep))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"synclab: configuration error: job 1 in {sweep}/1 holds a result for lock=semaphore times=50 repeats=1, "
        "but the sweep's job 1 is lock=explicit times=50 repeats=1; resume refuses to mix them"
    )
    assert not (sweep / "2" / "result.json").exists()


def test_an_interrupted_single_run_is_marked_and_leaves_no_result(tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(cli_command(["times=300", "sleep=0.001", "repeats=20", f"hydra.run.dir={run_dir}"]),
                            cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(run_dir / "run.log", proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert err.strip().splitlines()[-1] == "synclab: interrupted by SIGTERM"
    assert not (run_dir / "result.json").exists()
    assert json.loads((run_dir / "interrupted.json").read_text())["signal"] == "SIGTERM"


def test_a_second_signal_during_the_shutdown_is_absorbed(tmp_path):
    """Ctrl-C twice, or SIGTERM twice: the second lands while the first is being handled (once
    the interrupted job is marked, while the summary and its plots are written) and changes
    nothing: no traceback, the first signal's exit status, the summary, plots and resume hint.
    Both signals are tried at once, one sweep each."""
    procs = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        sweep = tmp_path / signal.Signals(signum).name
        procs[signum] = (sweep, subprocess.Popen(cli_command([*SWEEP, f"hydra.sweep.dir={sweep}"]), cwd=ROOT,
                                                 env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    errors = {}
    try:
        for signum, (sweep, proc) in procs.items():
            _wait_for(sweep / "0" / "result.json", proc)
            _wait_for(sweep / "1" / "run.log", proc)
            proc.send_signal(signum)
        for signum, (sweep, proc) in procs.items():
            _wait_for(sweep / "1" / "interrupted.json", proc)  # the shutdown is under way
            proc.send_signal(signum)
        for signum, (sweep, proc) in procs.items():
            errors[signum] = proc.communicate(timeout=WAIT_S)[1]
    finally:
        for _, proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for signum, (sweep, proc) in procs.items():
        err = errors[signum]
        assert proc.returncode == 128 + signum, err[-2000:]
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-2000:]
        assert err.strip().splitlines()[-1].endswith(f"Finish it with: synclab resume {sweep}")
        assert [line.split(",")[0] for line in (sweep / "summary.csv").read_text().splitlines()[1:]] == ["0"]
        assert (sweep / "outcomes.png").is_file() and (sweep / "drift.png").is_file()
        assert not list(sweep.rglob("*.tmp"))


def test_once_an_interruption_is_concluded_further_signals_are_ignored_to_the_end(capsys, monkeypatch):
    """Python gives a handled signal its default action back while it shuts down: a second
    SIGTERM landing then would kill the process instead of the exit status conclude() returns."""
    from synclab.app import interrupt

    monkeypatch.setitem(interrupt._STATE, "signal", signal.SIGTERM)
    monkeypatch.setitem(interrupt._STATE, "sweep", None)  # a single run's ending
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert interrupt.conclude() == 128 + signal.SIGTERM
        assert signal.getsignal(signal.SIGINT) == signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    assert capsys.readouterr().err == "synclab: interrupted by SIGTERM\n"


def test_a_finalizer_an_interruption_cut_short_is_dropped_and_any_other_error_still_shown():
    """The traceback a second signal once left at exit: multiprocessing's Finalize made half-way."""
    import types
    from multiprocessing.util import Finalize

    from synclab.app.interrupt import _quiet_about_cut_finalizers

    shown = []
    hook = _quiet_about_cut_finalizers(shown.append)
    cut = object.__new__(Finalize)  # as __init__ leaves it when interrupted before it sets its key
    hook(types.SimpleNamespace(object=cut, exc_value=AttributeError("_key"), exc_type=AttributeError))
    assert shown == []
    other = types.SimpleNamespace(object=object(), exc_value=AttributeError("x"), exc_type=AttributeError)
    hook(other)
    class Watched:
        pass

    watched = Watched()
    whole = Finalize(watched, print)  # a finalizer made whole still reports its errors
    failing = types.SimpleNamespace(object=whole, exc_value=AttributeError("y"), exc_type=AttributeError)
    hook(failing)
    whole.cancel()
    assert shown == [other, failing]
