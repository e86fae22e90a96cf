"""Run an experiment: validate it, run its repeats one after another, classify each.

This is the whole of the measuring side. It depends on the standard library only, knows
nothing of Hydra or logging, and reports each repeat through a callback as it finishes.
"""

from typing import Callable, List, Optional

from synclab.kernel import gil
from synclab.kernel.primitives import run_repeat
from synclab.kernel.results import ExperimentResult, RepeatResult, classify_repeat
from synclab.kernel.spec import IN_PROCESS, ExperimentSpec, validate

OnRepeat = Callable[[RepeatResult], None]


def run_experiment(spec: ExperimentSpec, on_repeat: Optional[OnRepeat] = None) -> ExperimentResult:
    """Every repeat, one after another, each classified, with the GIL asked of the process whose
    threads run the loop: the host process for threads and asyncio (before and after its loop),
    this one for processes and pools, whose workers each run the loop on one thread."""
    validate(spec)
    runs: List[RepeatResult] = []
    modules: "tuple[str, ...]" = ()
    hosted = spec.primitive in IN_PROCESS
    at_start: Optional[bool] = None
    with gil.Watch() as watch, gil.workers_inherit(spec.gil):
        for index in range(spec.repeats):
            raw = run_repeat(spec)
            state = raw.gil_enabled if hosted else gil.is_enabled()
            if index == 0:
                at_start = raw.gil_at_start if hosted else watch.at_start
            modules = gil.merged(modules, raw.gil_reenabled_by)
            result = classify_repeat(index, spec, raw, state)
            runs.append(result)
            if on_repeat is not None:
                on_repeat(result)
    return ExperimentResult(spec, runs, gil_at_start=at_start, gil_reenabled_by=gil.merged(modules, watch.modules))
