"""One engine, one printer: the same stress tests run through Hydra (``workload=stress``), through
``synclab stress`` and through the pytest plugin print the same histograms: the same heading, the
same outcomes with the same grades and descriptions, the same verdict, for a test that passes and
for one that fails. Only the counts differ, the samples being whatever each run's budget allowed."""

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

from test_pytest_plugin import EVERY_THIRD_RAISES, _project, _pytest
from test_stress_engine import LOCKED

BUDGET = "0.1"
ROW = re.compile(r"  (\S+) +([\d,]+) +(\d+(?:\.\d+)?%) +(acceptable|interesting|forbidden) *(.*)")
TESTS = LOCKED + EVERY_THIRD_RAISES  # a test that passes, one that fails
Shape = Tuple[str, List[Tuple[str, str, str]], str]


def _shape(text: str, test: str) -> Shape:
    """(heading, [(outcome, grade, description)], verdict) of the histogram of ``test`` in ``text``;
    the counts of its rows must add up to its samples."""
    lines = text.splitlines()
    heading = f":{test}  (CPython {sys.version.split()[0]}, GIL enabled)"
    [start] = [i for i, line in enumerate(lines) if line.endswith(heading)]
    table = next(i for i in range(start, len(lines))
                 if re.fullmatch(r"  outcome +count +share +grade +description", lines[i]))
    end = next(i for i in range(table, len(lines)) if re.match(r"  [\d,]+ samples in ", lines[i]))
    rows = [ROW.fullmatch(line) for line in lines[table + 2:end]]
    assert all(rows), lines[table + 2:end]
    samples = int(lines[end].split()[0].replace(",", ""))
    assert sum(int(row.group(2).replace(",", "")) for row in rows) == samples
    verdict = lines[end + 1].strip().split(" in ", 1)[0]
    return lines[start], [(row.group(1), row.group(4), row.group(5).strip()) for row in rows], verdict


def test_hydra_synclab_stress_and_pytest_print_the_same_histograms(cli, tmp_path: Path) -> None:
    where = _project(tmp_path, {"test_routes.py": TESTS})
    module = where / "test_routes.py"

    hydra = cli(["workload=stress", f"stress.target={module}", f"stress.time_budget_s={BUDGET}",
                 f"hydra.run.dir={tmp_path / 'hydra-run'}"])
    assert hydra.returncode == 0, hydra.stderr  # a run that is filed; its record says what failed
    command = subprocess.run([sys.executable, "-m", "synclab", "stress", str(module), "--time-budget", BUDGET,
                              "--out", str(tmp_path / "command-run")],
                             capture_output=True, text=True, timeout=120, cwd=where)
    assert command.returncode == 1, command.stderr  # a forbidden outcome
    plugin = _pytest(where, f"--synclab-time-budget={BUDGET}", "-v")
    assert plugin.returncode == 1, plugin.stdout + plugin.stderr
    assert re.search(r"^=+ 1 failed, 1 passed in ", plugin.stdout, flags=re.M), plugin.stdout
    summary = plugin.stdout.split("= synclab stress tests =", 1)[1]

    for test, rows, verdict in [
        ("LockedIncrement", [("2", "acceptable", "")], "no interesting or forbidden outcome"),
        ("EveryThirdRaises", [("ok", "acceptable", ""), ("error", "forbidden", "an actor or the arbiter raised")],
         "FAILED: a forbidden outcome"),
    ]:
        shapes = [_shape(hydra.stdout, test), _shape(command.stdout, test), _shape(summary, test)]
        assert shapes[0][1:] == (rows, verdict), shapes[0]
        assert shapes[1] == shapes[2] == shapes[0], shapes
