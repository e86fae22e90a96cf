"""Who else ran on this host: a registry of running synclab jobs, and the host's load.

Jobs that run at once on one machine compete for its cores, and a race or a lock's cost
measured under that competition is not the same measurement. Each job registers a small file
in a per-host directory while it runs (the temp directory, or $SYNCLAB_RUNNING_DIR) and looks
at the others there at its start, after every repeat and at its end; result.json then records
how many other jobs it saw and the load average at its start and end.
"""

import json
import os
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Set

REGISTRY_ENV = "SYNCLAB_RUNNING_DIR"


def registry_dir() -> Path:
    return Path(os.environ.get(REGISTRY_ENV) or Path(tempfile.gettempdir()) / "synclab-running")


def _load() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's job
        return True
    return True


@dataclass
class CoRun:
    """One job's registration and what it saw; use as a context manager around the job."""

    label: str
    host: str = field(default_factory=socket.gethostname)
    others: Set[str] = field(default_factory=set)
    load_start: Optional[float] = None
    load_end: Optional[float] = None
    _entry: Optional[Path] = None

    def __enter__(self) -> "CoRun":
        self.load_start = _load()
        directory = registry_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            if not os.environ.get(REGISTRY_ENV):
                os.chmod(directory, 0o1777)  # shared by every user's jobs, like /tmp itself
        except OSError:
            pass
        entry = directory / f"{self.host}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        try:
            entry.write_text(json.dumps({"label": self.label, "pid": os.getpid(), "started": time.time()}))
            self._entry = entry
        except OSError:
            self._entry = None  # an unwritable registry: the job runs, its record says so
        self.sample()
        return self

    def sample(self) -> None:
        """Note every other live job registered on this host."""
        prefix = f"{self.host}-"
        try:
            names = os.listdir(registry_dir())
        except OSError:
            return
        for name in names:
            if not name.startswith(prefix) or not name.endswith(".json"):
                continue
            if self._entry is not None and name == self._entry.name:
                continue
            try:
                pid = int(name[len(prefix):].split("-")[0])
            except ValueError:
                continue
            if _alive(pid):
                self.others.add(name)
            elif name not in self.others:  # a job that died without unregistering
                try:
                    os.unlink(registry_dir() / name)
                except OSError:
                    pass

    def __exit__(self, *exc: Any) -> None:
        if self._entry is not None:
            try:
                self._entry.unlink()
            except OSError:
                pass

    def finish(self) -> Dict[str, Any]:
        """A last look at the others and the load; what result.json keeps under "host"."""
        self.sample()
        self.load_end = _load()
        return {
            "name": self.host,
            "cpus": os.cpu_count(),
            "co_jobs": len(self.others) if self._entry is not None else None,
            "load_start": self.load_start,
            "load_end": self.load_end,
        }
