"""Classify one repeat. Every repeat gets exactly one outcome, checked in this order, because
each later question only makes sense once the earlier ones are answered:

- ``timeout``: the repeat outlived timeout_s; its workers were stopped.
- ``incomplete``: a worker died or raised, or fewer operations were reported than expected.
- ``not_shared``: every operation was reported, but the shared count the parent reads did not
  see them: the workers wrote to memory of their own, so the balance says nothing.
- ``lost_updates``: all work landed, and the balance is not what it must be.
- ``consistent``: all work landed, and the balance is exactly what it must be.
"""

from typing import Optional

OUTCOMES = ("consistent", "lost_updates", "not_shared", "incomplete", "timeout")


def classify(
    *,
    expected: int,
    after: Optional[int],
    ops_expected: int,
    ops_reported: int,
    ops_done: int,
    failed_workers: int,
    timed_out: bool,
) -> str:
    if timed_out:
        return "timeout"
    if failed_workers or ops_reported < ops_expected or after is None:
        return "incomplete"
    if ops_done != ops_reported:
        return "not_shared"
    return "consistent" if after == expected else "lost_updates"
