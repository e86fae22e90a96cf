"""The grade of an observed outcome: exact keys first, then patterns in the order declared,
then the default. ``error`` is forbidden unless declared by that exact key."""

import re
from typing import Dict, Sequence, Tuple

from synclab.kernel.stress.api import ERROR, Declared

FORBIDDEN = "forbidden"
# The bucket that counts the distinct outcomes beyond what a run keeps: graded as the worst of them.
OTHER = "(other outcomes)"


class Grader:
    """Grades outcomes by a test's declaration; a reader rebuilds one from a stored declaration
    to check the grades a result claims."""

    def __init__(self, declared: Sequence[Declared], default: str) -> None:
        self.exact: Dict[str, Declared] = {}
        for entry in declared:
            if not entry.regex:
                self.exact.setdefault(entry.key, entry)
        self.patterns = [(re.compile(entry.key), entry) for entry in declared if entry.regex]
        self.default = default

    def grade(self, outcome: str) -> Tuple[str, str]:
        """(grade, description) of one outcome."""
        entry = self.exact.get(outcome)
        if entry is not None:
            return entry.grade, entry.description
        if outcome == ERROR:
            return FORBIDDEN, "an actor or the arbiter raised"
        for pattern, entry in self.patterns:
            if pattern.fullmatch(outcome):
                return entry.grade, entry.description
        return self.default, ""


def arity(outcome: str) -> int:
    """How many values an outcome holds (``"1, 2"`` holds two; ``""`` none)."""
    return len(outcome.split(", ")) if outcome else 0


def unreachable_keys(declared: Sequence[Declared], seen: Sequence[str]) -> "list[str]":
    """Exact keys that cannot match anything this test returns: their number of values differs
    from that of every outcome seen (``"1,2"`` for a test returning two values, say)."""
    arities = {arity(outcome) for outcome in seen if outcome != ERROR}
    if not arities:
        return []
    found = []
    for entry in declared:
        if not entry.regex and entry.key != ERROR and arity(entry.key) not in arities:
            shown = " or ".join(str(n) for n in sorted(arities))
            found.append(f"outcome key {entry.key!r} holds {arity(entry.key)} value(s); this test's outcomes "
                         f"hold {shown} (values are separated by ', '), so it never matches")
    return found
