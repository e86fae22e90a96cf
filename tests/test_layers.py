"""The layering rules hold for the tree as it is, each one fails when a forbidden import is added,
and the README's map of the packages names exactly the modules that exist."""

import re

import pytest

from layers import ROOT, SRC, sources, violations


def test_the_tree_keeps_its_layers():
    assert violations(sources()) == []


def _doctored(module: str, line: str, inside_a_function: bool = False) -> list:
    modules = sources()
    added = f"\n\ndef _added():\n    {line}\n" if inside_a_function else f"\n{line}\n"
    modules[module] = modules[module] + added
    return violations(modules)


@pytest.mark.parametrize("module, line, lazy, expected", [
    ("synclab.kernel.spec", "import yaml", False,
     "synclab.kernel.spec (kernel) imports yaml: the kernel is the standard library and itself"),
    ("synclab.kernel.spec", "from synclab.reports import stats", True,
     "synclab.kernel.spec (kernel) imports synclab.reports.stats: the kernel is the standard library and itself"),
    ("synclab.reports.report", "from synclab.kernel.runner import run_experiment", True,
     "synclab.reports.report (reports) imports synclab.kernel.runner, which starts workers or runs loops"),
    ("synclab.records.judge", "from synclab.app.config import to_spec", True,
     "synclab.records.judge (records) imports synclab.app.config, a layer above it"),
    ("synclab.records.archive", "import yaml", False,
     "synclab.records.archive (records) imports yaml at load time; only where a config is read"),
    ("synclab.reports.table", "from loguru import logger", False,
     "synclab.reports.table imports loguru: only synclab.app imports Hydra, OmegaConf and loguru"),
    ("synclab.commands.cli", "import omegaconf", True,
     "synclab.commands.cli imports omegaconf: only synclab.app imports Hydra, OmegaConf and loguru"),
    ("synclab.reports.report", "import matplotlib", True,
     "synclab.reports.report imports matplotlib: only synclab.reports.plots draws"),
    ("synclab.commands.cli", "import pytest", True,
     "synclab.commands.cli imports pytest: only synclab.commands.pytest_plugin, which pytest loads, does"),
    ("synclab.kernel.stress.engine", "import pytest", False,
     "synclab.kernel.stress.engine imports pytest: only synclab.commands.pytest_plugin, which pytest loads, does"),
])
def test_each_rule_catches_a_forbidden_import(module, line, lazy, expected):
    assert expected in _doctored(module, line, lazy)


def test_a_cycle_is_caught_even_through_a_function_level_import():
    found = _doctored("synclab.reports.stats", "from synclab.reports.report import collect", True)
    assert "import cycle: synclab.reports.report -> synclab.reports.stats -> synclab.reports.report" in found


def test_a_reader_that_reaches_a_worker_module_indirectly_is_caught():
    # env is a kernel module the archive may use; make it import the runner and the archive reaches it
    found = _doctored("synclab.kernel.env", "from synclab.kernel import runner", True)
    reached = [line for line in found if line.startswith("synclab.records.archive (records) reaches ")]
    assert len(reached) == 1 and "synclab.kernel.runner" in reached[0]


def test_the_readme_maps_every_module_that_exists():
    text = (ROOT / "README.md").read_text()
    section = text.split("## How synclab is built", 1)[1].split("\n## ", 1)[0]
    mapped = set()
    for package, names in re.findall(r"^\| `synclab\.(\w+)` \|([^|]*)\|", section, flags=re.M):
        mapped.update(f"{package}.{name}" for name in re.findall(r"`(\w+)`", names))
    packages = [path for path in (SRC / "synclab").iterdir() if (path / "__init__.py").is_file()]
    on_disk = {f"{package.name}.{entry.stem}" for package in packages for entry in package.iterdir()
               if entry.suffix == ".py" and entry.name != "__init__.py" or (entry / "__init__.py").is_file()}
    assert mapped == on_disk


def _file_names() -> dict:
    """records.files's names for the files synclab leaves, read from its source: NAME = "file"."""
    text = (SRC / "synclab" / "records" / "files.py").read_text(encoding="utf-8")
    return dict(re.findall(r'^([A-Z_]+) = "([^"]+)"', text, flags=re.M))


def test_each_file_name_is_spelled_only_where_records_files_names_it():
    names = _file_names()
    assert {"result.json", "env.json", "run.log", "multirun.yaml", "summary.csv"} <= set(names.values())
    spelled = [
        f"{module}: {literal}"
        for module, source in sources().items() if module != "synclab.records.files"
        for literal in names.values() if re.search(rf"""["'/]{re.escape(literal)}["']""", source)
    ]
    assert spelled == []
