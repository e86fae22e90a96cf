"""A sweep sent to a real Ray cluster through hydra/launcher=ray_cluster: a local head started
here on loopback, jobs working in a directory the driver does not share, and every result
filed in the driver's sweep directory all the same."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from conftest import RUN_PY, cli_env, processes_mentioning

pytest.importorskip("ray", reason="ray is not installed: pip install 'synclab[ray]' (make test installs it)")
pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="pip install 'synclab[ray]' (make test installs it)")

START_S = 60  # the head's port opening; the driver's ray.init waits for the rest
STOP_S = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """`ray start --head --block` on 127.0.0.1, in its own temp dir; stopped, and checked gone, afterwards."""
    temp = tempfile.mkdtemp(prefix="synclab-ray-", dir="/tmp")  # short: Ray's unix socket paths must fit
    port = _free_port()
    ray_cli = str(Path(sys.executable).parent / "ray")
    with open(os.path.join(temp, "start.log"), "w") as log:
        head = subprocess.Popen(
            [ray_cli, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
             "--num-cpus=2", "--object-store-memory=100000000", "--include-dashboard=false",
             "--disable-usage-stats", f"--temp-dir={temp}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert head.poll() is None, open(os.path.join(temp, "start.log")).read()[-3000:]
                assert time.monotonic() < deadline, f"the Ray head did not open port {port} within {START_S} s"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # --block: stopping the command stops the head's processes
        try:
            head.wait(STOP_S)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait(STOP_S)
        deadline = time.monotonic() + STOP_S
        while processes_mentioning(temp) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = processes_mentioning(temp)
        for pid in left:  # only the processes of this head: their command lines name its temp dir
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        subprocess.run(["rm", "-rf", temp], check=False)
        assert not left, f"Ray processes outlived the head: {left}"


def test_a_sweep_on_ray_lands_in_the_drivers_sweep_directory(ray_head, tmp_path):
    driver, work = tmp_path / "driver", tmp_path / "worker"
    driver.mkdir()
    work.mkdir()
    (work / "README").write_text("the Ray workers' working directory, not shared with the driver\n")
    # A relative sweep dir: the driver's is under driver/, each job's under the worker's own copy of work/.
    done = subprocess.run(
        [sys.executable, str(RUN_PY), "-m", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address={ray_head}",
         f"+hydra.launcher.ray.init.runtime_env={{working_dir:{work}}}", "hydra.sweep.dir=sweep",
         "lock=none,explicit", "times=2000", "repeats=2"],
        cwd=driver, env=cli_env(), capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    sweep = driver / "sweep"
    for job in ("0", "1"):
        assert f"filed job {job} returned by its worker" in done.stderr  # it was not there before
        result = json.loads((sweep / job / "result.json").read_text())
        assert len(result["runs"]) == 2
        log = (sweep / job / "run.log").read_text()
        written_to = log.split(" -> ", 1)[1].splitlines()[0]
        assert Path(written_to) != sweep / job and str(driver) not in written_to  # the worker's own directory
        assert (sweep / job / "env.json").is_file() and (sweep / job / ".hydra" / "overrides.yaml").is_file()
    assert not (work / "sweep").exists()  # Ray unpacked its own copy of work/ for the jobs
    assert [line.split(",")[0] for line in (sweep / "summary.csv").read_text().splitlines()[1:]] == ["0", "1"]
