"""Filing returned jobs on the driver, the registry of co-running jobs, and how the report shows both."""

import json
import subprocess
import sys

from synclab.reports import render, report
from synclab.app.config import describe_error
from synclab.kernel.corun import CoRun
from synclab.records.filing import JobFiles, clear_attempt, file_job, pack, unfinished
from synthetic import SCHEMA2, SCHEMA2_LOCKED, fixture

RESULT = fixture(SCHEMA2)


def _job(subdir: str = "3", result: dict = RESULT) -> JobFiles:
    return JobFiles(subdir, ((".hydra/overrides.yaml", "- lock=none\n"), ("run.log", "log\n"),
                             ("result.json", json.dumps(result))))


def test_a_returned_job_is_filed_once_and_never_over_a_complete_one(tmp_path):
    assert file_job(tmp_path, _job()) == "filed"
    assert (tmp_path / "3" / ".hydra" / "overrides.yaml").read_text() == "- lock=none\n"
    assert json.loads((tmp_path / "3" / "result.json").read_text()) == RESULT
    assert file_job(tmp_path, _job()) == "present"  # a shared filesystem: the job wrote it there itself
    other = fixture(SCHEMA2_LOCKED)  # another run's result
    assert file_job(tmp_path, _job(result=other)) == "kept"
    assert json.loads((tmp_path / "3" / "result.json").read_text()) == RESULT
    assert not list(tmp_path.rglob("*.tmp"))


def test_pack_reads_back_what_the_job_wrote_result_last(tmp_path):
    file_job(tmp_path, _job())
    packed = pack(tmp_path / "3", "3")
    assert [name for name, _ in packed.files] == [".hydra/overrides.yaml", "run.log", "result.json"]
    assert packed == _job()


def test_an_unfinished_attempt_is_cleared_a_complete_job_never(tmp_path):
    done, cut = tmp_path / "0", tmp_path / "1"
    for job in (done, cut):
        (job / ".hydra").mkdir(parents=True)
        for name in ("run.log", "env.json", ".result.json.x.tmp"):
            (job / name).write_text("x")
    (done / "result.json").write_text("{}")
    (cut / "interrupted.json").write_text("{}")
    assert unfinished(tmp_path) == {"1": cut}
    clear_attempt(done)
    clear_attempt(cut)
    assert sorted(p.name for p in done.iterdir()) == [".hydra", ".result.json.x.tmp", "env.json", "result.json", "run.log"]
    assert sorted(p.name for p in cut.iterdir()) == [".hydra"]


def test_jobs_running_at_once_see_each_other_and_dead_ones_are_dropped(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNCLAB_RUNNING_DIR", str(tmp_path))
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    with CoRun("a") as first:
        stale = tmp_path / f"{first.host}-{ended.pid}-dead.json"  # a job killed before it unregistered
        stale.write_text("{}")
        with CoRun("b") as second:  # it sees the first at its start; the first sees it at its next look
            first.sample()
            seen_by_second = second.finish()
        seen_by_first = first.finish()
    assert seen_by_second["co_jobs"] == 1 and seen_by_first["co_jobs"] == 1
    assert seen_by_first["cpus"] and seen_by_first["name"] == first.host
    assert not stale.exists()
    assert list(tmp_path.iterdir()) == []
    with CoRun("alone") as alone:
        assert alone.finish()["co_jobs"] == 0


def test_the_report_marks_co_run_rows_and_names_interrupted_jobs(tmp_path):
    for job, co_jobs in (("0", 0), ("1", 2)):
        (tmp_path / job).mkdir()
        host = {**RESULT["host"], "co_jobs": co_jobs, "load_end": 2.5}
        data = {**RESULT, "overrides": [f"workers={job}"], "host": host}
        (tmp_path / job / "result.json").write_text(json.dumps(data))
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "interrupted.json").write_text("{}")
    built = report.collect(tmp_path)
    table = render.to_table(built)
    assert "co-run" in table.splitlines()[0]
    assert "CO-RUN: 2 others, load 2.5" in table and table.count("CO-RUN") == 1
    assert "1 ran beside other jobs on their host" in table
    assert [s.reason for s in built.skipped] == [
        "no result.json: the job was interrupted (see interrupted.json); `synclab resume` reruns it"]
    assert [(r["co_jobs"], r["host_load"]) for r in render.records(built)] == [(0, 2.5), (2, 2.5)]
    alone = report.collect(tmp_path / "0")
    assert "co-run" not in render.to_table(alone) and "CO-RUN" not in render.to_markdown(alone)


def test_a_launcher_without_its_plugin_names_the_extra_to_install():
    from hydra.errors import MissingConfigException

    error = MissingConfigException("In 'hydra/launcher/ray_cluster': Could not load 'hydra/launcher/ray'.\n"
                                   "Config search path: ...", "hydra/launcher/ray")
    assert describe_error(error) == (
        "hydra/launcher=ray_cluster: its launcher plugin is not installed; pip install 'synclab[ray]'")


def test_an_in_process_launcher_reuses_each_checked_composition_once() -> None:
    """The sweeper's check composes every job; Hydra's in-process launcher gets that very
    configuration instead of composing it again, once per job, and the loader is left as it was."""
    from types import SimpleNamespace

    from hydra._internal.core_plugins.basic_launcher import BasicLauncher
    from omegaconf import OmegaConf

    from synclab.app.sweep import FilingLauncher

    class Loader:
        calls: list = []

        def load_sweep_config(self, master_config, sweep_overrides):
            self.calls.append(list(sweep_overrides))
            return OmegaConf.create({"fresh": True})

    loader = Loader()
    launcher = FilingLauncher(BasicLauncher(), SimpleNamespace(config_loader=loader), OmegaConf.create({}))
    checked = OmegaConf.create({"checked": True})
    launcher.composed[("lock=none",)] = checked
    with launcher.reusing_composed():
        assert loader.load_sweep_config(None, ["lock=none"]) is checked
        assert loader.load_sweep_config(None, ["lock=none"]).fresh  # once only
        assert loader.load_sweep_config(None, ["lock=explicit"]).fresh
    assert Loader.calls == [["lock=none"], ["lock=explicit"]]
    assert "load_sweep_config" not in vars(loader) and not launcher.composed


def test_a_launcher_that_pickles_itself_gets_no_reuse() -> None:
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from synclab.app.sweep import FilingLauncher

    class Remote:  # any launcher but Hydra's in-process one
        pass

    launcher = FilingLauncher(Remote(), SimpleNamespace(config_loader=object()), OmegaConf.create({}))
    assert launcher.composed is None
