"""The user's API for stress tests: ``@synclab.stress`` on a plain class, grades, ``match``.

A stress test is a class: ``__init__`` builds a fresh state for every sample, the methods named
``actor*`` run concurrently on it (one thread each), and an optional ``arbiter`` runs once every
actor has finished on that state. The outcome of one sample is what they returned, written as
``"1"`` or ``"True, False"``; the test declares the grade of the outcomes it knows about, and
every other one gets the default (forbidden unless the test says otherwise).

Mistakes in a declaration raise StressError at decoration time, with one line that names the
class and what is wrong, as a dataclass refuses a bad field.
"""

import enum
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

# The outcome of a sample in which an actor or the arbiter raised: forbidden unless a test
# declares it by this exact key (a pattern never declares it, so match(".*") cannot hide errors).
ERROR = "error"
# Where a test's declaration is kept on its class.
MARK = "__synclab_stress__"


class StressError(ValueError):
    """A stress test that cannot run as written: its message is one line, meant for the user."""


class Grade(str, enum.Enum):
    """What an outcome means, as a concurrency stress harness grades it."""

    ACCEPTABLE = "acceptable"  # allowed
    INTERESTING = "interesting"  # allowed and worth showing: the race the test is about
    FORBIDDEN = "forbidden"  # the code under test (or its lock) is broken

    def __call__(self, description: str) -> "Expect":
        """``INTERESTING("lost update: both actors read 0")``: the grade with what it shows."""
        if not isinstance(description, str):
            raise StressError(f"{self.name}(...): the description must be a string, got {type(description).__name__}")
        return Expect(self, description)

    def __str__(self) -> str:
        return self.value


ACCEPTABLE = Grade.ACCEPTABLE
INTERESTING = Grade.INTERESTING
FORBIDDEN = Grade.FORBIDDEN


@dataclass(frozen=True)
class Expect:
    """A grade with a one-line description of what the outcome shows."""

    grade: Grade
    description: str = ""


@dataclass(frozen=True)
class Match:
    """An outcome key that is a regular expression, matched against the whole outcome."""

    pattern: str

    def __str__(self) -> str:
        return f"match({self.pattern!r})"


def match(pattern: str) -> Match:
    """An outcome key matching every outcome the regular expression matches in full."""
    if not isinstance(pattern, str):
        raise StressError(f"match(...): takes a regular expression as a string, got {type(pattern).__name__}")
    try:
        re.compile(pattern)
    except re.error as error:
        raise StressError(f"match({pattern!r}): not a regular expression ({error})") from None
    return Match(pattern)


@dataclass(frozen=True)
class Declared:
    """One declared outcome: an exact key or a pattern, its grade and description."""

    key: str
    regex: bool
    grade: str
    description: str

    def to_dict(self) -> Dict[str, Any]:
        return {"key": self.key, "regex": self.regex, "grade": self.grade, "description": self.description}


@dataclass(frozen=True)
class StressTest:
    """A decorated class, as the engine runs it."""

    cls: Any
    name: str  # module:QualName, how a run names the test
    actors: Tuple[str, ...]  # method names, in the order they are defined
    arbiter: bool
    declared: Tuple[Declared, ...]
    default: str  # the grade of an outcome no key declares
    description: str  # the class docstring's first line

    @property
    def title(self) -> str:
        return self.cls.__qualname__


def _grade(value: Any, cls_name: str, key: Any) -> Expect:
    if isinstance(value, Expect):
        return value
    if isinstance(value, Grade):
        return Expect(value)
    if isinstance(value, str) and value in {g.value for g in Grade}:
        return Expect(Grade(value))
    raise StressError(f"{cls_name}: outcome {key!r}: takes synclab.ACCEPTABLE, synclab.INTERESTING or "
                      f"synclab.FORBIDDEN (optionally with a description), got {value!r}")


def _declared(outcomes: Mapping[Any, Any], cls_name: str) -> Tuple[Declared, ...]:
    if not isinstance(outcomes, Mapping):
        raise StressError(f"{cls_name}: outcomes= takes a dict of outcome -> grade, got {type(outcomes).__name__}")
    found = []
    for key, value in outcomes.items():
        expect = _grade(value, cls_name, key)
        if isinstance(key, Match):
            found.append(Declared(key.pattern, True, expect.grade.value, expect.description))
        elif isinstance(key, str):
            found.append(Declared(key, False, expect.grade.value, expect.description))
        else:
            raise StressError(f"{cls_name}: outcome key {key!r}: write it as the outcome reads (\"1\", "
                              "\"True, False\") or as synclab.match(r\"...\")")
    return tuple(found)


def _methods(cls: type) -> Dict[str, Any]:
    """The class's attributes, base classes first, each in the order it was defined."""
    found: Dict[str, Any] = {}
    for base in reversed(cls.__mro__[:-1]):  # object has no actors
        for name, value in vars(base).items():
            found[name] = value
    return found


def declare(cls: Any, outcomes: Mapping[Any, Any], default: Any) -> StressTest:
    """Check a class and its declaration, and say how the engine runs it."""
    if not isinstance(cls, type):
        raise StressError(f"@synclab.stress decorates a class, got {type(cls).__name__} {getattr(cls, '__name__', cls)!r}")
    name = cls.__qualname__
    methods = _methods(cls)
    actors = tuple(key for key, value in methods.items() if key.startswith("actor") and callable(value))
    if not actors:
        raise StressError(f"{name}: no actor: name the methods that run concurrently actor1, actor2, ... "
                          "(each runs in a thread of its own)")
    for actor in actors:
        if isinstance(methods[actor], (staticmethod, classmethod)):
            raise StressError(f"{name}.{actor}: an actor is a plain method: it runs on a fresh state, self")
    arbiter = methods.get("arbiter")
    if arbiter is not None and (not callable(arbiter) or isinstance(arbiter, (staticmethod, classmethod))):
        raise StressError(f"{name}.arbiter: must be a plain method (it reads the state once every actor is done)")
    default_grade = _grade(default, name, "default=").grade
    doc = (cls.__doc__ or "").strip().splitlines()
    return StressTest(
        cls=cls,
        name=f"{cls.__module__}:{name}",
        actors=actors,
        arbiter=arbiter is not None,
        declared=_declared(outcomes if outcomes is not None else {}, name),
        default=default_grade.value,
        description=doc[0].strip() if doc else "",
    )


def stress(outcomes: Optional[Mapping[Union[str, Match], Any]] = None, *, default: Any = FORBIDDEN
           ) -> Callable[[type], type]:
    """Mark a class as a stress test; the class itself is returned unchanged.

    ``outcomes`` maps an outcome (``"1"``, ``"True, False"``, or ``synclab.match(r"...")``) to its
    grade; ``default`` grades every outcome not listed (forbidden unless said otherwise).
    """
    if isinstance(outcomes, type):  # @synclab.stress without parentheses
        raise StressError(f"{outcomes.__qualname__}: write @synclab.stress(outcomes={{...}}), with parentheses")

    def decorate(cls: type) -> type:
        setattr(cls, MARK, declare(cls, outcomes, default))
        return cls

    return decorate


def declaration(obj: Any) -> Optional[StressTest]:
    """The stress test a class declares, if it is one (its own mark, not a base class's)."""
    if not isinstance(obj, type):
        return None
    test = vars(obj).get(MARK)
    return test if isinstance(test, StressTest) else None
