"""What a lab starts in the background after ``connect()`` returns, and who waits for it.

Registering data, tuning and querying need only Ray and the store; serving needs Ray Serve
and the Open Inference Protocol gateway, which take tens of seconds to start. A lab driver
therefore starts those in a thread of its own, step after step, and a call that needs one
(a deploy, an endpoint's handle) waits for that step alone. A step that failed makes each
call that needs it raise its error, with what to do.

Serve's connection is one per process, so the steps in flight are this process's: the
module keeps them, and ``serve/`` asks it before it touches Serve.

What is started ahead for later (the trial workers) comes after the steps and after any call
the user is waiting for (:func:`in_front`, a deploy): on a small machine their process
starts would take the cores from the deploy.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from mlops_lab.errors import LabError

log = logging.getLogger(__name__)

# The steps a lab driver starts, in this order.
SERVE = "Serve"
SHARED = "shared router"
# How long a call waits for a step before it gives up (Serve starts in 20-40 s on 2 cores).
WAIT_S = 600.0


class StartError(LabError, RuntimeError):
    """Something the lab starts in the background failed, or did not start in time."""


@dataclass
class Step:
    """One thing started in the background: its name, its state and how long it took."""

    name: str
    run: Callable[[], None]
    state: str = "waiting"  # waiting, starting, up, failed
    began: float = 0.0
    took: float = 0.0
    error: BaseException | None = None

    def describe(self, now: float) -> str:
        if self.state == "starting":
            return f"{self.name} starting ({now - self.began:.0f} s)"
        if self.state == "up":
            return f"{self.name} up ({self.took:.1f} s)"
        if self.state == "failed":
            return f"{self.name} failed: {self.error}"
        return f"{self.name} waiting"


class Starting:
    """Steps run one after the other in a daemon thread; anyone may wait for one of them.

    Args:
        steps: ``(name, function)`` pairs, run in order; a step that fails stops the rest.
        on_change: Called with the steps after each change of state (a notebook's status
            line redraws itself from it); its errors are logged, never raised.
        then: Called once every step is up and no call is :func:`in_front`: what is
            started ahead for later. Its errors are logged, never raised.
    """

    def __init__(
        self,
        steps: Sequence[tuple[str, Callable[[], None]]],
        on_change: Callable[[list[Step]], None] | None = None,
        then: Callable[[], None] | None = None,
    ) -> None:
        self.steps = [Step(name, run) for name, run in steps]
        self._on_change = on_change
        self._then = then
        self._ahead = then is None  # whether what is started ahead has been asked for
        self._changed = threading.Condition()  # on an RLock: describe() also takes it
        self._thread = threading.Thread(target=self._run, daemon=True, name="lab-start")
        self._thread.start()

    @property
    def done(self) -> bool:
        """Whether every step has ended, up or failed."""
        return not self._thread.is_alive()

    def describe(self) -> str:
        """Each step's state, such as ``"Serve up (14.2 s), v2 gateway starting (3 s)"``."""
        now = time.monotonic()
        with self._changed:
            return ", ".join(step.describe(now) for step in self.steps)

    def wait(self, name: str | None = None, timeout: float = WAIT_S) -> None:
        """Wait until the step ``name`` is up; if None, every step, and ``then`` has run.

        Raises:
            StartError: the step (or one before it) failed, or is not up after ``timeout``.
        """
        wanted = [s for s in self.steps if name is None or s.name == name]
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                failed = next((s for s in self.steps if s.state == "failed"), None)
                if all(s.state == "up" for s in wanted) and (name is not None or self._ahead):
                    return
                if failed is not None:
                    raise StartError(
                        f"{failed.name} failed to start: {failed.error}. Connect again to "
                        "retry; the lab's Ray log says more (mlops-lab status)."
                    ) from failed.error
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StartError(
                        f"{name or 'The lab'} did not start within {timeout:.0f} s "
                        f"({self.describe()}). The machine may be busy: wait, or "
                        "free some cores and connect again."
                    )
                self._changed.wait(left)

    def _run(self) -> None:
        for step in self.steps:
            self._set(step, "starting")
            try:
                step.run()
            except BaseException as exc:  # a thread's error would be lost: keep it for waiters
                log.warning("%s failed to start: %s", step.name, exc)
                step.error = exc
                self._set(step, "failed")
                return
            self._set(step, "up")
        if self._then is not None:
            when_quiet()
            try:
                self._then()
            except Exception:
                log.exception("What the lab starts ahead could not be started")
            with self._changed:
                self._ahead = True
                self._changed.notify_all()

    def _set(self, step: Step, state: str) -> None:
        with self._changed:
            now = time.monotonic()
            if state == "starting":
                step.began = now
            else:
                step.took = now - step.began
            step.state = state
            self._changed.notify_all()
        if self._on_change is not None:
            try:
                self._on_change(list(self.steps))
            except Exception:
                log.exception("The start's status could not be shown")


_current: Starting | None = None
_in_front = 0  # calls of this process the user is waiting for
_front_changed = threading.Condition()


def begin(
    steps: Sequence[tuple[str, Callable[[], None]]],
    on_change: Callable[[list[Step]], None] | None = None,
    then: Callable[[], None] | None = None,
) -> Starting:
    """Start ``steps`` in the background as this process's start, and return it."""
    global _current
    _current = Starting(steps, on_change, then)
    return _current


@contextlib.contextmanager
def in_front() -> Iterator[None]:
    """Mark a call the user is waiting for (a deploy): what a start does ``then`` waits."""
    global _in_front
    with _front_changed:
        _in_front += 1
    try:
        yield
    finally:
        with _front_changed:
            _in_front -= 1
            _front_changed.notify_all()


def when_quiet(timeout: float = WAIT_S) -> None:
    """Wait until no call is :func:`in_front`, or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    with _front_changed:
        while _in_front and (left := deadline - time.monotonic()) > 0:
            _front_changed.wait(left)


def wait_for(name: str | None = None, timeout: float = WAIT_S) -> None:
    """Wait for this process's step ``name`` (every step, if None), if one is in flight.

    Raises:
        StartError: the step failed or is not up after ``timeout``.
    """
    if _current is not None:
        _current.wait(name, timeout)
