"""The measuring kernel: the spec and its checks, outcomes and grades, loops, locks, primitives,
the runner, the child-interpreter entry, interpreter discovery, environment capture and co-run
accounting. Standard library only, Python 3.8+: it also runs inside other interpreters
(``python=...``). It imports nothing outside the standard library and itself."""
