"""Result trees derived from the real result.json files under tests/fixtures (each made by the run
its README names): a test asks for settings and each repeat's outcome, and gets a real file with
just those changed, every repeat built from a real repeat that ended the same way and its numbers
still matching its outcome, so that a test can doctor one thing more and know what a reader finds."""

import functools
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Optional, Sequence

from synclab.kernel.outcome import classify, grade_table
from synclab.records.resultfile import summarize

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
SCHEMA3 = "result-schema3.json"  # process, lock=none, with the GIL
SCHEMA3_FREE_THREADED = "result-schema3-free-threaded.json"  # 8 threads on 3.13t, GIL disabled: lost updates

# Where a real repeat of each outcome is, when the file a result starts from has none
REPEAT_OF = {"consistent": SCHEMA2, "lost_updates": SCHEMA2, "not_shared": SCHEMA2_NOT_SHARED,
             "incomplete": SCHEMA2_INCOMPLETE, "timeout": SCHEMA2_TIMEOUT}


@functools.lru_cache(maxsize=None)
def _text(name: str) -> str:
    return (FIXTURES / name).read_text()


@functools.lru_cache(maxsize=None)
def _parsed(name: str) -> Dict[str, Any]:
    return json.loads(_text(name))  # read only: fixture() hands out copies


def fixture(name: str) -> Dict[str, Any]:
    """A fixture's result.json, parsed afresh: the caller may change it."""
    return json.loads(_text(name))


def fixture_bytes(name: str) -> bytes:
    return _text(name).encode()


def _real_repeats(outcome: str, base: str) -> List[Dict[str, Any]]:
    for name in (base, REPEAT_OF[outcome]):
        found = [run for run in _parsed(name)["runs"] if run["outcome"] == outcome]
        if found:
            return found
    raise ValueError(f"no fixture holds a real {outcome} repeat")


def result(
    lock: str = "none",
    workers: int = 2,
    outcomes: Sequence[str] = ("consistent",),
    drifts: Optional[Sequence[Optional[int]]] = None,
    rates: Optional[Sequence[Optional[float]]] = None,
    overrides: Optional[List[str]] = None,
    grades: Optional[Dict[str, str]] = None,
    base: str = SCHEMA2,
    **config: object,
) -> dict:
    """The fixture ``base`` with these settings and one repeat per outcome, in its own shape.

    Each repeat is the next real repeat that ended with its outcome (in base, else in REPEAT_OF's
    file), its counts scaled to the settings; ``drifts`` (default: the real repeat's) sets after -
    expected, ``rates`` (default: 1000 ops/s each) its work_s. The summary is recomputed;
    ``overrides`` None leaves them out, as in a result read together with its .hydra/overrides.yaml.
    """
    data = fixture(base)
    settings = data["config"]
    settings.update({"lock": lock, "workers": workers, "repeats": len(outcomes), **config})
    if grades is not None or "grades" in settings:
        settings["grades"] = grades
    table = grade_table(lock, grades)
    times, amount, initial = settings["times"], settings["amount"], settings["initial"]
    ops_expected = workers * times
    # every worker deposits under direction=deposit; with both, an odd worker out deposits
    expected = initial + (workers if settings["direction"] == "deposit" else workers % 2) * times * amount
    shape = list(data["runs"][0])  # a repeat's keys, in the order this schema writes them
    taken: Dict[str, int] = {}
    runs = []
    for index, outcome in enumerate(outcomes):
        real = _real_repeats(outcome, base)
        model = real[taken.get(outcome, 0) % len(real)]
        taken[outcome] = taken.get(outcome, 0) + 1
        drift = model["drift"] if drifts is None else drifts[index]
        rate = 1000.0 if rates is None else rates[index]
        ops_done = model["ops_done"] * ops_expected // model["ops_expected"]
        numbers = {
            "repeat": index, "before": initial, "after": None if drift is None else expected + drift,
            "expected": expected, "drift": drift, "ops_expected": ops_expected,
            "ops_reported": model["ops_reported"] * ops_expected // model["ops_expected"], "ops_done": ops_done,
            "failed_workers": min(model["failed_workers"], workers),
            "timed_out": model.get("timed_out", outcome == "timeout"),
            # no operation landed: the real repeat's own time, and no rate
            "work_s": model["work_s"] if not ops_done else None if rate is None else ops_done / rate,
            "ops_per_s": None if rate is None or not ops_done else rate,
            "outcome": outcome, "grade": table[outcome],
        }
        # wall_s: the real repeat's time outside its loop, plus this repeat's work_s
        numbers["wall_s"] = round(model["wall_s"] - (model["work_s"] or 0) + (numbers["work_s"] or 0), 6)
        said = classify(expected=expected, ops_expected=ops_expected,
                        **{key: numbers[key] for key in ("after", "ops_reported", "ops_done", "failed_workers",
                                                         "timed_out")})
        if said != outcome:
            raise ValueError(f"repeat {index}: drift {drift} with {workers} workers x {times} gives {said}, "
                             f"not {outcome}")
        runs.append({key: numbers[key] for key in shape})
    data["runs"] = runs
    summary = summarize([SimpleNamespace(outcome=run["outcome"], grade=table[run["outcome"]], drift=run["drift"],
                                         ops_per_s=run["ops_per_s"]) for run in runs])
    data["summary"] = {key: summary[key] for key in data["summary"]}
    if "grading" in data:
        data["grading"] = table
    if overrides is None:
        data.pop("overrides", None)
    else:
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
