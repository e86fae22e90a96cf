"""Hydra's side of an experiment: the structured config schema, its conversion to a plain
ExperimentSpec, and one-line messages for everything that can be wrong in a configuration.

The schema lives in Hydra's ConfigStore, so a misspelt key or a value of the wrong type fails
at composition, before an output directory exists.
"""

import contextlib
import enum
import re
from pathlib import Path
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, Callable, Iterator, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.errors import MissingConfigException
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from synclab.kernel.outcome import GRADES
from synclab.kernel.stress.spec import DEFAULT_STRIDE, DEFAULT_TIME_BUDGET_S, StressSpec
from synclab.kernel.spec import (DIRECTIONS, GIL_SETTINGS, INCREMENTS, SHARINGS, START_METHODS, ConfigError,
                                 ExperimentSpec, validate)

# Choices as types: a value outside them fails at composition, with the list, as lock= does.
Direction = enum.Enum("Direction", {name: name for name in DIRECTIONS})
Sharing = enum.Enum("Sharing", {name: name for name in SHARINGS})
Increment = enum.Enum("Increment", {name: name for name in INCREMENTS})
StartMethod = enum.Enum("StartMethod", {name: name for name in START_METHODS})
Grade = enum.Enum("Grade", {name: name for name in GRADES})
Gil = enum.Enum("Gil", {name: name for name in GIL_SETTINGS})


@dataclass
class PrimitiveConf:
    name: str = MISSING


@dataclass
class LockConf:
    name: str = MISSING


@dataclass
class WorkloadConf:
    name: str = MISSING


@dataclass
class StressConf:
    """workload=stress: the tests to run and how (kernel.stress.spec.StressSpec)."""

    target: Optional[str] = None
    pattern: Optional[str] = None
    time_budget_s: float = DEFAULT_TIME_BUDGET_S
    stride: int = DEFAULT_STRIDE
    threads_per_actor: int = 1


@dataclass
class GradesConf:
    """Per-outcome grade overrides; null keeps the default for the experiment's lock."""

    consistent: Optional[Grade] = None
    lost_updates: Optional[Grade] = None
    not_shared: Optional[Grade] = None
    incomplete: Optional[Grade] = None
    timeout: Optional[Grade] = None


# The schema's top-level keys are the spec's own fields (kernel.spec.ExperimentSpec, one list of
# settings, never two to keep in step), each choice typed as its enum and each group as its node.
_CHOICES = {"start_method": StartMethod, "direction": Direction, "sharing": Sharing, "increment": Increment, "gil": Gil}
_NODES = {"primitive": PrimitiveConf, "lock": LockConf, "grades": GradesConf}


def _schema_field(spec_field: Any) -> "tuple[str, Any, Any]":
    name, default = spec_field.name, spec_field.default
    if name in _NODES:
        return name, _NODES[name], field(default_factory=_NODES[name])
    if name in _CHOICES:
        kind = _CHOICES[name]
        return (name, Optional[kind], None) if default is None else (name, kind, kind[default])
    return name, spec_field.type, default


SynclabConf = make_dataclass("SynclabConf", [
    ("workload", WorkloadConf, field(default_factory=WorkloadConf)),
    *(_schema_field(f) for f in fields(ExperimentSpec)),
    ("stress", StressConf, field(default_factory=StressConf)),
])
SynclabConf.__doc__ = "Top-level keys; the comments in conf/config.yaml say what each one means."


def _interpreter_versions() -> str:
    """Sweep values for ``python``: one interpreter per version and build found, newest first
    (3.13.5t names a free-threaded build, which python=3.13.5 would not select)."""
    from synclab.kernel.interpreters import discover

    chosen: "dict[tuple, str]" = {}
    for found in discover():
        if found.supported:
            chosen.setdefault((found.version_tuple[:2], found.free_threaded), found.name)
    return ",".join(chosen.values())


def register() -> None:
    ConfigStore.instance().store(name="synclab_schema", node=SynclabConf)
    # ${synclab_interpreters:} in a sweep: every usable interpreter on this machine.
    OmegaConf.register_new_resolver("synclab_interpreters", _interpreter_versions, replace=True)


register()

_SPEC_KEYS = [f.name for f in fields(ExperimentSpec) if f.name not in ("primitive", "lock")]


_SCHEMA_KEYS = [f.name for f in fields(SynclabConf)]
_NOT_A_SETTING = "not a synclab setting (see python run.py --help)"


def _plain(cfg: DictConfig) -> Any:
    """The config resolved to plain data, holding exactly the schema's keys.

    An override with ``+`` adds a key past the schema's struct flag and ``~`` deletes one, so
    both are checked here; an interpolation that does not resolve is named by its key.
    """
    try:
        plain: Any = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    except OmegaConfBaseException as error:
        key = getattr(error, "full_key", None)
        message = str(getattr(error, "msg", None) or error).splitlines()[0]
        raise ConfigError(f"{key}: {message}" if key else describe_error(error)) from None
    for key in plain:
        if key not in _SCHEMA_KEYS:
            raise ConfigError(f"{key}: {_NOT_A_SETTING}")
    for group in ("primitive", "lock", "workload"):
        for key in plain.get(group) or {}:
            if key != "name":
                raise ConfigError(f"{group}.{key}: {_NOT_A_SETTING}")
    for key in _SCHEMA_KEYS:
        if key not in plain:
            raise ConfigError(f"{key}: required; it cannot be removed (~{key})")
    return plain


WORKLOADS = ("balance", "stress")


def _python(value: Any) -> Any:
    # Hydra reads python=3.10 as the float 3.1; Python 3.1 itself could never run synclab.
    return "3.10" if value == "3.1" else value


def workload_of(cfg: DictConfig) -> str:
    """The experiment's workload: ``balance`` or ``stress`` (the option files of conf/workload)."""
    name = OmegaConf.select(cfg, "workload.name", default="balance")
    if name not in WORKLOADS:
        raise ConfigError(f"workload: unknown option {name!r}; choose from {', '.join(WORKLOADS)}")
    return str(name)


def to_stress_spec(cfg: DictConfig) -> StressSpec:
    """The stress run workload=stress asks for, checked: ConfigError names the first bad key."""
    from synclab.kernel.stress.spec import problems

    plain = _plain(cfg)
    stress = plain["stress"]
    if stress.get("target") is None:
        raise ConfigError("stress.target: workload=stress needs the tests to run: stress.target=pkg.module:Class, "
                          "path/to/file.py:Class, a file, a module or a directory")
    python = _python(plain["python"])
    spec = StressSpec(target=str(stress["target"]), pattern=None if stress["pattern"] is None else str(stress["pattern"]),
                      time_budget_s=stress["time_budget_s"], stride=stress["stride"],
                      threads_per_actor=stress["threads_per_actor"], switch_interval=plain["switch_interval"],
                      python=None if python is None else str(python), gil=plain["gil"])
    wrong = problems(spec)
    if wrong:
        raise ConfigError(wrong[0])
    return spec


def to_spec(cfg: DictConfig) -> ExperimentSpec:
    """The resolved, frozen spec that workers receive: no Hydra object crosses a process."""
    plain = _plain(cfg)
    values = {key: plain[key] for key in _SPEC_KEYS}
    values["grades"] = {k: v for k, v in values["grades"].items() if v is not None} or None
    values["python"] = _python(values["python"])
    return ExperimentSpec(primitive=plain["primitive"]["name"], lock=plain["lock"]["name"], **values)


@contextlib.contextmanager
def composing(config_dir: Path) -> Iterator[Callable[[Sequence[str]], ExperimentSpec]]:
    """compose(overrides): the spec run.py would run with these overrides, composed through
    config_dir and the schema (which type-checks every value) and validated, or ConfigError in
    one line for anything run.py would refuse. replay checks every job so before any runs;
    nothing is run here (an interpreter is resolved by the job itself)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    def checked(overrides: Sequence[str]) -> ExperimentSpec:
        try:
            cfg = compose(config_name="config", overrides=list(overrides))
        except Exception as error:  # Hydra's and OmegaConf's many kinds: each becomes one line
            raise ConfigError(describe_override_error(list(overrides), error, config_dir)) from None
        return validate(to_spec(cfg))

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            yield checked
    finally:
        GlobalHydra.instance().clear()


# Hydra's own command-line options that take the next argument as their value (--cfg job, -p PKG, ...)
HYDRA_OPTIONS_WITH_VALUE = frozenset({"-c", "--cfg", "-p", "--package", "-cp", "--config-path", "-cn", "--config-name",
                                      "-cd", "--config-dir", "--experimental-rerun"})


def describe_override_error(args: "list[str]", error: BaseException, config_dir: Optional[Path] = None) -> str:
    """One line naming the override Hydra could not take: unparsable, without a key, or a
    config group given something other than an option name (``lock=null``)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    taking_value = False
    for arg in args:
        if taking_value or arg.startswith("-"):  # an option of Hydra's, or the value it takes
            taking_value = arg in HYDRA_OPTIONS_WITH_VALUE and not taking_value
            continue
        key = arg.split("=", 1)[0].lstrip("+~") if "=" in arg else arg.lstrip("+~")
        try:
            override = parser.parse_override(arg)
        except Exception as parse_error:  # Hydra's grammar errors carry no key of their own
            reason = " ".join(str(parse_error).split()).split(" See https://")[0]
            return f"{key or arg}: cannot read the override {arg!r} ({reason}); the form is key=value"
        if not override.key_or_group:
            return f"{arg!r}: an override needs a key: key=value"
        group = override.key_or_group
        if group in CONFIG_GROUPS and not override.is_sweep_override() and not isinstance(override.value(), (str, list)):
            options = sorted(p.stem for p in (config_dir / group).glob("*.yaml")) if config_dir else []
            allowed = f"choose from {', '.join(options)}" if options else "see python run.py --help"
            return f"{group}: takes the name of one of its options, got {override.get_value_element_as_str()}; {allowed}"
    return describe_error(error)


CONFIG_GROUPS = ("primitive", "lock", "experiment")


def describe_too_long(args: "list[str]", error: OSError, config_dir: Path) -> Optional[str]:
    """One line for an option name longer than a file name may be: Hydra looks the option up as
    a file while composing, and the system refuses the name (``File name too long``)."""
    import errno

    from synclab.kernel.spec import shorten

    if error.errno != errno.ENAMETOOLONG or not error.filename:
        return None
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+~")
        if sep and len(value) > 255 and value in str(error.filename):
            options = sorted(p.stem for p in (config_dir / key).glob("*.yaml")) if key in CONFIG_GROUPS else []
            allowed = f"; choose from {', '.join(options)}" if options else ""
            return f"{key}: unknown option {shorten(value)!r}, longer than a file name can be{allowed}"
    return None


# The plugin config each shipped launcher config extends -> the extra that installs the plugin.
LAUNCHER_EXTRAS = {"submitit_slurm": "slurm", "submitit_local": "slurm", "ray": "ray", "joblib": "joblib"}


def describe_error(error: BaseException) -> str:
    """One line naming the key and what is allowed, for any Hydra or OmegaConf error."""
    for exc in (error, error.__cause__, error.__context__):
        if isinstance(exc, MissingConfigException) and exc.options is not None and exc.missing_cfg_file:
            group, _, name = exc.missing_cfg_file.rpartition("/")
            label = "experiment" if group == "experiment" else group or "config"
            return f"{label}: unknown option {name!r}; choose from {', '.join(sorted(exc.options))}"
    for exc in (error.__cause__, error.__context__, error):
        if isinstance(exc, OmegaConfBaseException):
            key = getattr(exc, "full_key", None) or ""
            message = str(getattr(exc, "msg", None) or exc).splitlines()[0]
            if "not in struct" in message or "Key '" in message and "not" in message:
                return _not_a_setting(key or "key")
            choice = re.match(r"Invalid value '(.*)', expected one of \[(.*)\]$", message)
            if choice and key:  # an enum of the schema: said as a config group's choice is
                return f"{key}: unknown option {choice.group(1)!r}; choose from {choice.group(2)}"
            return f"{key}: {message}" if key else message
    text = " ".join(str(error).split())
    match = re.search(r"In 'hydra/launcher/([^']+)': Could not load 'hydra/launcher/([^']+)'", text)
    if match and match.group(2) in LAUNCHER_EXTRAS:
        return (f"hydra/launcher={match.group(1)}: its launcher plugin is not installed; "
                f"pip install 'synclab[{LAUNCHER_EXTRAS[match.group(2)]}]'")
    if text.startswith("Only one of --run, --multirun, --cfg, --info"):
        return ("-m, --cfg, --info: Hydra takes one of -m (--multirun), --cfg, --info and --shell-completion at a "
                "time; drop -m to print the configuration of one job")
    match = re.search(r"Could not override '([^']+)'", text)
    if match:
        return _not_a_setting(match.group(1))
    return text


def _not_a_setting(key: str) -> str:
    if key == "experiment":  # a preset is added to the defaults, not overridden
        return "experiment: choose a preset with +experiment=NAME (note the +)"
    return f"{key}: {_NOT_A_SETTING}"
