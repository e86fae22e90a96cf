"""synclab: measure what locks do (and what their absence costs) in Python."""

__version__ = "0.1.0"
