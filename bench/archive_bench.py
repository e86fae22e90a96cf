"""Benchmark of the environment capture and of archives (a section of `make bench`).

1. The capture a process pays once (interpreter, machine, every installed package, git), in a
   fresh interpreter, import included, and what each further job of a sweep pays (load, start
   method). The per-job part must stay far below a millisecond: sweeps reuse the rest.
2. `synclab archive` and `synclab verify` of a sweep of 200 jobs with the files a real job leaves
   (each result.json a real one, tests/fixtures/result-schema2.json).
"""

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

from synclab.records.archive import pack, verify
from synclab.kernel.env import capture

sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from synthetic import SCHEMA2, fixture_bytes  # noqa: E402

Row = Tuple[str, float, str]
TRIALS = 5
JOBS = 200
_COLD = (
    "import time; t = time.perf_counter(); from synclab.kernel.env import capture; capture(None); "
    "print(time.perf_counter() - t)"
)


def _sweep(root: Path) -> None:
    env = json.dumps(capture(None), indent=2)
    for job in range(JOBS):
        directory = root / str(job)
        (directory / ".hydra").mkdir(parents=True)
        for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
            (directory / ".hydra" / name).write_text("workers: 2\n" * 40)
        (directory / "env.json").write_text(env)
        (directory / "result.json").write_bytes(fixture_bytes(SCHEMA2))
        (directory / "run.log").write_text("repeat 0: before=0 after=0 outcome=consistent\n" * 20)


def bench_capture() -> List[Row]:
    cold = min(float(subprocess.run([sys.executable, "-c", _COLD], capture_output=True, text=True, check=True,
                                    timeout=120).stdout) for _ in range(TRIALS))
    capture(None)
    calls = 2000
    start = time.perf_counter()
    for _ in range(calls):
        capture(None)
    warm = (time.perf_counter() - start) / calls
    rows = [
        ("env capture once per process (ms)", cold * 1e3, "fresh interpreter, import included"),
        ("env capture per further job (us)", warm * 1e6, "load average, start method, switch interval"),
    ]
    tmp = Path(tempfile.mkdtemp(prefix="synclab-archive-bench-"))
    try:
        _sweep(tmp / "sweep")
        packs, checks = [], []
        for trial in range(3):
            output = tmp / f"sweep-{trial}.tar.gz"
            start = time.perf_counter()
            pack(tmp / "sweep", output)
            packs.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert verify(output).ok
            checks.append(time.perf_counter() - start)
        size = (tmp / "sweep-0.tar.gz").stat().st_size
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows += [
        (f"archive a {JOBS}-job sweep (s)", min(packs), f"{JOBS * 6} files, {size:,} bytes packed"),
        (f"verify a {JOBS}-job sweep (s)", min(checks), "every sha256 checked, nothing unpacked"),
    ]
    return rows
