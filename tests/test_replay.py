"""Replay and compare: a consistent locked run is reproduced, a doctored result differs for the
right reason, environment differences are named, a sweep replays from an archive into one
table, and what an archived configuration holds besides synclab's settings is never applied.
(tests/test_hostile.py runs every reader on hostile inputs.)"""

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Tuple

import pytest

from conftest import run_cli
from synclab.records.archive import pack
from synclab.commands.cli import main
from synclab.commands.replay import ReplayError, overrides_for
from synclab.reports.stats import fisher_exact

REPEATS = 5  # 0/5 against 5/5 is beyond chance (Fisher exact p = 0.0079); 0/3 against 3/3 is not (0.1)


@pytest.fixture(scope="module")
def locked_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A locked run: every repeat consistent, by construction of the lock (read only)."""
    out = tmp_path_factory.mktemp("runs") / "locked"
    done = run_cli(["primitive=process", "lock=explicit", "times=2000", f"repeats={REPEATS}", f"hydra.run.dir={out}"])
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "result.json").read_text())["summary"]["outcomes"] == {"consistent": REPEATS}
    return out


@pytest.fixture
def copy(locked_run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "origin"
    shutil.copytree(locked_run, target)
    return target


def _main(capsys: pytest.CaptureFixture, *argv: str) -> Tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _only_replay(out: Path) -> Path:
    found = [p for p in out.glob("*/*") if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def test_fisher_exact_against_known_tables() -> None:
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(0.4857142857)  # Fisher's lady tasting tea
    assert fisher_exact(8, 2, 1, 5) == pytest.approx(0.0349650350)
    assert fisher_exact(0, 5, 5, 0) == pytest.approx(2 / 252)
    assert fisher_exact(0, 3, 3, 0) == pytest.approx(0.1)
    assert fisher_exact(2, 3, 2, 3) == 1.0 and fisher_exact(0, 0, 0, 0) == 1.0


def test_replay_of_a_consistent_locked_run_is_reproduced(locked_run: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "replays"
    code, stdout, err = _main(capsys, "replay", str(locked_run), "--out", str(out))
    assert code == 0, err
    assert "verdict: reproduced" in stdout
    assert f"consistent: origin {REPEATS}/{REPEATS}, replay {REPEATS}/{REPEATS}: p = 1, and a rate of 1 against 0 " \
           "would have been significant at 0.05" in stdout  # the power argument, not just a p-value
    assert stdout.splitlines()[-1] == "1 job compared: 1 reproduced, 0 differs, 0 inconclusive; verdict: reproduced"
    replay = _only_replay(out)
    result = json.loads((replay / "result.json").read_text())
    original = json.loads((locked_run / "result.json").read_text())
    assert result["config"] == original["config"]  # exactly the recorded configuration
    assert (replay / "env.json").is_file() and (replay / ".hydra" / "config.yaml").is_file()
    origin = json.loads((replay / "origin.json").read_text())
    assert origin["origin"] == str(locked_run) and origin["archive"] is None
    assert "lock.name='explicit'" in origin["overrides"] and "times=2000" in origin["overrides"]


def test_doctored_result_differs_for_the_right_reason(copy: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    result_path = copy / "result.json"
    data = json.loads(result_path.read_text())
    for run in data["runs"]:  # as if the lock had let updates through in every repeat
        run.update(after=run["expected"] + 7, drift=7, outcome="lost_updates", grade="forbidden")
    result_path.write_text(json.dumps(data))
    code, stdout, err = _main(capsys, "replay", str(copy), "--out", str(tmp_path / "replays"), "--repeats", "5")
    assert code == 1, err
    assert "verdict: differs" in stdout
    assert f"forbidden outcome lost_updates in origin only: origin {REPEATS}/{REPEATS}, replay 0/5" in stdout
    assert f"lost_updates: origin {REPEATS}/{REPEATS}, replay 0/5: Fisher exact p = 0.0079 < 0.05" in stdout
    histogram = [line.split() for line in stdout.splitlines() if line.startswith(("consistent ", "lost_updates "))]
    assert histogram == [["lost_updates", f"{REPEATS}/{REPEATS}", "0/5", "p", "=", "0.0079"],
                         ["consistent", f"0/{REPEATS}", "5/5", "p", "=", "0.0079"]]
    assert [line.split()[1:] for line in stdout.splitlines() if line.startswith("forbidden ")] == [["lost_updates", "none"]]
    assert "7.0" in stdout  # drift shown side by side


def test_a_locked_run_relabelled_without_its_numbers_differs(copy: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    """Only the labels say lost_updates: the origin's record contradicts its own numbers."""
    result_path = copy / "result.json"
    data = json.loads(result_path.read_text())
    for run in data["runs"]:
        run["outcome"] = "lost_updates"
    result_path.write_text(json.dumps(data))
    code, stdout, err = _main(capsys, "replay", str(copy), "--out", str(tmp_path / "replays"))
    assert code == 1, err
    assert f"origin holds a record its own numbers contradict ({REPEATS} claims; `synclab report` lists them)" in stdout


def _race(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("race") / "race"
    done = run_cli(["primitive=process", "lock=none", "direction=deposit", "times=100000", "repeats=3",
                    f"hydra.run.dir={out}"])
    assert done.returncode == 0, done.stderr
    return out


def test_a_race_against_a_replay_that_never_shows_it_is_inconclusive(tmp_path_factory: pytest.TempPathFactory,
                                                                     tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """3 repeats a side cannot tell a race from none: the verdict says so and how many would."""
    from synclab.commands import replay

    origin = _race(tmp_path_factory)
    lost = json.loads((origin / "result.json").read_text())["summary"]["outcomes"].get("lost_updates", 0)
    real_run_again = replay.run_again

    def never_racing(job: "replay.Job", target: Path) -> None:  # the replay side doctored to 0 of 3
        real_run_again(job, target)
        data = json.loads((target / "result.json").read_text())
        for run in data["runs"]:
            run.update(after=run["expected"], drift=0, outcome="consistent", grade="acceptable")
        data.pop("summary")
        (target / "result.json").write_text(json.dumps(data))

    monkeypatch.setattr(replay, "run_again", never_racing)
    code, stdout, err = _main(capsys, "replay", str(origin), "--out", str(tmp_path / "replays"))
    assert code == 3, err
    assert "verdict: inconclusive" in stdout
    if lost:  # a race on the origin side, never on the replay's
        rate = f"{lost / 3:.2g}"
        needed = {1: 19, 2: 9, 3: 4}[lost]  # repeats_to_tell_from_never(lost / 3, 0.05), checked in test_verdict
        assert (f"lost_updates: origin {lost}/3, replay 0/3: p = {fisher_exact(lost, 3 - lost, 0, 3):.2g}; "
                f"3 against 3 repeats could not tell a rate of {rate} from 0 at 0.05; "
                f"about {needed} repeats a side would tell a rate of {rate} from 0") in stdout
        replays = {1: 58, 2: 9, 3: 4}[lost]  # other_side_to_tell(lost, 3, 0.05): the replay's side alone
        assert (f"hint: `synclab replay {origin} --repeats {replays}` gives the replay side enough repeats to tell "
                f"the origin's {lost}/3 lost_updates from never") in stdout
    else:  # the race never showed: both sides all consistent, still too few repeats to say so
        assert "about 4 repeats a side would tell a rate of 1 from 0" in stdout


def test_an_environment_difference_is_named(locked_run: Path, copy: Path, capsys: pytest.CaptureFixture) -> None:
    env_path = copy / "env.json"
    env = json.loads(env_path.read_text())
    env["python"]["compiler"] = "GCC 4.8.5"
    env["cpu_count"] = 64
    env["packages"]["omegaconf"] = "2.0.0"
    env["packages"]["extra-package"] = "1.0"
    env["hostname"] = "elsewhere"  # not something that explains an outcome
    env_path.write_text(json.dumps(env))
    code, stdout, _ = _main(capsys, "compare", str(locked_run), str(copy))
    assert code == 0  # same outcomes: the environment alone does not make a difference
    assert "verdict: reproduced" in stdout
    real = json.loads((locked_run / "env.json").read_text())
    assert f"python.compiler: {real['python']['compiler']} -> GCC 4.8.5" in stdout
    assert f"cpu_count: {real['cpu_count']} -> 64" in stdout
    assert f"packages.omegaconf: {real['packages']['omegaconf']} -> 2.0.0" in stdout
    assert "packages installed in B only (1): extra-package" in stdout
    assert "hostname" not in stdout


@pytest.mark.parametrize("field, value, reason", [
    ("version", "3.9.0", "Python version: A {real}, B 3.9: not the same experiment"),
    ("start_method", "spawn", "start method: A {real}, B spawn: not the same experiment"),
    ("gil_enabled", False, "GIL enabled: A yes, B no: not the same experiment"),
])
def test_another_interpreter_makes_the_comparison_meaningless(locked_run: Path, copy: Path, field: str, value: object,
                                                              reason: str, capsys: pytest.CaptureFixture) -> None:
    data = json.loads((copy / "result.json").read_text())
    real = data["interpreter"][field]
    data["interpreter"][field] = value
    if field == "gil_enabled":  # the GIL state a record proves is its repeats' (judge.py): all of it says so
        data["gil"].update(enabled=value, enabled_at_start=value)
        for run in data["runs"]:
            run["gil_enabled"] = value
    (copy / "result.json").write_text(json.dumps(data))
    code, stdout, _ = _main(capsys, "compare", str(locked_run), str(copy))
    shown = ".".join(real.split(".")[:2]) if field == "version" else real
    assert code == 1 and "verdict: differs" in stdout
    assert reason.format(real=shown) in stdout


def test_a_result_without_its_interpreter_is_matched_by_env_json(locked_run: Path, copy: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    data = json.loads((copy / "result.json").read_text())
    del data["interpreter"]  # as synclab wrote it before result.json recorded it
    (copy / "result.json").write_text(json.dumps(data))
    env = json.loads((copy / "env.json").read_text())
    env["python"]["implementation"] = "PyPy"
    (copy / "env.json").write_text(json.dumps(env))
    code, stdout, _ = _main(capsys, "compare", str(locked_run), str(copy))
    assert code == 1 and "implementation: A CPython, B PyPy: not the same experiment" in stdout


def test_compare_matches_sweep_jobs_by_configuration(copy: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(copy, a / "0")
    other = json.loads((copy / "result.json").read_text())
    other["config"]["sleep"] = 0.001  # another experiment, its repeats' numbers still its own
    shutil.copytree(copy, a / "1")
    (a / "1" / "result.json").write_text(json.dumps(other))
    shutil.copytree(a / "1", b / "0")  # the same jobs, numbered the other way round
    shutil.copytree(a / "0", b / "1")
    code, stdout, _ = _main(capsys, "compare", str(a), str(b))
    assert code == 0, stdout
    assert "2 jobs compared: 2 reproduced, 0 differs, 0 inconclusive; verdict: reproduced" in stdout
    shutil.rmtree(b / "0")
    code, stdout, _ = _main(capsys, "compare", str(a), str(b))
    assert code == 1 and "A 1: no job with the same configuration in B" in stdout
    for job, sleep in (("0", 0.002), ("1", 0.003)):  # B: two other experiments, none of A's
        other["config"]["sleep"] = sleep
        (b / job).mkdir(exist_ok=True)
        shutil.copytree(copy, b / job, dirs_exist_ok=True)
        (b / job / "result.json").write_text(json.dumps(other))
    code, stdout, _ = _main(capsys, "compare", str(a), str(b))
    assert code == 1, stdout
    assert stdout.splitlines()[-2:] == [
        "nothing in common: no job of A has the configuration of a job of B",
        "0 jobs compared: 0 reproduced, 0 differs, 0 inconclusive, 4 not compared; verdict: differs"]


def test_sweep_replays_from_an_archive_into_one_table(locked_run: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    sweep = tmp_path / "sweep"
    for job in ("0", "1"):
        shutil.copytree(locked_run, sweep / job)
    archive = tmp_path / "sweep.tar.gz"
    pack(sweep, archive)
    out = tmp_path / "replays"
    code, stdout, err = _main(capsys, "replay", str(archive), "--out", str(out), "--repeats", "2")
    assert code == 0, err
    assert "2 jobs compared: 2 reproduced, 0 differs, 0 inconclusive; verdict: reproduced" in stdout
    table = [line.split() for line in stdout.splitlines()]
    assert [row[0] for row in table[2:4]] == ["0", "1"] and all(row[-1] == "reproduced" for row in table[2:4])
    replay = _only_replay(out)
    assert json.loads((replay / "origin.json").read_text())["jobs"] == ["0", "1"]
    job = json.loads((replay / "0" / "origin.json").read_text())
    assert job["origin"] == str(archive) and job["archive"]["member"] == "sweep/0"
    assert json.loads((replay / "1" / "result.json").read_text())["summary"]["repeats"] == 2
    assert (replay / "summary.csv").is_file()
    assert (replay / "outcomes.png").read_bytes().startswith(b"\x89PNG")  # its plots, as a sweep's end draws them


EXTERNAL = "primitive:\n  name: process\n  _target_: os.system\n"


def test_a_target_is_never_applied_and_is_named_once(copy: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """Archived, in a sweep of two jobs: the replay runs without it, and says so in one line."""
    config = copy / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("primitive:\n  name: process\n", EXTERNAL))
    sweep = tmp_path / "sweep"
    for job in ("0", "1"):
        shutil.copytree(copy, sweep / job)
    archive = tmp_path / "hostile.tar.gz"
    pack(sweep, archive)
    out = tmp_path / "replays"
    code, stdout, err = _main(capsys, "replay", str(archive), "--out", str(out), "--repeats", "2")
    assert code == 0, err
    named = [line for line in err.splitlines() if "not applied" in line]
    assert named == [f"synclab replay: not applied: primitive._target_ in {archive}/0/.hydra/config.yaml "
                     "(and 1 more job): a reference to code; synclab never imports what a recorded run names"]
    replay = _only_replay(out)
    origin = json.loads((replay / "0" / "origin.json").read_text())
    assert not any("_target_" in item for item in origin["overrides"])
    assert "2 jobs compared: 2 reproduced, 0 differs" in stdout


def test_allow_external_code_applies_an_interpolation(copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    config = copy / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("times: 2000", "times: ${oc.env:SYNCLAB_TEST_TIMES}"))
    monkeypatch.setenv("SYNCLAB_TEST_TIMES", "2000")
    out = tmp_path / "r"
    code, stdout, err = _main(capsys, "replay", str(copy), "--out", str(out), "--repeats", "2",
                              "--allow-external-code")
    assert code == 0, err
    assert "not applied" not in err and "verdict: reproduced" in stdout
    assert json.loads((_only_replay(out) / "result.json").read_text())["config"]["times"] == 2000


def test_python_tags_in_archived_yaml_never_run(copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "ran"
    (copy / ".hydra" / "config.yaml").write_text(f"workers: !!python/object/apply:os.system ['touch {marker}']\n")
    code, _, err = _main(capsys, "replay", str(copy), "--out", str(tmp_path / "r"), "--allow-external-code")
    assert code == 2 and "not plain YAML" in err and len(err.splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "r").exists()


def test_an_interpolation_is_not_applied_without_allow_external_code(copy: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """The setting keeps this checkout's default (initial: 0, as recorded), and the line says so."""
    config = copy / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("initial: 0", "initial: ${oc.env:SYNCLAB_NEVER_READ}"))
    code, stdout, err = _main(capsys, "replay", str(copy), "--out", str(tmp_path / "r"), "--repeats", "2")
    assert code == 0, err
    assert [line for line in err.splitlines() if "not applied" in line] == [
        f"synclab replay: not applied: initial = '${{oc.env:SYNCLAB_NEVER_READ}}' in {copy}/.hydra/config.yaml: "
        "an interpolation, which can call resolvers; this checkout's default is used instead "
        "(--allow-external-code applies it)"]


@pytest.mark.parametrize("argv, reason", [
    (["replay", "/nonexistent/run"], "not a run, a sweep nor a synclab archive"),
    (["replay", ".", "--repeats", "0"], "--repeats: must be between 1 and 20,000 (synclab's bound per job), got 0"),
    (["replay", ".", "--repeats", "10000000"], "--repeats: must be between 1 and 20,000"),
    (["compare", ".", ".", "--alpha", "2"], "--alpha: must be between 0 and 1, got 2.0"),
])
def test_bad_input_is_one_line(argv: list, reason: str, capsys: pytest.CaptureFixture) -> None:
    code, stdout, err = _main(capsys, *argv)
    assert code == 2 and stdout == "" and reason in err and len(err.splitlines()) == 1


def test_a_run_without_its_recorded_config_cannot_be_replayed(copy: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    (copy / ".hydra" / "config.yaml").unlink()
    code, _, err = _main(capsys, "replay", str(copy), "--out", str(tmp_path / "r"))
    assert code == 2 and "config.yaml: missing" in err and not (tmp_path / "r").exists()


def test_overrides_reproduce_every_recorded_value() -> None:
    config = {"primitive": {"name": "thread"}, "python": "3.10", "sleep": 0.001, "switch_interval": 1e-06,
              "start_method": None, "repeats": 3, "grades": {"timeout": None}}
    assert overrides_for(config, repeats=7) == [
        "primitive.name='thread'", "python='3.10'", "sleep=0.001", "switch_interval=1e-06",
        "start_method=null", "repeats=7", "grades.timeout=null",
    ]
    with pytest.raises(ReplayError, match="quote"):
        overrides_for({"python": "it's"})
    with pytest.raises(ReplayError, match="plain values"):
        overrides_for({"workers": [1, 2]})


def _running_with(text: str) -> list:
    """Processes (not zombies) whose command line holds text."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and text.encode() in (proc / "cmdline").read_bytes():
                found.append(proc.name)
        except (OSError, IndexError):
            pass
    return found


def test_a_replay_that_outlives_its_bound_is_stopped_with_its_workers(locked_run: Path, tmp_path: Path) -> None:
    """The run is killed as a process group: neither run.py nor its workers survive the refusal."""
    from synclab.commands.replay import Job, run_again
    from synclab.reports.report import read_run

    target = tmp_path / "slow"
    overrides = ("primitive.name='process'", "lock.name='explicit'", "times=1000000", "sleep=0.001", "repeats=1")
    job = Job(read_run(str(locked_run), "."), locked_run, overrides, bound_s=1.5)
    with pytest.raises(ReplayError, match="did not finish within 2 s; stopped"):
        run_again(job, target)
    alive = _running_with(str(target))
    deadline = time.monotonic() + 10  # SIGKILL is certain, but a dying worker can take a moment to go
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = _running_with(str(target))
    for pid in alive:  # do not leave them running for the rest of the suite
        os.kill(int(pid), signal.SIGKILL)
    assert not alive, f"processes of the stopped replay still alive: {alive}"
    assert not (target / "result.json").exists()
