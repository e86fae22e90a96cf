"""Run an experiment: validate it, run its repeats one after another, classify each.

This is the whole of the measuring side. It depends on the standard library only, knows
nothing of Hydra or logging, and reports each repeat through a callback as it finishes.
"""

from typing import Callable, List, Optional

from synclab.kernel.primitives import run_repeat
from synclab.kernel.results import ExperimentResult, RepeatResult, classify_repeat
from synclab.kernel.spec import ExperimentSpec, validate

OnRepeat = Callable[[RepeatResult], None]


def run_experiment(spec: ExperimentSpec, on_repeat: Optional[OnRepeat] = None) -> ExperimentResult:
    validate(spec)
    runs: List[RepeatResult] = []
    for index in range(spec.repeats):
        result = classify_repeat(index, spec, run_repeat(spec))
        runs.append(result)
        if on_repeat is not None:
            on_repeat(result)
    return ExperimentResult(spec, runs)
