"""Result trees as synclab writes them, built in memory: every repeat's numbers match its outcome,
so a test can doctor exactly one thing and know what a reader should find; and the real
result.json files under tests/fixtures (each made by the run its README names)."""

import functools
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from synclab.kernel.outcome import grade_table

FIXTURES = Path(__file__).resolve().parent / "fixtures"

SCHEMA1_UNGRADED = "result-schema1-ungraded.json"  # the first schema 1: before grading
SCHEMA1 = "result-schema1.json"  # the last schema 1: process, lock=explicit, 3 consistent
SCHEMA1_TIMEOUT = "result-schema1-timeout.json"
SCHEMA2 = "result-schema2.json"  # process, lock=none: 1 consistent, 2 lost_updates
SCHEMA2_LOCKED = "result-schema2-locked.json"  # process, lock=explicit: 3 consistent
SCHEMA2_DEPOSIT = "result-schema2-deposit.json"  # thread, lock=explicit, 3 workers x 10 of 2 from 100, deposit
SCHEMA2_TIMEOUT = "result-schema2-timeout.json"
SCHEMA2_NOT_SHARED = "result-schema2-not-shared.json"
SCHEMA2_INCOMPLETE = "result-schema2-incomplete.json"


@functools.lru_cache(maxsize=None)
def _text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture(name: str) -> Dict[str, Any]:
    """A fixture's result.json, parsed afresh: the caller may change it."""
    return json.loads(_text(name))


def fixture_bytes(name: str) -> bytes:
    return _text(name).encode()


def _numbers(outcome: str, drift: Optional[int]) -> dict:
    """The numbers a repeat of 2 workers x 10 operations from 0 leaves when it ends with ``outcome``."""
    numbers = {"after": drift, "ops_reported": 20, "ops_done": 20, "failed_workers": 0,
               "timed_out": outcome == "timeout"}
    if outcome == "not_shared":
        numbers["ops_done"] = 0
    elif outcome == "incomplete":
        numbers.update(failed_workers=1, ops_reported=10, ops_done=10)
    elif outcome == "timeout":
        numbers.update(ops_reported=0, ops_done=0)
    return numbers


def result(
    lock: str = "none",
    workers: int = 2,
    outcomes: Sequence[str] = ("consistent",),
    drifts: Optional[Sequence[Optional[int]]] = None,
    rates: Optional[Sequence[Optional[float]]] = None,
    overrides: Optional[List[str]] = None,
    grades: Optional[Dict[str, str]] = None,
    graded: bool = True,
    **config: object,
) -> dict:
    """A result.json as synclab writes it, every repeat's numbers matching its outcome; graded=False
    gives one from before grading (schema 1, no grades, no timeout flag)."""
    drifts = drifts if drifts is not None else [0 if o == "consistent" else 5 for o in outcomes]
    rates = rates if rates is not None else [1000.0] * len(outcomes)
    table = grade_table(lock, grades)
    # every worker deposits 10 times 1 under direction=deposit; with both, an odd worker out deposits
    expected = workers * 10 if config.get("direction") == "deposit" else workers % 2 * 10
    runs = []
    for index, (outcome, drift, rate) in enumerate(zip(outcomes, drifts, rates)):
        numbers = _numbers(outcome, drift)
        work_s = None if rate is None or not numbers["ops_done"] else numbers["ops_done"] / rate
        if numbers["after"] is not None:  # drift is from the balance the settings expect
            numbers["after"] += expected
        run = {"repeat": index, "before": 0, **numbers, "expected": expected, "drift": drift,
               "ops_expected": workers * 10, "wall_s": 0.01, "work_s": work_s,
               "ops_per_s": None if work_s is None else rate, "outcome": outcome}
        if workers != 2:  # every count scales with the workers
            run.update({key: run[key] * workers // 2 for key in ("ops_reported", "ops_done")})
            run["ops_per_s"] = None if work_s is None else round(run["ops_done"] / work_s, 1)
        if graded:
            run["grade"] = table[outcome]
        else:
            del run["timed_out"]
        runs.append(run)
    data = {
        "schema_version": 2 if graded else 1,
        "config": {"primitive": "process", "lock": lock, "workers": workers, "times": 10, "amount": 1,
                   "initial": 0, "sleep": 0.0, "repeats": len(runs), "start_method": None, "timeout_s": 60.0,
                   "direction": "both", "sharing": "passed", "grades": grades, **config},
        "runs": runs,
        "summary": {"repeats": len(runs)},
    }
    if graded:
        data["grading"] = table
    if overrides is not None:
        data["overrides"] = overrides
    return data


def job(directory: Path, data: object = None, raw: Optional[bytes] = None, overrides_yaml: Optional[str] = None) -> Path:
    """A job directory as Hydra and synclab leave it."""
    (directory / ".hydra").mkdir(parents=True, exist_ok=True)
    if overrides_yaml is not None:
        (directory / ".hydra" / "overrides.yaml").write_text(overrides_yaml)
    (directory / "run.log").write_text("")
    if raw is not None:
        (directory / "result.json").write_bytes(raw)
    elif data is not None:
        (directory / "result.json").write_text(json.dumps(data, indent=2))
    return directory


def sweep(root: Path, locks=("none", "explicit"), workers=(2, 4), **kwargs: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    num = 0
    for lock in locks:
        for count in workers:
            job(root / str(num), result(lock, count, overrides=[f"lock={lock}", f"workers={count}"], **kwargs))
            num += 1
    return root
