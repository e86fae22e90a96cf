"""synclab: measure what locks do (and what their absence costs) in Python.

The names a stress test is written with are loaded on first use, so ``import synclab`` stays free
of everything else (spawned workers import it).
"""

__version__ = "0.1.0"

__all__ = ["stress", "match", "Grade", "ACCEPTABLE", "INTERESTING", "FORBIDDEN", "StressError", "__version__"]

_API = {"stress", "match", "Grade", "ACCEPTABLE", "INTERESTING", "FORBIDDEN", "StressError"}


def __getattr__(name: str):  # PEP 562: ``synclab.stress`` imports the stress API when first used
    if name in _API:
        from synclab.kernel.stress import api

        return getattr(api, name)
    raise AttributeError(f"module 'synclab' has no attribute {name!r}")
