"""A password hasher that counts and watches what it is asked to do, for sign-in tests."""

from __future__ import annotations

import threading

from argon2 import PasswordHasher


class WatchedHasher:
    """Wraps the hasher in use: counts verifications, notes the threads they ran on, and
    can hold them at a gate (``hold``) until the test lets them go (``release``)."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self._hasher = hasher
        self._lock = threading.Lock()
        self._gate = threading.Event()
        self._gate.set()
        self.verified = 0
        self.inside = 0
        self.most_inside = 0
        # The threads themselves, not their idents: an ident is reused once its thread ends.
        self.threads: set[threading.Thread] = set()
        self.timed_out = False

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def hash(self, password: str) -> str:
        return self._watch(self._hasher.hash, password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._lock:
            self.verified += 1
        return self._watch(self._hasher.verify, password_hash, password)

    def _watch(self, work, *args):  # type: ignore[no-untyped-def]
        with self._lock:
            self.inside += 1
            self.most_inside = max(self.most_inside, self.inside)
            self.threads.add(threading.current_thread())
        try:
            # Bounded, so code that hashes on the event loop fails the test instead of hanging.
            if not self._gate.wait(timeout=20):
                self.timed_out = True
            return work(*args)
        finally:
            with self._lock:
                self.inside -= 1
