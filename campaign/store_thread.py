"""Long store jobs (a 10,000-row borrower or payment import) off the reactor thread.

Why: a big import writes for about half a second on SQLite and longer on PostgreSQL. On the reactor
thread that stalls everything the coordinator does meanwhile: dial pacing, worker heartbeats (3 s to
being declared lost), the API, and with `serve --workers 0` the bot's own 20 ms frames. Here the
whole job (validation and its one write transaction) runs on one pool thread of its own, over a
connection of its own to the same database, and only its result comes back to the reactor.

One thread, so one long job at a time (they queue): SQLite has one writer anyway, and a second
connection per import would only contend for it. The short per-call writes (an attempt committed
before its INVITE: under a millisecond) stay on the reactor, in the order the dialer needs them.
With SQLite a reactor write that comes while an import commits waits for it (the engine's single
write lock); with PostgreSQL it does not (row locks). An in-memory store has no second connection:
its jobs run inline on the caller's thread, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool

from campaign.store import CampaignStore

T = TypeVar("T")


class StoreThread:
    """Runs `job(store)` on a thread with a store connection of its own; results come back as Deferreds."""

    def __init__(self, store: CampaignStore, reactor: Any, name: str = "store-jobs") -> None:
        """`reactor` None (tests without one) or a store that cannot be reopened: jobs run inline."""
        self.store = store
        self.reactor = reactor
        self._name = name
        self._pool: ThreadPool | None = None
        self._own: CampaignStore | None = None
        self._lock = threading.Lock()

    @property
    def threaded(self) -> bool:
        return self.reactor is not None and self.store.can_reopen()

    def call(self, fn: Callable[[], T]) -> Deferred[T]:
        """Plain work (CPU-bound, or with connections of its own) on the job thread."""
        if self.reactor is None:
            return maybeDeferred(fn)
        if self._pool is None:
            self._pool = ThreadPool(minthreads=0, maxthreads=1, name=self._name)
            self._pool.start()
        return deferToThreadPool(self.reactor, self._pool, fn)

    def run(self, job: Callable[[CampaignStore], T]) -> Deferred[T]:
        """`job` with the thread's own store (the reactor's store when jobs run inline)."""
        if not self.threaded:
            return maybeDeferred(job, self.store)
        return self.call(lambda: job(self._thread_store()))

    def _thread_store(self) -> CampaignStore:
        with self._lock:
            if self._own is None:
                self._own = self.store.reopen()
            return self._own

    def close(self) -> None:
        """Wait for the job in progress (a write transaction is never cut), then close the connection."""
        if self._pool is not None:
            self._pool.stop()
            self._pool = None
        with self._lock:
            if self._own is not None:
                self._own.close()
                self._own = None
