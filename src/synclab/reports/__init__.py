"""Reports: statistics, the rows of a report, the one table renderer, compare and its verdicts,
plots. Reads records; never imports the code that starts workers, nor Hydra, OmegaConf or loguru
(matplotlib only in plots)."""
