"""The signals that stop ``awsm up`` and ``awsm indexer`` (which one takes them and what
it stops is theirs to say; this names them and relays them safely)."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

__all__ = ["relayed_stop_signals", "stop_signals"]


def stop_signals() -> tuple[signal.Signals, ...]:
    """SIGINT, SIGTERM, and SIGHUP (the terminal closed, the SSH session dropped: by
    default it ended ``awsm up`` at once and its PostgreSQL ran on) unless SIGHUP is
    ignored, as under ``nohup``, where it must stay ignored."""
    hangup = () if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN else (signal.SIGHUP,)
    return (signal.SIGINT, signal.SIGTERM, *hangup)


@contextlib.contextmanager
def relayed_stop_signals(handle: Callable[[int], None]) -> Iterator[None]:
    """For the block, each stop signal calls ``handle(signum)`` on a thread of its own.

    A Python signal handler runs on the main thread between any two of its bytecodes: one
    that takes a lock (``Event.set``, ``logging``) deadlocks when the main thread holds
    that lock already. A second Ctrl-C 50 ms after the first landed inside the first's
    ``Event.set`` and left an indexer hung for good, holding the index. The handler here
    only writes the signal's number to a pipe, which takes no lock."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def note(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):  # a full pipe: a stop is on its way already
            os.write(write_end, bytes((signum,)))

    def relay() -> None:
        while data := os.read(read_end, 64):  # b"": the block is over
            for signum in data:
                handle(signum)
        os.close(read_end)

    thread = threading.Thread(target=relay, name="stop-signals", daemon=True)
    thread.start()
    previous = {s: signal.signal(s, note) for s in stop_signals()}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(write_end)
        thread.join(5)
