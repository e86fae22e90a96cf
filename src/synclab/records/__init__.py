"""Records: what a run leaves on disk and how it is read back. The result file's format and its
checks (judge), filing of launcher jobs, archives and their verification. Never imports the code
that starts workers, nor Hydra, OmegaConf or loguru."""
