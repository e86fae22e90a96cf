"""synclab's sweeper: Hydra's basic sweeper, whose jobs' results are filed on the driver.

Hydra accepts plugin classes only from the ``hydra_plugins`` package, and imports every module
here each time it starts, so this module stays thin: the work is in ``synclab.app.sweep``.
"""

from typing import Any, Dict, List, Optional, Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class SynclabSweeper(BasicSweeper):
    """Expand the sweep as the basic sweeper does; file every returned job in the driver's sweep
    directory; with ``resume``, launch only the jobs that have no complete result."""

    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 resume: bool = False) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.resume = resume

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from synclab.app.sweep import FilingLauncher, check_fresh, check_resumable

        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        if self.resume:
            check_resumable(config)
        else:
            check_fresh(config)
        assert self.launcher is not None
        self.launcher = FilingLauncher(self.launcher, hydra_context, config, resume=self.resume)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        from synclab.app.sweep import validate_jobs

        assert self.hydra_context is not None and self.config is not None
        keep = getattr(self.launcher, "composed", None)
        not_run = getattr(self.launcher, "not_run", None)
        validate_jobs(self.hydra_context.config_loader, self.config, batch, keep=keep, not_run=not_run)

    def sweep(self, arguments: List[str]) -> Any:
        from synclab.app.sweep import keeping_sweep_record

        with keeping_sweep_record(self.config, self.resume):
            return super().sweep(arguments)
