"""The experiment as plain, frozen data, and the checks it must pass before anything starts.

Standard library only and Python 3.8 compatible: this is what workers receive, under any
start method and inside other interpreters (the python key), so it must carry no Hydra or OmegaConf.
"""

import math
import multiprocessing
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from synclab.kernel.outcome import GRADES, MAX_REPEATS, OUTCOMES

# Primitives that run inside one process (a host process, so a stuck repeat can be killed),
# sharing a module-global int, and those that share a multiprocessing.Value across processes.
IN_PROCESS = ("thread", "thread_pool", "asyncio")
CROSS_PROCESS = ("process", "pool", "process_pool")
PRIMITIVES = IN_PROCESS + CROSS_PROCESS
LOCKS = ("none", "explicit", "decorator", "context", "rlock", "semaphore", "value_lock", "manager", "local_sum")
_THREAD_LOCKS = ("none", "explicit", "decorator", "context", "rlock", "semaphore", "local_sum")
# Which lock styles make sense for which primitive.
LOCK_SUPPORT = {
    "thread": _THREAD_LOCKS,
    "thread_pool": _THREAD_LOCKS,
    "asyncio": ("none", "explicit", "context", "semaphore", "local_sum"),
    "process": LOCKS,
    "pool": LOCKS,
    "process_pool": LOCKS,
}
INCREMENTS = ("inplace", "read_modify_write", "read_call_write")  # the statement that updates the balance
# The increment each primitive uses when none is given: the notebook's increment for it.
DEFAULT_INCREMENT = {
    "thread": "inplace",
    "thread_pool": "inplace",
    "asyncio": "read_call_write",
    "process": "read_modify_write",
    "pool": "read_modify_write",
    "process_pool": "read_modify_write",
}
DIRECTIONS = ("both", "deposit")
SHARINGS = ("passed", "inherited")
# Every start method multiprocessing knows; validate() checks that this platform offers it.
START_METHODS = ("fork", "spawn", "forkserver")
GIL_SETTINGS = ("enabled", "disabled")  # the gil key (kernel.gil); None: the interpreter's default

# The balance lives in a multiprocessing.Value('i', ...), a C int, as in the notebook.
SHARED_INT_MIN = -(2**31)
SHARED_INT_MAX = 2**31 - 1
MAX_WORKERS = 512


class ConfigError(ValueError):
    """A configuration that cannot run; the message is one line naming the key."""


SHOWN_CHARS = 120  # a value or path longer than this is shown cut short in a message


def shorten(text: str, limit: int = SHOWN_CHARS) -> str:
    """A value or path fit for one line of output, however long it is: its start, its end and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit // 2]}...{text[-20:]} ({len(text):,} characters)"


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything one experiment needs, resolved: no interpolation, no references."""

    primitive: str = "process"
    lock: str = "none"
    workers: int = 2
    times: int = 100_000
    amount: int = 1
    initial: int = 0
    sleep: float = 0.0
    repeats: int = 3
    start_method: Optional[str] = None
    timeout_s: float = 60.0
    direction: str = "both"
    sharing: str = "passed"
    # outcome -> grade overrides; the defaults follow from the lock (outcome.default_grades)
    grades: Optional[Dict[str, str]] = None
    increment: Optional[str] = None  # None: the primitive's notebook increment (DEFAULT_INCREMENT)
    switch_interval: Optional[float] = None  # sys.setswitchinterval in every process that runs the loop
    python: Optional[str] = None  # another interpreter (version or path); None: this one
    gil: Optional[str] = None  # enabled or disabled on a free-threaded build (kernel.gil); None: its default

    @property
    def increment_used(self) -> str:
        return self.increment or DEFAULT_INCREMENT[self.primitive]

    @property
    def depositors(self) -> int:
        return self.workers if self.direction == "deposit" else (self.workers + 1) // 2

    @property
    def withdrawers(self) -> int:
        return self.workers - self.depositors

    @property
    def expected(self) -> int:
        """The balance every repeat must end with if no update is lost."""
        return self.initial + (self.depositors - self.withdrawers) * self.times * self.amount

    @property
    def ops_expected(self) -> int:
        return self.workers * self.times

    def signed_amounts(self) -> List[int]:
        """One signed amount per worker: depositors first, then withdrawers."""
        return [self.amount] * self.depositors + [-self.amount] * self.withdrawers

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


MAX_SECONDS = 7 * 24 * 3600.0  # for sleep and timeout_s: far below what the platform's timers accept


def _choice(key: str, value: Any, allowed: "tuple[str, ...] | list[str]") -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} is not one of {', '.join(allowed)}")


def _at_least(key: str, value: Any, low: float, kind: type = int, strict: bool = False) -> None:
    """``value`` is a finite number of ``kind`` and >= low (> low when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise ConfigError(f"{key}: expected {'a number' if kind is float else 'an integer'}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value!r}")
    if value < low or (strict and value == low):
        raise ConfigError(f"{key}: must be {'>' if strict else '>='} {low:g}, got {value!r}")


def reachable_range(spec: ExperimentSpec) -> "tuple[int, int]":
    """The lowest and highest balance any interleaving can produce.

    A lost update only ever drops some operations, so the balance stays between
    'every withdrawal landed, no deposit did' and the reverse.
    """
    deposits = spec.depositors * spec.times * spec.amount
    withdrawals = spec.withdrawers * spec.times * spec.amount
    return spec.initial - withdrawals, spec.initial + deposits


def validate(spec: ExperimentSpec) -> ExperimentSpec:
    """Raise ConfigError for the first value that cannot run; return the spec unchanged."""
    _choice("primitive", spec.primitive, PRIMITIVES)
    _choice("lock", spec.lock, LOCKS)
    _choice("direction", spec.direction, DIRECTIONS)
    _choice("sharing", spec.sharing, SHARINGS)
    for outcome, grade in (spec.grades or {}).items():
        _choice("grades", outcome, OUTCOMES)
        _choice(f"grades.{outcome}", grade, GRADES)
    _at_least("workers", spec.workers, 1)
    if spec.workers > MAX_WORKERS:
        raise ConfigError(f"workers: must be <= {MAX_WORKERS}, got {spec.workers}")
    _at_least("times", spec.times, 1)
    _at_least("amount", spec.amount, 1)
    _at_least("repeats", spec.repeats, 1)
    if spec.repeats > MAX_REPEATS:  # what report reads back of one job
        raise ConfigError(f"repeats: must be <= {MAX_REPEATS:,} (synclab's bound per job), got {spec.repeats}")
    _at_least("sleep", spec.sleep, 0, float)
    _at_least("timeout_s", spec.timeout_s, 0, float, strict=True)
    for key in ("sleep", "timeout_s"):
        if getattr(spec, key) > MAX_SECONDS:
            raise ConfigError(f"{key}: must be <= {MAX_SECONDS:g} seconds (a week), got {getattr(spec, key)!r}")
    if isinstance(spec.initial, bool) or not isinstance(spec.initial, int):
        raise ConfigError(f"initial: expected an integer, got {spec.initial!r}")
    available = multiprocessing.get_all_start_methods()
    if spec.start_method is not None and spec.start_method not in available:
        raise ConfigError(
            f"start_method: {spec.start_method!r} is not available here; use null or one of {', '.join(available)}"
        )
    if spec.increment is not None:
        _choice("increment", spec.increment, INCREMENTS)
        if spec.lock == "local_sum":
            raise ConfigError("increment: lock=local_sum adds to a private sum, not the shared balance; leave increment null")
    if spec.lock not in LOCK_SUPPORT[spec.primitive]:
        raise ConfigError(
            f"lock: {spec.lock!r} makes no sense for primitive={spec.primitive}; "
            f"use one of {', '.join(LOCK_SUPPORT[spec.primitive])}"
        )
    if spec.switch_interval is not None:
        _at_least("switch_interval", spec.switch_interval, 0, float, strict=True)
    if spec.gil is not None:
        _choice("gil", spec.gil, GIL_SETTINGS)
    if spec.sharing == "inherited" and spec.primitive != "pool":
        raise ConfigError("sharing: 'inherited' (the notebook's module-level Value) applies only to primitive=pool")
    if spec.primitive in CROSS_PROCESS:
        low, high = reachable_range(spec)
        if low < SHARED_INT_MIN or high > SHARED_INT_MAX:
            raise ConfigError(
                f"initial/amount/times/workers: the balance can reach [{low}, {high}], outside the shared C int "
                f"[{SHARED_INT_MIN}, {SHARED_INT_MAX}]"
            )
    return spec
