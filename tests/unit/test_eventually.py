"""The tests' one polling helper."""

from __future__ import annotations

import itertools

import pytest

from tests._eventually import eventually


def test_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert eventually(lambda: next(counter) >= 3 and "done", every=0) == "done"


def test_fails_naming_what_and_the_last_value() -> None:
    expected = r"rows stored did not hold within 0.05 s; last seen: 0"
    with pytest.raises(AssertionError, match=expected):
        eventually(lambda: 0, timeout=0.05, every=0.01, what="rows stored")


def test_ignored_exceptions_mean_not_yet() -> None:
    calls = itertools.count()

    def flaky() -> int:
        if next(calls) < 2:
            raise ConnectionError("replica restarting")
        return 7

    assert eventually(flaky, every=0, ignoring=(ConnectionError,)) == 7
    with pytest.raises(ValueError):
        eventually(lambda: int("x"), timeout=0.05, ignoring=(ConnectionError,))
