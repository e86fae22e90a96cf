"""The Hydra side: composing conf/ (default, overrides, every preset), to_spec(), and one-line
messages for every composition error."""

import pickle
from typing import Any, Callable

import pytest
from omegaconf import DictConfig, OmegaConf

from conftest import CONF, EXPERIMENTS, preset_names
from synclab.app.config import SynclabConf, describe_error, to_spec
from synclab.kernel.spec import LOCK_SUPPORT, PRIMITIVES, ConfigError, ExperimentSpec, validate

Compose = Callable[..., Any]

NOTEBOOK_PRESETS = {
    # name: (primitive, lock, workers, times, amount, initial, sleep, direction, expected balance)
    "shared_memory_race": ("process", "none", 2, 1000, 1, 2000, 0.001, "both", 2000),
    "shared_memory_lock": ("process", "explicit", 2, 1000, 1, 2000, 0.001, "both", 2000),
    "pool_race": ("pool", "none", 4, 500, 10, 20000, 0.0, "both", 20000),
    "pool_decorator": ("pool", "decorator", 4, 500, 10, 20000, 0.0, "both", 20000),
    "pool_context": ("pool", "context", 4, 500, 10, 20000, 0.0, "both", 20000),
    "threads_unsafe": ("thread", "none", 8, 100000, 1, 0, 0.0, "deposit", 800000),
    "threads_safe": ("thread", "explicit", 8, 100000, 1, 0, 0.0, "deposit", 800000),
}


def test_default_config_is_the_default_spec(compose: Compose) -> None:
    cfg = compose()
    assert isinstance(cfg, DictConfig)
    assert cfg.primitive.name == "process" and cfg.lock.name == "none"
    assert (cfg.workers, cfg.times, cfg.amount, cfg.initial, cfg.repeats) == (2, 100000, 1, 0, 3)
    assert cfg.sleep == 0.0 and cfg.start_method is None and cfg.timeout_s == 60.0
    assert "hydra" not in cfg
    spec = to_spec(cfg)
    assert spec == ExperimentSpec()
    assert validate(spec) is spec


def test_default_config_keys_are_the_schema(compose: Compose) -> None:
    assert set(compose()) == set(SynclabConf.__dataclass_fields__)


def test_hydra_settings_keep_runs_apart_and_do_not_chdir(compose: Compose) -> None:
    hydra = compose(return_hydra_config=True).hydra
    assert hydra.job.chdir is False
    raw = OmegaConf.to_container(hydra, resolve=False)
    # microseconds in the name: two runs started in the same second get different directories
    assert raw["run"]["dir"] == "outputs/${now:%Y-%m-%d}/${now:%H-%M-%S-%f}"
    assert raw["sweep"]["dir"] == "outputs/multirun/${now:%Y-%m-%d}/${now:%H-%M-%S-%f}"
    assert raw["sweep"]["subdir"] == "${hydra.job.num}"


def test_overrides_reach_the_spec(compose: Compose) -> None:
    cfg = compose(
        [
            "primitive=pool",
            "lock=decorator",
            "workers=5",
            "times=7",
            "amount=3",
            "initial=-4",
            "sleep=0.002",
            "repeats=9",
            "start_method=spawn",
            "timeout_s=1.5",
            "direction=deposit",
            "sharing=inherited",
            "grades.lost_updates=forbidden",
            "increment=read_call_write",
            "switch_interval=0.0001",
        ]
    )
    assert to_spec(cfg) == ExperimentSpec(
        primitive="pool",
        lock="decorator",
        workers=5,
        times=7,
        amount=3,
        initial=-4,
        sleep=0.002,
        repeats=9,
        start_method="spawn",
        timeout_s=1.5,
        direction="deposit",
        sharing="inherited",
        grades={"lost_updates": "forbidden"},
        increment="read_call_write",
        switch_interval=0.0001,
    )


def test_to_spec_gives_plain_picklable_data(compose: Compose) -> None:
    spec = to_spec(compose(["grades.timeout=acceptable", "grades.consistent=interesting"]))
    assert type(spec.grades) is dict
    assert spec.grades == {"consistent": "interesting", "timeout": "acceptable"}
    assert pickle.loads(pickle.dumps(spec)) == spec
    assert all(not isinstance(v, DictConfig) for v in spec.to_dict().values())
    assert to_spec(compose()).grades is None  # all null: the lock's defaults


def test_python_3_10_is_not_read_as_3_1(compose: Compose) -> None:
    assert to_spec(compose(["python=3.10"])).python == "3.10"
    assert to_spec(compose(["python=3.9"])).python == "3.9"


def test_interpolations_are_resolved_before_workers_see_them(compose: Compose) -> None:
    spec = to_spec(compose(["times=${workers}", "workers=6"]))
    assert spec.times == 6 and isinstance(spec.times, int)


def test_every_group_option_composes_and_validates(compose: Compose) -> None:
    for primitive in PRIMITIVES:
        spec = validate(to_spec(compose([f"primitive={primitive}"])))
        assert (spec.primitive, spec.lock) == (primitive, "none")
    for lock in LOCK_SUPPORT["process"]:
        spec = validate(to_spec(compose([f"lock={lock}"])))
        assert (spec.primitive, spec.lock) == ("process", lock)


def test_group_options_on_disk_are_the_supported_ones() -> None:
    assert {p.stem for p in (CONF / "primitive").glob("*.yaml")} == set(PRIMITIVES)
    assert {p.stem for p in (CONF / "lock").glob("*.yaml")} == set().union(*LOCK_SUPPORT.values())
    assert (CONF / "experiment").resolve() == EXPERIMENTS.resolve()


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_composes_and_validates(compose: Compose, name: str) -> None:
    spec = validate(to_spec(compose([f"+experiment={name}"])))
    assert spec.primitive in PRIMITIVES


@pytest.mark.parametrize("name", sorted(NOTEBOOK_PRESETS))
def test_notebook_presets_have_the_notebook_numbers(compose: Compose, name: str) -> None:
    primitive, lock, workers, times, amount, initial, sleep, direction, expected = NOTEBOOK_PRESETS[name]
    spec = to_spec(compose([f"+experiment={name}"]))
    assert (spec.primitive, spec.lock) == (primitive, lock)
    assert (spec.workers, spec.times, spec.amount, spec.initial) == (workers, times, amount, initial)
    assert spec.sleep == sleep and spec.direction == direction
    assert spec.expected == expected
    assert spec.sharing == "passed" and spec.start_method is None


def test_pool_presets_are_two_pools_of_two() -> None:
    # Pool(2) depositing $10 x 500 in two tasks, Pool(2) withdrawing likewise
    spec = ExperimentSpec(primitive="pool", workers=4, times=500, amount=10, initial=20000)
    assert spec.signed_amounts() == [10, 10, -10, -10]


def test_command_line_overrides_a_preset(compose: Compose) -> None:
    spec = to_spec(compose(["+experiment=pool_race", "lock=explicit", "repeats=2"]))
    assert (spec.primitive, spec.lock, spec.workers, spec.times, spec.repeats) == ("pool", "explicit", 4, 500, 2)


def test_the_gil_question_sweep_lives_in_hydra_not_in_the_job(compose: Compose) -> None:
    cfg = compose(["+experiment=gil_question"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=False)
    assert set(params) == {"python", "gil", "increment", "switch_interval"}
    assert params["gil"] == "enabled,disabled"  # a GIL build's disabled job is listed as not run
    assert cfg.hydra.callbacks.report.answer == "increment"
    assert cfg.python is None and cfg.gil is None


def test_lock_cost_ft_sweeps_gil_states_threads_and_every_thread_lock(compose: Compose) -> None:
    from synclab.kernel.spec import LOCK_SUPPORT

    cfg = compose(["+experiment=lock_cost_ft"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=False)
    assert params["gil"].split(",") == ["disabled", "enabled"] and params["workers"] == "1,2,4,8"
    assert params["lock"].split(",") == list(LOCK_SUPPORT["thread"])
    assert (cfg.python, cfg.primitive.name, cfg.direction.value) == ("3.13t", "thread", "deposit")


def test_the_interpreters_of_a_sweep_name_a_free_threaded_build_with_its_t(monkeypatch) -> None:
    from synclab.app import config
    from synclab.kernel import interpreters

    found = [interpreters.Interpreter("/a/python3.13t", "3.13.5", "CPython", True, False),
             interpreters.Interpreter("/a/python3.13", "3.13.1", "CPython", False, True),
             interpreters.Interpreter("/a/python3.12", "3.12.0", "CPython", False, True),
             interpreters.Interpreter("/b/python3.12", "3.12.4", "CPython", False, True)]
    monkeypatch.setattr(interpreters, "discover", lambda: found)
    assert config._interpreter_versions() == "3.13.5t,3.13.1,3.12.0"


# --- composition errors: one line naming the key ----------------------------------------------


def _message(compose: Compose, overrides: "list[str]") -> str:
    with pytest.raises(Exception) as caught:
        compose(overrides)
    message = describe_error(caught.value)
    assert "\n" not in message
    return message


def test_unknown_group_options_list_the_valid_ones(compose: Compose) -> None:
    message = _message(compose, ["primitive=bogus"])
    assert message.startswith("primitive: unknown option 'bogus'; choose from ")
    assert message.split("choose from ")[1].split(", ") == sorted(PRIMITIVES)
    message = _message(compose, ["lock=mutex"])
    assert message.startswith("lock: unknown option 'mutex'")
    assert set(message.split("choose from ")[1].split(", ")) == set().union(*LOCK_SUPPORT.values())


def test_unknown_experiment_lists_the_presets(compose: Compose) -> None:
    message = _message(compose, ["+experiment=nope"])
    assert message == f"experiment: unknown option 'nope'; choose from {', '.join(preset_names())}"


@pytest.mark.parametrize("key, value, choices", [
    ("direction", "up", "both, deposit"),
    ("sharing", "global", "passed, inherited"),
    ("increment", "in_place", "inplace, read_modify_write, read_call_write"),
    ("start_method", "Fork", "fork, spawn, forkserver"),
    ("grades.timeout", "ok", "acceptable, interesting, forbidden"),
])
def test_a_choice_outside_its_type_fails_at_composition_with_the_list(compose: Compose, key: str, value: str,
                                                                      choices: str) -> None:
    assert _message(compose, [f"{key}={value}"]) == f"{key}: unknown option '{value}'; choose from {choices}"


@pytest.mark.parametrize(
    "override, key",
    [
        ("workers=abc", "workers"),
        ("workers=1.5", "workers"),
        ("workers=true", "workers"),
        ("workers=null", "workers"),
        ("times=[1,2]", "times"),
        ("sleep=fast", "sleep"),
        ("timeout_s=soon", "timeout_s"),
        ("initial={a:1}", "initial"),
        ("grades=5", "grades"),
        ("bogus=1", "bogus"),
        ("grades.bogus=acceptable", "grades.bogus"),
        ("experiment=pool_race", "experiment"),
    ],
)
def test_wrong_types_and_unknown_keys_name_the_key(compose: Compose, override: str, key: str) -> None:
    message = _message(compose, [override])
    assert message.split(": ", 1)[0] == key, message


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["+bogus=1"], "bogus"),
        (["+primitive.extra=1"], "primitive.extra"),
        (["+lock.extra=1"], "lock.extra"),
        (["~workers"], "workers"),
        (["~grades"], "grades"),
        (["workers=${oops}"], "workers"),
        (["grades.consistent=${oops}"], "grades.consistent"),
        (["+grades.extra=acceptable"], "grades"),
        (["workers=0"], "workers"),
    ],
)
def test_configs_that_compose_but_cannot_run_are_refused_by_to_spec(
    compose: Compose, overrides: "list[str]", key: str
) -> None:
    cfg = compose(overrides)
    with pytest.raises(ConfigError) as caught:
        validate(to_spec(cfg))
    assert str(caught.value).split(": ", 1)[0] == key, str(caught.value)
