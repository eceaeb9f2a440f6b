"""What a lab starts in the background: steps in order, waited for one by one, failures kept."""

from __future__ import annotations

import threading

import pytest

from mlops_lab import LabError, _starting
from mlops_lab._starting import StartError, Starting, Step, in_front
from tests._eventually import eventually


def _gate() -> tuple[threading.Event, threading.Event]:
    """An event the step sets when it begins, and one it waits on before it ends."""
    return threading.Event(), threading.Event()


def test_steps_run_in_order_and_each_can_be_waited_for_alone() -> None:
    """A wait for the first step returns while the second still runs; a wait for all
    returns once the second is up."""
    order: list[str] = []
    began, release = _gate()

    def second() -> None:
        began.set()
        release.wait(10)
        order.append("second")

    start = Starting([("first", lambda: order.append("first")), ("second", second)])
    start.wait("first", timeout=10)
    assert began.wait(10)
    assert order == ["first"] and not start.done
    assert "first up" in start.describe() and "second starting" in start.describe()
    release.set()
    start.wait(timeout=10)
    assert order == ["first", "second"] and start.done


def test_a_failed_step_is_raised_to_every_waiter_and_stops_the_rest() -> None:
    """The failure names the step and its error, to waiters of it and of later steps; the
    steps after it never run."""
    ran: list[str] = []

    def broken() -> None:
        raise OSError("port 8000 is in use")

    start = Starting([("Serve", broken), ("v2 gateway", lambda: ran.append("gateway"))])
    for name in ("Serve", "v2 gateway", None):
        with pytest.raises(StartError, match=r"Serve failed to start: port 8000 is in use"):
            start.wait(name, timeout=10)
    assert ran == [] and isinstance(StartError("x"), LabError)
    assert "Serve failed: port 8000 is in use" in start.describe()
    assert "v2 gateway waiting" in start.describe()


def test_a_wait_that_times_out_says_what_is_still_starting() -> None:
    began, release = _gate()

    def slow() -> None:
        began.set()
        release.wait(10)

    start = Starting([("Serve", slow)])
    assert began.wait(10)
    with pytest.raises(StartError, match=r"Serve did not start within 0 s \(Serve starting"):
        start.wait("Serve", timeout=0.05)
    release.set()
    start.wait(timeout=10)


def test_each_change_of_state_is_shown_and_a_failing_display_changes_nothing() -> None:
    """The status line is redrawn on every change; an error in drawing it is logged, and
    the steps go on."""
    seen: list[list[str]] = []

    def show(steps: list[Step]) -> None:
        seen.append([step.state for step in steps])
        raise RuntimeError("the notebook went away")

    start = Starting([("a", lambda: None), ("b", lambda: None)], on_change=show)
    eventually(lambda: start.done, timeout=10, what="the steps' thread ended")
    assert seen == [
        ["starting", "waiting"], ["up", "waiting"], ["up", "starting"], ["up", "up"],
    ]  # fmt: skip


def test_what_is_started_ahead_waits_for_the_steps_and_for_calls_in_front() -> None:
    """``then`` runs after the last step, and not while a call the user waits for (a
    deploy) is in flight; once that call ends it runs, and a wait for the whole start
    returns. An error in it is logged, not raised."""
    in_front_when_ran: list[int] = []
    deploying, release = _gate()

    def deploy() -> None:
        with in_front():
            deploying.set()
            release.wait(10)

    def ahead() -> None:
        in_front_when_ran.append(_starting._in_front)
        raise RuntimeError("the raylet refused")

    caller = threading.Thread(target=deploy)
    caller.start()
    assert deploying.wait(10)
    start = Starting([("Serve", lambda: None)], then=ahead)
    start.wait("Serve", timeout=10)  # the step is up while the call is still in front
    release.set()
    start.wait(timeout=10)  # every step, and what is started ahead
    assert in_front_when_ran == [0]
    caller.join(10)


def test_in_front_marks_each_call_of_a_function_and_ends_when_it_raises() -> None:
    """As a decorator, each call is in front while it runs, and no longer once it raised."""
    counts: list[int] = []

    @in_front()
    def deploy() -> None:
        counts.append(_starting._in_front)
        raise ValueError("no such model")

    for _ in range(2):
        with pytest.raises(ValueError, match="no such model"):
            deploy()
    assert counts == [1, 1] and _starting._in_front == 0
