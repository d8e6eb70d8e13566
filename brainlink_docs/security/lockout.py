"""CouchDB 3.4's ``chttpd_auth_lockout``: too many failed logins lock a (user, address) out.

After ``threshold`` failures within ``window`` seconds, further attempts from that address for
that user are refused without checking the password, until the oldest failure ages out. The
table is bounded: past ``max_objects`` entries the least recently failed pair is forgotten.

The user is keyed as CouchDB keys it, by name *and password salt* (``account``): when an admin
sets a new password, the new salt is a new account with no failures, so the user is unlocked.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

Key = tuple[str, str]


def account(name: str, salt: str) -> str:
    """The lockout's user key: a new password (a new salt) starts with a clean slate."""
    return f"{name}\0{salt}"


@dataclass
class Lockout:
    threshold: int = 5
    window: float = 300.0
    max_objects: int = 10_000
    _failures: OrderedDict[Key, deque[float]] = field(default_factory=OrderedDict)

    def _recent(self, key: Key, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def locked(self, name: str, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        times = self._recent((name, address), now)
        return times is not None and len(times) >= self.threshold

    def fail(self, name: str, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = (name, address)
        times = self._recent(key, now)
        if times is None:
            times = self._failures[key] = deque(maxlen=max(self.threshold, 1))
        times.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_objects:
            self._failures.popitem(last=False)

    def succeed(self, name: str, address: str) -> None:
        self._failures.pop((name, address), None)
