"""The signals that stop ``awsm up`` and ``awsm indexer`` (which one takes them and what
it stops is theirs to say; this only names them)."""

from __future__ import annotations

import signal

__all__ = ["stop_signals"]


def stop_signals() -> tuple[signal.Signals, ...]:
    """SIGINT, SIGTERM, and SIGHUP (the terminal closed, the SSH session dropped: by
    default it ended ``awsm up`` at once and its PostgreSQL ran on) unless SIGHUP is
    ignored, as under ``nohup``, where it must stay ignored."""
    hangup = () if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN else (signal.SIGHUP,)
    return (signal.SIGINT, signal.SIGTERM, *hangup)
