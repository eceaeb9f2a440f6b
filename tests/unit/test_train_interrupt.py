"""An interrupt stops a search running in the main thread; a second one interrupts as usual."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from mlops_lab.train._run import _stop_on_interrupt


def test_a_first_interrupt_stops_the_search_and_a_second_one_interrupts() -> None:
    """In the main thread the first SIGINT calls stop instead of raising, the next raises
    KeyboardInterrupt, and the handler from before is back once the search ends."""
    stopped = threading.Event()
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), _stop_on_interrupt(stopped.set):
        os.kill(os.getpid(), signal.SIGINT)
        assert stopped.wait(10)
        os.kill(os.getpid(), signal.SIGINT)
        threading.Event().wait(10)  # interrupted by the second signal
    assert signal.getsignal(signal.SIGINT) is before


def test_outside_the_main_thread_the_handler_is_left_alone() -> None:
    """A search running in a thread of its own (background=True) leaves SIGINT as it was."""
    seen: list[object] = []

    def search() -> None:
        with _stop_on_interrupt(lambda: None):
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=search)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGINT)]
