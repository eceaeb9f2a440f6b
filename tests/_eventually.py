"""Wait on a fact instead of a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T],
    *,
    timeout: float = 30.0,
    every: float = 0.05,
    what: str = "",
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``check`` until it returns a truthy value, and return that value.

    Args:
        check: What to wait for; its truthy result is returned.
        timeout: Seconds before giving up with an ``AssertionError``.
        every: Seconds between calls.
        what: Said in the failure, e.g. "600 rows stored".
        ignoring: Exceptions that mean "not yet" (a replica being replaced, say).

    Raises:
        AssertionError: ``check`` stayed falsy for ``timeout`` seconds; names ``what`` and
            the last value (or exception) seen.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = check()
        except ignoring as exc:
            last = exc
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"{what or 'the condition'} did not hold within {timeout:g} s; last seen: {last!r}"
            )
        time.sleep(every)
