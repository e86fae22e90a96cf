"""What one stress test observed: every outcome with its count and grade, the samples taken, and
the interpreter state they were taken in. Counts, never a bare pass or fail."""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from synclab.kernel.stress.api import Declared


@dataclass(frozen=True)
class OutcomeCount:
    outcome: str  # as jcstress writes one: "1", "True, False"; "error" when an actor raised
    count: int
    grade: str  # acceptable | interesting | forbidden
    description: str

    def to_dict(self) -> Dict[str, Any]:
        return {"outcome": self.outcome, "count": self.count, "grade": self.grade, "description": self.description}


@dataclass(frozen=True)
class StressResult:
    test: str  # module:QualName
    description: str
    samples: int  # states every actor ran on; the counts add up to it
    strides: int
    stride: int  # states per stride
    threads_per_actor: int
    time_budget_s: float
    seconds: float  # wall time of the strides: building states, running actors, counting
    outcomes: Tuple[OutcomeCount, ...]  # most often seen first
    declared: Tuple[Declared, ...]
    default: str
    error: Optional[str]  # the first traceback of an actor or arbiter that raised
    warnings: Tuple[str, ...]
    switch_interval: Optional[float]  # sys.setswitchinterval during the run; null: unchanged
    gil_enabled_at_start: Optional[bool]
    gil_enabled: Optional[bool]  # on at any point of the run

    @property
    def samples_per_s(self) -> Optional[float]:
        return self.samples / self.seconds if self.seconds > 0 else None

    def seen(self, grade: str) -> int:
        """Samples whose outcome has this grade."""
        return sum(entry.count for entry in self.outcomes if entry.grade == grade)

    @property
    def status(self) -> str:
        """The worst grade seen: forbidden fails the test; interesting is the race it is about."""
        for grade in ("forbidden", "interesting"):
            if self.seen(grade):
                return grade
        return "acceptable"

    def to_dict(self) -> Dict[str, Any]:
        return {
            "test": self.test,
            "description": self.description,
            "samples": self.samples,
            "strides": self.strides,
            "stride": self.stride,
            "threads_per_actor": self.threads_per_actor,
            "time_budget_s": self.time_budget_s,
            "seconds": self.seconds,
            "samples_per_s": None if self.samples_per_s is None else round(self.samples_per_s, 1),
            "outcomes": [entry.to_dict() for entry in self.outcomes],
            "declared": [entry.to_dict() for entry in self.declared],
            "default": self.default,
            "error": self.error,
            "warnings": list(self.warnings),
            "switch_interval": self.switch_interval,
            "gil_enabled_at_start": self.gil_enabled_at_start,
            "gil_enabled": self.gil_enabled,
        }


def from_dict(data: Dict[str, Any]) -> StressResult:
    """A result as to_dict wrote it (a child interpreter's, trusted as the kernel's own output;
    result.json is judged by records, never read back through this)."""
    return StressResult(
        test=data["test"],
        description=data["description"],
        samples=data["samples"],
        strides=data["strides"],
        stride=data["stride"],
        threads_per_actor=data["threads_per_actor"],
        time_budget_s=data["time_budget_s"],
        seconds=data["seconds"],
        outcomes=tuple(OutcomeCount(**entry) for entry in data["outcomes"]),
        declared=tuple(Declared(**entry) for entry in data["declared"]),
        default=data["default"],
        error=data["error"],
        warnings=tuple(data["warnings"]),
        switch_interval=data["switch_interval"],
        gil_enabled_at_start=data["gil_enabled_at_start"],
        gil_enabled=data["gil_enabled"],
    )
