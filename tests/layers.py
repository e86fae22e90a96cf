"""synclab's layering rules as code: which package may import what, and no import cycles.

Every import counts, including those made inside functions: a lazy import still ties two modules
together. The rules are checked over module sources, so a test can also feed it a doctored source.
"""

import ast
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Set, Tuple

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
HYDRA_SIDE = {"hydra", "omegaconf", "loguru"}
# The kernel modules that start workers or run the measured loops (a package: all of it).
WORKER_MODULES = {"synclab.kernel.primitives", "synclab.kernel.runner", "synclab.kernel.loops",
                  "synclab.kernel.locks", "synclab.kernel.child", "synclab.kernel.remote",
                  "synclab.kernel.stress.engine", "synclab.kernel.stress.remote", "synclab.kernel.stress.child"}
# The one module that imports pytest: pytest loads it (the pytest11 entry point), nothing else does.
PYTEST_PLUGIN = "synclab.commands.pytest_plugin"
# Standard library names, for interpreters older than sys.stdlib_module_names (3.10).
STDLIB = set(getattr(sys, "stdlib_module_names", ())) | {"__future__"}


def sources(root: Path = SRC) -> Dict[str, str]:
    """Every module of the synclab package by dotted name, with its source."""
    found = {}
    for path in sorted((root / "synclab").rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path.read_text(encoding="utf-8")
    return found


def imports(module: str, source: str, known: Iterable[str]) -> List[Tuple[str, bool]]:
    """What a module imports, as (name, at_top_level): a synclab module by its dotted name (the
    deepest known one), anything else by its top-level package."""
    known = set(known)
    package = module if module in known and any(k.startswith(module + ".") for k in known) else module.rpartition(".")[0]
    found: List[Tuple[str, bool]] = []
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
                   for inner in ast.walk(node)}  # `if TYPE_CHECKING:` never runs

    def resolve(name: str) -> str:
        while name and name not in known and name.startswith("synclab"):
            name = name.rpartition(".")[0]
        return name if name.startswith("synclab") else name.split(".")[0]

    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        at_top = id(node) in top
        if isinstance(node, ast.Import):
            found.extend((resolve(alias.name), at_top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from synclab.app import progress` imports synclab.app.progress
                candidate = f"{base}.{alias.name}"
                found.append((resolve(candidate if candidate in known else base), at_top))
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations(modules: Mapping[str, str]) -> List[str]:
    """Every broken rule, one line each."""
    problems = []
    graph: Dict[str, Set[str]] = {}
    for module, source in modules.items():
        here = layer(module)
        edges = imports(module, source, modules)
        graph[module] = {name for name, _ in edges if name in modules and name != module}
        for name, at_top in edges:
            inside = name in modules
            there = layer(name) if inside else ""
            if here == "kernel" and not (name in ("synclab",) or there == "kernel" or name in STDLIB):
                problems.append(f"{module} (kernel) imports {name}: the kernel is the standard library and itself")
            if here in ("records", "reports"):
                if _starts_workers(name):
                    problems.append(f"{module} ({here}) imports {name}, which starts workers or runs loops")
                if there in ("app", "commands"):
                    problems.append(f"{module} ({here}) imports {name}, a layer above it")
                if name == "yaml" and at_top:
                    problems.append(f"{module} ({here}) imports yaml at load time; only where a config is read")
            if name in HYDRA_SIDE and here != "app":
                problems.append(f"{module} imports {name}: only synclab.app imports Hydra, OmegaConf and loguru")
            if name == "matplotlib" and module != "synclab.reports.plots":
                problems.append(f"{module} imports matplotlib: only synclab.reports.plots draws")
            if name == "pytest" and module != PYTEST_PLUGIN:
                problems.append(f"{module} imports pytest: only {PYTEST_PLUGIN}, which pytest loads, does")
    for module in modules:  # what a reader loads, however indirectly, never starts a worker
        if layer(module) in ("records", "reports"):
            reached = sorted(name for name in closure(graph, module) if _starts_workers(name))
            if reached:
                problems.append(f"{module} ({layer(module)}) reaches {', '.join(reached)} through its imports")
    problems.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph))
    return problems


def _starts_workers(name: str) -> bool:
    return any(name == worker or name.startswith(worker + ".") for worker in WORKER_MODULES)


def closure(graph: Mapping[str, Set[str]], start: str) -> Set[str]:
    """Every module reachable from start through its imports."""
    seen: Set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def cycles(graph: Mapping[str, Set[str]]) -> List[List[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component) + [sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
