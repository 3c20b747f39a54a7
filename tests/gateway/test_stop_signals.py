"""Stop signals are relayed to a thread: a handler that takes a lock the main thread
holds (``Event.set`` inside ``Event.set``) deadlocks, which once left an indexer hung
for good after a double Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from gateway.stop_signals import relayed_stop_signals

ROOT = Path(__file__).resolve().parents[2]

# The main thread sets and clears an Event as fast as it can while signals rain on it;
# the old way (the handler calling stop.set() itself) hung here within a few hundred.
STORM = r"""
import os, signal, sys, threading, time
from gateway.stop_signals import relayed_stop_signals

stop = threading.Event()
seen = []

def handle(signum):
    seen.append(signum)
    stop.set()

def storm():
    for _ in range(int(sys.argv[1])):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.0002)

with relayed_stop_signals(handle):
    sender = threading.Thread(target=storm)
    sender.start()
    while sender.is_alive():
        stop.set()
        stop.clear()
    sender.join()
    time.sleep(0.2)
print(len(seen))
"""


def test_a_storm_of_stop_signals_never_hangs_the_main_thread() -> None:
    done = subprocess.run([sys.executable, "-c", STORM, "2000"], cwd=ROOT, timeout=60,
                          capture_output=True, text=True, env={**os.environ,
                                                              "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) > 0  # relayed, and none of them ended the process


def test_signals_reach_the_handle_on_another_thread_and_the_old_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    seen: list[tuple[int, str]] = []
    got = threading.Event()

    def handle(signum: int) -> None:
        seen.append((signum, threading.current_thread().name))
        got.set()

    with relayed_stop_signals(handle):
        os.kill(os.getpid(), signal.SIGTERM)
        assert got.wait(5)
    assert seen == [(signal.SIGTERM, "stop-signals")]
    assert signal.getsignal(signal.SIGTERM) == before
    time.sleep(0.1)
    assert not [t for t in threading.enumerate() if t.name == "stop-signals"]
