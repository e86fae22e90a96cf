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
    """Every repeat, one after another, each classified, with the GIL asked after each: of the
    host process for threads and asyncio, of this process for processes and pools."""
    validate(spec)
    runs: List[RepeatResult] = []
    modules: List[str] = []
    with gil.Watch() as watch:
        for index in range(spec.repeats):
            raw = run_repeat(spec)
            state = raw.gil_enabled if spec.primitive in IN_PROCESS else gil.is_enabled()
            modules += [name for name in raw.gil_reenabled_by if name not in modules]
            result = classify_repeat(index, spec, raw, state)
            runs.append(result)
            if on_repeat is not None:
                on_repeat(result)
    modules += [name for name in watch.modules if name not in modules]
    return ExperimentResult(spec, runs, gil_at_start=watch.at_start, gil_reenabled_by=tuple(modules))
