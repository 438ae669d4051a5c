"""SIGTERM / SIGINT during a training loop: remember the signal, let the loop save and stop."""

from __future__ import annotations

import signal


class StopSignals:
    """install() (or a `with` block): while active, SIGTERM and SIGINT set `received` instead of killing the
    process; the previous handlers come back on exit. Outside the main thread it does nothing."""

    def __init__(self):
        self.received = None
        self._old = {}

    def _handle(self, signum, _frame):
        self.received = signum

    def install(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def restore(self):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old = {}

    def __enter__(self):
        return self.install()

    def __exit__(self, *exc):
        self.restore()
        return False
