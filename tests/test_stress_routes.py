"""One engine, one printer: the same stress test run through Hydra (``workload=stress``), through
``synclab stress`` and through the pytest plugin prints the same histogram: the same heading, the
same outcomes with the same grades and descriptions, the same verdict. Only the counts differ, the
samples being whatever each run's time budget allowed."""

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

from test_pytest_plugin import BROKEN, _failure, _project, _pytest

BUDGET = "0.1"
ROW = re.compile(r"  (\S+) +([\d,]+) +(\d+(?:\.\d+)?%) +(acceptable|interesting|forbidden) *(.*)")


def _shape(text: str) -> Tuple[str, List[Tuple[str, str, str]], str]:
    """(heading, [(outcome, grade, description)], verdict) of the one histogram in ``text``; the
    shares of the rows must add up to the whole."""
    lines = text.splitlines()
    [start] = [i for i, line in enumerate(lines) if line.endswith(":EveryThirdRaises  (CPython "
                                                                  f"{sys.version.split()[0]}, GIL enabled)")]
    table = next(i for i in range(start, len(lines))
                 if re.fullmatch(r"  outcome +count +share +grade +description", lines[i]))
    end = next(i for i in range(table, len(lines)) if re.match(r"  [\d,]+ samples in ", lines[i]))
    rows = [ROW.fullmatch(line) for line in lines[table + 2:end]]
    assert all(rows), lines[table + 2:end]
    samples = int(lines[end].split()[0].replace(",", ""))
    assert sum(int(row.group(2).replace(",", "")) for row in rows) == samples
    verdict = lines[end + 1].strip().split(" in ", 1)[0]
    return lines[start], [(row.group(1), row.group(4), row.group(5).strip()) for row in rows], verdict


def test_hydra_synclab_stress_and_pytest_print_the_same_histogram(cli, tmp_path: Path) -> None:
    where = _project(tmp_path, {"test_every_third.py": BROKEN})
    module = where / "test_every_third.py"

    hydra = cli(["workload=stress", f"stress.target={module}:EveryThirdRaises", f"stress.time_budget_s={BUDGET}",
                 f"hydra.run.dir={tmp_path / 'hydra-run'}"])
    assert hydra.returncode == 0, hydra.stderr  # a run that is filed; its record says what failed
    command = subprocess.run([sys.executable, "-m", "synclab", "stress", f"{module}:EveryThirdRaises",
                              "--time-budget", BUDGET, "--out", str(tmp_path / "command-run")],
                             capture_output=True, text=True, timeout=120, cwd=where)
    assert command.returncode == 1, command.stderr  # a forbidden outcome
    plugin = _pytest(where, f"--synclab-time-budget={BUDGET}", "-k", "EveryThirdRaises")
    assert plugin.returncode == 1, plugin.stdout + plugin.stderr

    shapes = [_shape(hydra.stdout), _shape(command.stdout), _shape(_failure(plugin.stdout, "EveryThirdRaises"))]
    heading, rows, verdict = shapes[0]
    assert rows == [("ok", "acceptable", ""), ("error", "forbidden", "an actor or the arbiter raised")]
    assert verdict == "FAILED: a forbidden outcome"
    assert shapes[1] == shapes[2] == shapes[0], shapes
