"""Bounds on everything synclab reads from a run directory or an archive, and readers that keep them.

Such files may come from someone else, so no file, nesting, alias or count may cost more than
the limits below, whatever it holds: a file past one is refused with the bound named (report
and compare list it as skipped, with the reason) before it is parsed into Python objects, and
no hostile input takes a reader past MEMORY_CEILING. The README's "Security: what replay
trusts" lists these numbers; this is the one place they are set, but for MAX_REPEATS, which
the kernel checks on every run (kernel.outcome: the kernel imports nothing outside itself).
"""

import json
import os
from typing import Any, Dict, List, Tuple

from synclab.kernel.outcome import MAX_REPEATS  # repeats per job: for a run, replay's --repeats, and a result.json

MEMORY_CEILING = 512 << 20  # address space a reader stays under for every hostile input (tests/test_hostile.py)
MAX_RESULT_BYTES = 16 << 20  # one result.json
MAX_JSON_BYTES = 4 << 20  # env.json and any other small record a reader opens
MAX_MANIFEST_BYTES = 32 << 20  # an archive's manifest (100,000 files take about 15 MB)
MAX_JSON_ITEMS = 1_000_000  # values in one JSON file (a result of MAX_REPEATS takes about 620,000)
MAX_DEPTH = 32  # nesting of JSON and YAML (synclab writes at most 5 levels)
MAX_YAML_BYTES = 256 << 10  # a .hydra/config.yaml or overrides.yaml (Hydra writes about 400 bytes)
MAX_YAML_NODES = 10_000  # values in one YAML document, every alias expanded
MAX_TAR_HEADER_BYTES = 64 << 10  # one GNU long name or pax header
MAX_TAR_METADATA_BYTES = 16 << 20  # all long names and pax headers of one archive together
MAX_MEMBER_NAME = 4096  # characters in a member's path (Linux's PATH_MAX)


class BoundError(ValueError):
    """A file past one of synclab's bounds; the message names the bound, not the file."""


def read_capped(path: "str | os.PathLike[str]", limit: int) -> bytes:
    """The file's bytes, never reading more than limit + 1 of them; BoundError past the limit."""
    with open(path, "rb") as handle:
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise BoundError(f"is larger than {limit:,} bytes, synclab's bound for it")
    return raw


def loads_json(raw: bytes, max_items: int = MAX_JSON_ITEMS) -> Any:
    """JSON with its values counted before parsing and its nesting checked after; ValueError if invalid.

    Every value but the first follows a ``,`` or ``:`` or opens with ``[`` or ``{``: counting those
    bytes (strings included, so the count is an upper bound) bounds the objects parsing can make.
    """
    openings = raw.count(b"[") + raw.count(b"{")
    count = raw.count(b",") + raw.count(b":") + openings
    if count > max_items:
        raise BoundError(f"holds more than {max_items:,} values, synclab's bound for one file")
    try:
        data = json.loads(raw)  # a number out of range is for the judge to name, with its field
    except RecursionError:
        raise BoundError(f"is nested deeper than {MAX_DEPTH} levels") from None
    if openings > MAX_DEPTH:  # fewer openings than the bound cannot nest past it
        check_depth(data)
    return data


def check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """BoundError if lists and mappings nest deeper than limit; iterative, so never a RecursionError."""
    stack: List[Tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    raise BoundError(f"is nested deeper than {limit} levels")
                stack.append((child, depth + 1))


def load_json_file(path: "str | os.PathLike[str]", limit: int = MAX_JSON_BYTES) -> Any:
    """A small JSON record (env.json) within the bounds; OSError or ValueError if not."""
    return loads_json(read_capped(path, limit))


def check_repeats(data: Any) -> None:
    """BoundError when a parsed result.json holds more repeats than a job may have."""
    runs = data.get("runs") if isinstance(data, dict) else None
    if isinstance(runs, list) and len(runs) > MAX_REPEATS:
        raise BoundError(f"holds {len(runs):,} repeats; synclab reads at most {MAX_REPEATS:,} per job")


def load_yaml(text: str) -> Any:
    """YAML through the safe loader, refused (BoundError) past the size, nesting or expanded-size
    bounds: an alias bomb is refused while it is being read, a recursive alias as soon as it is seen.

    Other errors are yaml.YAMLError, or ValueError for a scalar Python will not convert.
    """
    if len(text) > MAX_YAML_BYTES:
        raise BoundError(f"is larger than {MAX_YAML_BYTES:,} bytes, synclab's bound for it")
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        return None if node is None else loader.construct_document(node)
    except RecursionError:  # the bounds above keep composing shallow; this is a last guard
        raise BoundError(f"is nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


_LOADER: Dict[str, type] = {}


def _loader() -> type:
    """yaml.SafeLoader measuring each node as it is composed (built once, on first use: yaml is imported late)."""
    if "loader" in _LOADER:
        return _LOADER["loader"]
    import yaml  # installed with omegaconf

    class BoundedLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self.synclab_depth = 0
            # id(node) -> (its values, its depth), every alias expanded
            self.synclab_sizes: Dict[int, Tuple[int, int]] = {}

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                target = self.anchors.get(self.peek_event().anchor)
                if target is not None and id(target) not in self.synclab_sizes:
                    raise BoundError("holds a recursive alias (an anchor used inside itself)")
            self.synclab_depth += 1
            if self.synclab_depth > MAX_DEPTH:
                raise BoundError(f"is nested deeper than {MAX_DEPTH} levels")
            try:
                node = super().compose_node(parent, index)
            finally:
                self.synclab_depth -= 1
            if id(node) not in self.synclab_sizes:
                if isinstance(node, yaml.MappingNode):
                    children = [part for pair in node.value for part in pair]
                else:
                    children = node.value if isinstance(node, yaml.SequenceNode) else []
                measured = [self.synclab_sizes[id(child)] for child in children]
                size = 1 + sum(values for values, _ in measured)
                depth = 1 + max((levels for _, levels in measured), default=0)
                if size > MAX_YAML_NODES:
                    raise BoundError(f"expands to more than {MAX_YAML_NODES:,} values (aliases expanded), "
                                     "synclab's bound for one document")
                if depth > MAX_DEPTH:
                    raise BoundError(f"is nested deeper than {MAX_DEPTH} levels (aliases expanded)")
                self.synclab_sizes[id(node)] = (size, depth)
            return node

    _LOADER["loader"] = BoundedLoader
    return BoundedLoader
