"""Lock a client address out for a while after repeated failed authentications.

API tokens hold 256 random bits, so guessing one is hopeless; the lockout is there so that a
client trying tokens (a scanner, a stolen list of revoked ones) is stopped and visible
instead of answered at full speed. Kept per worker process and per address: a restart or
another worker forgets, which bounds the damage of locking out a shared address (a NAT) by
mistake. The console's sign-in form and the API's bearer check each have one.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["FailedAuthentications", "SLUG", "TITLE"]

SLUG = "too-many-failed-authentications"
TITLE = "Too many failed authentications from this address"


class FailedAuthentications:
    """At most ``max_failures`` failures per client within ``window_seconds``; then
    :meth:`retry_after` answers how long to wait. ``max_clients`` bounds the memory: the
    address seen least recently is forgotten first."""

    def __init__(self, max_failures: int, window_seconds: float, *, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_failures < 1 or window_seconds <= 0:
            raise ValueError("a lockout needs max_failures >= 1 and window_seconds > 0")
        self.max_failures, self.window, self.max_clients, self.clock = max_failures, window_seconds, max_clients, clock
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> list[float]:
        recent = [at for at in self._failures.get(client, ()) if now - at < self.window]
        if recent:
            self._failures[client] = recent
            self._failures.move_to_end(client)
        else:
            self._failures.pop(client, None)
        return recent

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again; None when it may now."""
        now = self.clock()
        with self._lock:
            recent = self._recent(client, now)
        if len(recent) < self.max_failures:
            return None
        return max(1, math.ceil(recent[-self.max_failures] + self.window - now))

    def failed(self, client: str) -> None:
        now = self.clock()
        with self._lock:
            recent = self._recent(client, now)
            recent.append(now)
            self._failures[client] = recent[-self.max_failures:]
            self._failures.move_to_end(client)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        """Forget the client's failures (the console, after a sign-in; not the API, where a
        holder of one valid token could otherwise keep guessing others between its requests)."""
        with self._lock:
            self._failures.pop(client, None)
