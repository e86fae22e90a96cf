"""ExperimentSpec: derived numbers, and validate() refusing every value that cannot run with one
line naming the key."""

import dataclasses
import math
import multiprocessing
import pickle

import pytest

from synclab.kernel.spec import (
    LOCK_SUPPORT,
    LOCKS,
    MAX_WORKERS,
    PRIMITIVES,
    SHARED_INT_MAX,
    SHARED_INT_MIN,
    ConfigError,
    ExperimentSpec,
    reachable_range,
    shorten,
    validate,
)


def spec(**changes: object) -> ExperimentSpec:
    return ExperimentSpec(**{"times": 10, "repeats": 1, **changes})  # type: ignore[arg-type]


# --- derived numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "workers, depositors, withdrawers", [(1, 1, 0), (2, 1, 1), (3, 2, 1), (4, 2, 2), (5, 3, 2), (8, 4, 4)]
)
def test_split_is_ceil_and_floor_of_half(workers: int, depositors: int, withdrawers: int) -> None:
    s = spec(workers=workers)
    assert (s.depositors, s.withdrawers) == (depositors, withdrawers)
    assert s.signed_amounts() == [1] * depositors + [-1] * withdrawers


def test_expected_balance_moves_with_an_uneven_split() -> None:
    s = spec(workers=3, times=500, amount=10, initial=20000)
    assert s.expected == 20000 + (2 - 1) * 500 * 10
    assert s.ops_expected == 1500
    assert s.signed_amounts() == [10, 10, -10]


def test_deposit_direction_makes_every_worker_deposit() -> None:
    s = spec(workers=8, times=100000, direction="deposit")
    assert (s.depositors, s.withdrawers) == (8, 0)
    assert s.expected == 800000
    assert s.signed_amounts() == [1] * 8


def test_notebook_numbers_balance_out() -> None:
    assert spec(workers=2, times=1000, initial=2000).expected == 2000
    assert spec(workers=4, times=500, amount=10, initial=20000).expected == 20000


def test_reachable_range_spans_all_withdrawals_to_all_deposits() -> None:
    s = spec(workers=3, times=100, amount=5, initial=1000)
    assert reachable_range(s) == (1000 - 1 * 100 * 5, 1000 + 2 * 100 * 5)


def test_default_shape_follows_the_primitive_and_increment_overrides_it() -> None:
    assert spec(primitive="thread").increment_used == "inplace"
    assert spec(primitive="process").increment_used == "read_modify_write"
    assert spec(primitive="pool").increment_used == "read_modify_write"
    assert spec(primitive="asyncio").increment_used == "read_call_write"
    assert spec(primitive="thread", increment="read_call_write").increment_used == "read_call_write"


def test_spec_is_frozen_plain_data() -> None:
    s = spec(grades={"lost_updates": "forbidden"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.workers = 3  # type: ignore[misc]
    assert ExperimentSpec(**s.to_dict()) == s
    assert pickle.loads(pickle.dumps(s)) == s  # what spawned workers receive


# --- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("primitive", PRIMITIVES)
def test_the_locks_a_primitive_accepts_are_exactly_its_supported_ones(primitive: str) -> None:
    accepted = []
    for lock in LOCKS:
        try:
            validate(spec(primitive=primitive, lock=lock))
        except ConfigError as error:
            assert str(error).startswith("lock: "), error
        else:
            accepted.append(lock)
    assert accepted == [lock for lock in LOCKS if lock in LOCK_SUPPORT[primitive]]


# each accepted value beside its nearest refused neighbour: the boundary is where the code draws it
BOUNDARIES = [
    ("sleep", {"sleep": 0.0}, {"sleep": -1e-9}),
    ("sleep", {"sleep": 0}, {"sleep": False}),  # an int is a number of seconds, a bool is not
    ("timeout_s", {"timeout_s": 0.001}, {"timeout_s": 0.0}),
    ("start_method", {"start_method": None}, {"start_method": ""}),
    ("workers", {"workers": MAX_WORKERS}, {"workers": MAX_WORKERS + 1}),
    ("sharing", {"primitive": "pool", "sharing": "inherited"}, {"primitive": "process", "sharing": "inherited"}),
    ("grades.consistent", {"grades": {"lost_updates": "forbidden", "consistent": "interesting"}},
     {"grades": {"lost_updates": "forbidden", "consistent": "fine"}}),
    ("increment", {"increment": "inplace"}, {"increment": "in_place"}),
    ("switch_interval", {"switch_interval": 1e-6}, {"switch_interval": 0.0}),
    # the balance may touch both ends of the C int, and not one past them
    ("initial", {"workers": 1, "times": 1, "amount": 1, "initial": SHARED_INT_MAX - 1},
     {"workers": 1, "times": 1, "amount": 1, "initial": SHARED_INT_MAX}),
    ("initial", {"workers": 2, "times": 1, "amount": 1, "initial": SHARED_INT_MIN + 1},
     {"workers": 2, "times": 1, "amount": 1, "initial": SHARED_INT_MIN}),
    # threads share a Python int: no range to leave; processes share a C int
    ("initial", {"primitive": "thread", "initial": 10**30}, {"primitive": "process", "initial": 10**30}),
]


@pytest.mark.parametrize("key, accepted, refused", BOUNDARIES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BOUNDARIES)])
def test_each_boundary_accepts_one_side_and_refuses_the_other(key: str, accepted: dict, refused: dict) -> None:
    kept = validate(spec(**accepted))
    assert {name: getattr(kept, name) for name in accepted} == accepted  # accepted as given, nothing rewritten
    with pytest.raises(ConfigError) as caught:
        validate(spec(**refused))
    assert key in str(caught.value).split(": ", 1)[0].split("/"), caught.value


@pytest.mark.parametrize("method", multiprocessing.get_all_start_methods())
def test_every_start_method_of_the_platform_is_accepted(method: str) -> None:
    assert validate(spec(start_method=method)).start_method == method


# --- refused ---------------------------------------------------------------------------------

BAD = [
    # key, changes
    ("workers", {"workers": 0}),
    ("workers", {"workers": -1}),
    ("workers", {"workers": MAX_WORKERS + 1}),
    ("workers", {"workers": 2.0}),
    ("workers", {"workers": "2"}),
    ("workers", {"workers": True}),
    ("workers", {"workers": None}),
    ("times", {"times": 0}),
    ("times", {"times": -100}),
    ("times", {"times": 1.5}),
    ("repeats", {"repeats": 0}),
    ("repeats", {"repeats": -3}),
    ("amount", {"amount": 0}),
    ("amount", {"amount": -10}),
    ("timeout_s", {"timeout_s": 0}),
    ("timeout_s", {"timeout_s": 0.0}),
    ("timeout_s", {"timeout_s": -1.0}),
    ("timeout_s", {"timeout_s": math.nan}),
    ("timeout_s", {"timeout_s": math.inf}),
    ("timeout_s", {"timeout_s": "60"}),
    ("sleep", {"sleep": -0.001}),
    ("sleep", {"sleep": -1}),
    ("sleep", {"sleep": math.nan}),
    ("sleep", {"sleep": math.inf}),
    ("sleep", {"sleep": "0.001"}),
    ("sleep", {"sleep": False}),
    ("initial", {"initial": 1.5}),
    ("initial", {"initial": "0"}),
    ("initial", {"initial": True}),
    ("start_method", {"start_method": "bogus"}),
    ("start_method", {"start_method": ""}),
    ("start_method", {"start_method": "Fork"}),
    ("primitive", {"primitive": "bogus"}),
    ("primitive", {"primitive": "threads"}),
    ("lock", {"lock": "bogus"}),
    ("lock", {"lock": "mutex"}),
    ("lock", {"primitive": "thread", "lock": "value_lock"}),
    ("lock", {"primitive": "thread", "lock": "manager"}),
    ("lock", {"primitive": "asyncio", "lock": "decorator"}),
    ("direction", {"direction": "withdraw"}),
    ("direction", {"direction": ""}),
    ("sharing", {"sharing": "global"}),
    ("sharing", {"primitive": "process", "sharing": "inherited"}),
    ("sharing", {"primitive": "thread", "sharing": "inherited"}),
    ("sharing", {"primitive": "process_pool", "sharing": "inherited"}),
    ("grades", {"grades": {"bogus": "acceptable"}}),
    ("grades", {"grades": {"lost": "interesting"}}),
    ("grades.consistent", {"grades": {"consistent": "great"}}),
    ("grades.timeout", {"grades": {"timeout": "ok"}}),
    ("increment", {"increment": "bogus"}),
    ("increment", {"lock": "local_sum", "increment": "inplace"}),
    ("switch_interval", {"switch_interval": 0.0}),
    ("switch_interval", {"switch_interval": -1e-6}),
    ("switch_interval", {"switch_interval": math.nan}),
    # a balance that cannot fit the shared C int
    ("initial", {"initial": SHARED_INT_MAX}),
    ("initial", {"initial": SHARED_INT_MIN}),
    ("initial", {"initial": 2**40, "workers": 1}),
    ("times", {"times": 2**31, "workers": 2}),
    ("amount", {"amount": 2**31, "workers": 1, "times": 1}),
    ("workers", {"workers": 512, "times": 10**7, "primitive": "pool"}),
]


@pytest.mark.parametrize("key, changes", BAD, ids=[f"{k}-{i}" for i, (k, _) in enumerate(BAD)])
def test_bad_values_are_refused_with_one_line_naming_the_key(key: str, changes: "dict[str, object]") -> None:
    with pytest.raises(ConfigError) as caught:
        validate(spec(**changes))
    message = str(caught.value)
    assert "\n" not in message
    named = message.split(": ", 1)[0]
    assert key in named.split("/"), message


def test_unknown_choices_list_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="lock: 'mutex' is not one of") as caught:
        validate(spec(lock="mutex"))
    assert all(lock in str(caught.value) for lock in LOCKS)
    with pytest.raises(ConfigError) as caught:
        validate(spec(start_method="bogus"))
    assert all(method in str(caught.value) for method in multiprocessing.get_all_start_methods())


def test_a_start_method_the_platform_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    with pytest.raises(ConfigError, match="^start_method: 'fork' is not available here; use null or one of spawn$"):
        validate(spec(start_method="fork"))
    assert validate(spec(start_method="spawn")).start_method == "spawn"


def test_out_of_range_message_gives_the_reachable_balance() -> None:
    with pytest.raises(ConfigError) as caught:
        validate(spec(workers=1, times=1, amount=1, initial=SHARED_INT_MAX))
    assert f"[{SHARED_INT_MAX}, {SHARED_INT_MAX + 1}]" in str(caught.value)
    assert f"[{SHARED_INT_MIN}, {SHARED_INT_MAX}]" in str(caught.value)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


def test_a_long_value_is_shown_cut_short_with_its_length():
    assert shorten("3.13") == "3.13"
    long = "a" * 60 + "b" * 9_000 + "c" * 20
    shown = shorten(long)
    assert shown == "a" * 60 + "..." + "c" * 20 + " (9,080 characters)"
    with pytest.raises(ConfigError) as caught:
        from synclab.kernel.interpreters import resolve

        resolve("x" * 10_000)
    assert len(str(caught.value)) < 250 and "(10,000 characters)" in str(caught.value)

