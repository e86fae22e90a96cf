"""What a stress run is asked to do: which tests, for how long, with how many threads, under which
interpreter and GIL state. Frozen and plain, so that it crosses into another interpreter as JSON."""

from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional

from synclab.kernel.spec import GIL_SETTINGS

DEFAULT_TIME_BUDGET_S = 1.0
DEFAULT_STRIDE = 1000
MAX_STRIDE = 1_000_000
MAX_THREADS = 64  # actors x threads per actor
MAX_TIME_BUDGET_S = 24 * 3600.0


@dataclass(frozen=True)
class StressSpec:
    target: str  # pkg.module:Class, path/to/file.py:Class, a file, a module or a directory
    pattern: Optional[str] = None  # only tests whose class name contains it
    time_budget_s: float = DEFAULT_TIME_BUDGET_S  # per test
    stride: int = DEFAULT_STRIDE  # fresh states per stride
    threads_per_actor: int = 1
    switch_interval: Optional[float] = None  # sys.setswitchinterval while the actors run
    python: Optional[str] = None  # another interpreter: a version (3.13t) or a path
    gil: Optional[str] = None  # enabled | disabled, on a free-threaded build

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _seconds(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def _count(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int)


def problems(spec: StressSpec, actors: Optional[int] = None) -> "list[str]":
    """Every setting out of range, one line each, naming the key (``stress.KEY`` as Hydra spells it);
    ``actors``, once a test is loaded, bounds its threads in all."""
    found = []
    if not isinstance(spec.target, str) or not spec.target.strip():
        found.append("stress.target: names the tests to run: pkg.module:Class, path/to/file.py:Class, a file, "
                     "a module or a directory")
    if spec.pattern is not None and not isinstance(spec.pattern, str):
        found.append(f"stress.pattern: a part of a class name, got {spec.pattern!r}")
    if not _seconds(spec.time_budget_s) or not 0 < spec.time_budget_s <= MAX_TIME_BUDGET_S:
        found.append(f"stress.time_budget_s: seconds per test, > 0 and <= {MAX_TIME_BUDGET_S:g}, "
                     f"got {spec.time_budget_s!r}")
    if not _count(spec.stride) or not 1 <= spec.stride <= MAX_STRIDE:
        found.append(f"stress.stride: states per stride, an integer from 1 to {MAX_STRIDE}, got {spec.stride!r}")
    if not _count(spec.threads_per_actor) or spec.threads_per_actor < 1 \
            or (actors or 1) * spec.threads_per_actor > MAX_THREADS:
        counted = "" if actors is None else f" ({actors} actor{'' if actors == 1 else 's'})"
        found.append(f"stress.threads_per_actor: an integer >= 1, with at most {MAX_THREADS} threads in all"
                     f"{counted}, got {spec.threads_per_actor!r}")
    if spec.switch_interval is not None and (not _seconds(spec.switch_interval) or not 0 < spec.switch_interval <= 1):
        found.append(f"switch_interval: seconds, > 0 and <= 1, or null, got {spec.switch_interval!r}")
    if spec.gil is not None and spec.gil not in GIL_SETTINGS:
        found.append(f"gil: unknown option {spec.gil!r}; choose from {', '.join(GIL_SETTINGS)}")
    return found
