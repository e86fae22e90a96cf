"""The Hydra layer: the structured config schema, the job (app), the sweeper and launcher
wrapping, callbacks, interruption, resume, logging and progress bars. The only layer that
imports Hydra, OmegaConf and loguru."""
