"""synclab's own stress tests of the shared-state idioms people ask about, each racy one beside
its twin under a ``threading.Lock``.

The target ``synclab.kernel.stress.idioms`` runs them all, ``synclab.kernel.stress.idioms:NAME``
one. Every interesting outcome's description reads ``label: what happened``; the answer table
shows the label. A locked twin keeps its idiom's outcomes, but what was interesting without the
lock is forbidden with it: under the lock no actor can see another half-way through.

Each state is built fresh for every sample, the "global" included: a module's globals are one
dict for the life of the process, so GlobalIncrement gives each state a globals dict of its own
and runs ``global x; x += 1`` in a function made on that dict, which is the same bytecode
(LOAD_GLOBAL, add, STORE_GLOBAL) a module-level counter runs.
"""

import collections
import itertools
import sys
import threading
import types
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from synclab.kernel import gil
from synclab.kernel.stress.api import ACCEPTABLE, FORBIDDEN, INTERESTING, Expect, Grade, declaration, match, stress

TARGET = __name__
LOCK = "_synclab_lock"  # the attribute a locked twin's state keeps its lock in

LOST = {"2": ACCEPTABLE, "1": INTERESTING("lost update: both actors read 0 and both wrote 1")}
# check-then-act: an actor returns whether it found the key missing and inserted it
ONE_INSERTS = {"True, False": ACCEPTABLE, "False, True": ACCEPTABLE}
BOTH_INSERTED = INTERESTING("both inserted: each found the key missing, the second write replaced the first")


def locked(cls: type, doc: str) -> type:
    """The twin of a racy idiom that holds one lock per state around each actor."""
    test = declaration(cls)
    assert test is not None, f"{cls.__name__} is not a stress test"
    outcomes: Dict[Any, Any] = {}
    for entry in test.declared:
        key = match(entry.key) if entry.regex else entry.key
        grade = FORBIDDEN if entry.grade == INTERESTING.value else Grade(entry.grade)
        outcomes[key] = Expect(grade, f"with the lock held: {entry.description}" if grade is FORBIDDEN
                               else entry.description)

    def __init__(self: Any) -> None:
        cls.__init__(self)
        setattr(self, LOCK, threading.Lock())

    def guard(actor: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def guarded(self: Any) -> Any:
            with getattr(self, LOCK):
                return actor(self)

        guarded.__name__ = guarded.__qualname__ = actor.__name__
        return guarded

    name = cls.__name__ + "Locked"
    body: Dict[str, Any] = {"__init__": __init__, "__doc__": doc, "__module__": cls.__module__, "__qualname__": name}
    body.update((actor, guard(getattr(cls, actor))) for actor in test.actors)
    return stress(outcomes, default=test.default)(type(name, (cls,), body))


# --- x += 1 on four kinds of place --------------------------------------------------------------

def _bump_global() -> None:
    global x
    x += 1  # x lives in the globals dict of the state the function was made for


@stress(LOST)
class GlobalIncrement:
    """`global x; x += 1` from two threads: a read-modify-write of a module global, not atomic."""

    def __init__(self) -> None:
        self.namespace: Dict[str, int] = {"x": 0}
        self.bump = types.FunctionType(_bump_global.__code__, self.namespace)

    def actor1(self) -> None:
        self.bump()

    actor2 = actor1

    def arbiter(self) -> int:
        return self.namespace["x"]


GlobalIncrementLocked = locked(GlobalIncrement, "`global x; x += 1` under a lock: never loses an update.")


@stress(LOST)
class AttributeIncrement:
    """`self.x += 1` from two threads: a read-modify-write of an attribute, not atomic."""

    def __init__(self) -> None:
        self.x = 0

    def actor1(self) -> None:
        self.x += 1

    actor2 = actor1

    def arbiter(self) -> int:
        return self.x


AttributeIncrementLocked = locked(AttributeIncrement, "`self.x += 1` under a lock: never loses an update.")


@stress(LOST)
class ListItemIncrement:
    """`items[0] += 1` from two threads: the item is read, added to and stored back in three steps."""

    def __init__(self) -> None:
        self.items = [0]

    def actor1(self) -> None:
        self.items[0] += 1

    actor2 = actor1

    def arbiter(self) -> int:
        return self.items[0]


ListItemIncrementLocked = locked(ListItemIncrement, "`items[0] += 1` under a lock: never loses an update.")


@stress(LOST)
class DictItemIncrement:
    """`counts[k] += 1` from two threads: each dict operation is atomic, the read-add-store is not."""

    def __init__(self) -> None:
        self.counts = {"k": 0}

    def actor1(self) -> None:
        self.counts["k"] += 1

    actor2 = actor1

    def arbiter(self) -> int:
        return self.counts["k"]


DictItemIncrementLocked = locked(DictItemIncrement, "`counts[k] += 1` under a lock: never loses an update.")


# --- collections.Counter ------------------------------------------------------------------------

class _CounterState:
    """A fresh, empty collections.Counter; the arbiter reads the count of "k"."""

    def __init__(self) -> None:
        self.counter: "collections.Counter[str]" = collections.Counter()

    def arbiter(self) -> int:
        return self.counter["k"]


@stress(LOST)
class CounterItemIncrement(_CounterState):
    """`counter[k] += 1` on a collections.Counter: a dict item's read-add-store, the missing key read as 0."""

    def actor1(self) -> None:
        self.counter["k"] += 1

    actor2 = actor1


CounterItemIncrementLocked = locked(CounterItemIncrement, "`counter[k] += 1` under a lock: never loses an update.")


@stress(LOST)
class CounterUpdate(_CounterState):
    """`counter.update(["k"])` from two threads: one C loop counts the items, a get and a set per item."""

    def actor1(self) -> None:
        self.counter.update(["k"])

    actor2 = actor1


CounterUpdateLocked = locked(CounterUpdate, "`counter.update([k])` under a lock: never loses an update.")


# --- check-then-insert, against setdefault ------------------------------------------------------

@stress({**ONE_INSERTS, "True, True": BOTH_INSERTED})
class DictCheckThenInsert:
    """`if k not in d: d[k] = v` from two threads: both can find the key missing and both insert."""

    def __init__(self) -> None:
        self.d: Dict[str, object] = {}

    def actor1(self) -> bool:
        if "k" not in self.d:
            self.d["k"] = object()
            return True
        return False

    actor2 = actor1


DictCheckThenInsertLocked = locked(DictCheckThenInsert, "`if k not in d: d[k] = v` under a lock: one inserts.")


@stress({**ONE_INSERTS, "True, True": BOTH_INSERTED})
class SetCheckThenAdd:
    """`if k not in s: s.add(k)` from two threads: both can find it missing and both think they added it."""

    def __init__(self) -> None:
        self.s: "set[str]" = set()

    def actor1(self) -> bool:
        if "k" not in self.s:
            self.s.add("k")
            return True
        return False

    actor2 = actor1


SetCheckThenAddLocked = locked(SetCheckThenAdd, "`if k not in s: s.add(k)` under a lock: one adds.")


@stress(ONE_INSERTS)  # both inserting would be a broken dict: forbidden, as anything undeclared is
class DictSetdefault:
    """`d.setdefault(k, mine) is mine` from two threads: one call checks and inserts, exactly one wins."""

    def __init__(self) -> None:
        self.d: Dict[str, object] = {}

    def actor1(self) -> bool:
        mine = object()
        return self.d.setdefault("k", mine) is mine

    actor2 = actor1


DictSetdefaultLocked = locked(DictSetdefault, "`d.setdefault(k, mine)` under a lock: exactly one wins.")


# --- containers: lengths ------------------------------------------------------------------------

INTERLEAVED = "interleaved: "


@stress({"1, 2, 2": ACCEPTABLE, "2, 1, 2": ACCEPTABLE,
         "2, 2, 2": INTERESTING(INTERLEAVED + "both appended before either read the length; nothing lost")})
class ListAppend:
    """`items.append(1); len(items)` from two threads, then the length: append never loses an item."""

    def __init__(self) -> None:
        self.items: List[int] = []

    def actor1(self) -> int:
        self.items.append(1)
        return len(self.items)

    actor2 = actor1

    def arbiter(self) -> int:
        return len(self.items)


ListAppendLocked = locked(ListAppend, "`items.append(1); len(items)` under a lock: the appends never interleave.")


@stress({"1, 2, 0": ACCEPTABLE,
         "2, 1, 0": INTERESTING(INTERLEAVED + "each actor popped the other's item; nothing lost")})
class DequeAppendPopleft:
    """`q.append(mine); q.popleft()` from two threads, then the length: a deque loses and duplicates nothing."""

    def __init__(self) -> None:
        self.q: "collections.deque[int]" = collections.deque()

    def actor1(self) -> int:
        self.q.append(1)
        return self.q.popleft()

    def actor2(self) -> int:
        self.q.append(2)
        return self.q.popleft()

    def arbiter(self) -> int:
        return len(self.q)


DequeAppendPopleftLocked = locked(DequeAppendPopleft, "`q.append(mine); q.popleft()` under a lock: each pops its own.")


# --- next() on a shared iterator ----------------------------------------------------------------

TAKEN_TWICE = INTERESTING("duplicate: both actors got the same number")


@stress({"0, 1": ACCEPTABLE, "1, 0": ACCEPTABLE, "0, 0": TAKEN_TWICE})
class CountNext:
    """`next(counter)` on one itertools.count from two threads: each should get a number of its own."""

    def __init__(self) -> None:
        self.counter = itertools.count()

    def actor1(self) -> int:
        return next(self.counter)

    actor2 = actor1


CountNextLocked = locked(CountNext, "`next(counter)` under a lock: each gets a number of its own.")

RUNNING = "ValueError"  # what an actor returns when the generator was already running in the other thread


def _numbers() -> Iterator[int]:
    number = 0
    while True:
        yield number
        number += 1


def _next_or_running(generator: Iterator[int]) -> Any:
    try:
        return next(generator)
    except ValueError as error:
        if "already executing" not in str(error):
            raise
        return RUNNING


@stress({"0, 1": ACCEPTABLE, "1, 0": ACCEPTABLE,
         match(r"\d+, ValueError|ValueError, \d+"): INTERESTING(
             "ValueError: the generator was already executing in the other thread")})
class GeneratorNext:
    """`next(gen)` on one generator from two threads: the loser can get ValueError "generator already executing"."""

    def __init__(self) -> None:
        self.generator = _numbers()

    def actor1(self) -> Any:
        return _next_or_running(self.generator)

    actor2 = actor1


GeneratorNextLocked = locked(GeneratorNext, "`next(gen)` under a lock: never runs twice at once, never a ValueError.")

# Two threads in one generator crash CPython 3.13's free-threaded build with the GIL disabled
# (a segmentation fault: both pass the "already executing" check and run one frame at once),
# which would end every test run after it in that process. There the racy idiom is withheld, and
# the reason is kept for whoever reports on the missing cell; its locked twin still runs.
WITHHELD: Dict[str, str] = {}
if gil.free_threaded() and not gil.is_enabled() and sys.version_info < (3, 14):
    WITHHELD["GeneratorNext"] = ("withheld: two threads in one generator crash free-threaded CPython 3.13 "
                                 "with the GIL disabled (segmentation fault)")
    del GeneratorNext


# --- lazy initialisation --------------------------------------------------------------------------

@stress({"1": ACCEPTABLE, "2": INTERESTING("built twice: both actors saw None and both built the instance")})
class LazyInit:
    """`if self.instance is None: self.instance = build()` from two threads, counting constructions."""

    def __init__(self) -> None:
        self.instance: Optional[object] = None
        self.built: List[object] = []  # list.append is atomic: the count itself cannot be lost

    def build(self) -> object:
        made = object()
        self.built.append(made)
        return made

    def actor1(self) -> None:
        if self.instance is None:
            self.instance = self.build()

    actor2 = actor1

    def arbiter(self) -> int:
        return len(self.built)


LazyInitLocked = locked(LazyInit, "`if self.instance is None: build()` under a lock: built once.")


def idioms() -> Tuple[Tuple[type, type], ...]:
    """Every (racy idiom, its locked twin), in the order the module defines them."""
    found = {value.__name__: value for value in list(globals().values()) if declaration(value) is not None}
    return tuple((cls, found[name + "Locked"]) for name, cls in found.items() if not name.endswith("Locked"))
