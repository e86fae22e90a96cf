"""Run a synclab experiment.

    python run.py                                   # the default experiment
    python run.py lock=decorator workers=4          # with overrides
    python run.py +experiment=pool_race             # a named preset from experiments/
    python run.py -m lock=none,explicit workers=2,4 # a sweep
    python run.py --help                            # every setting and its options
"""

from pathlib import Path

if __name__ == "__main__":
    # Imports stay under the guard: spawned workers re-import this file as __mp_main__
    # and must not pay for Hydra.
    import gc
    import sys

    # Importing and composing make tens of thousands of objects that live as long as the run:
    # collecting while they are made frees nothing, and took a noticeable share of a small
    # run's start. The job restores these thresholds before any worker starts.
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], 50_000), *thresholds[1:])
    try:
        from synclab.app.job import launch
    except ModuleNotFoundError as error:  # run with an interpreter that has not got synclab
        sys.exit(f"synclab: {error.name} is not installed for {sys.executable}; "
                 "run `make install`, then `.venv/bin/python run.py`")

    try:
        launch(Path(__file__).resolve().parent / "conf", gc_thresholds=thresholds)
    finally:
        # The run is over: every file is written and closed, every claim released. Its objects
        # are left to the OS, not to the garbage collector's last pass over everything Hydra,
        # OmegaConf and synclab loaded, which takes longer than a small run itself.
        gc.freeze()
