"""Results cached per data version: valid until the data changes, never invalidated by hand."""

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import TypeVar

T = TypeVar("T")


class VersionedCache:
    """A bounded LRU map from (data version, key) to a computed value.

    Bounded by entries and, given `weigh` (a value's size in bytes), by `budget` bytes too: a graph view of a
    corpus of millions of triples holds hundreds of MB, and entries alone would not keep memory in bounds.
    A value heavier than the whole budget is returned but not kept.
    """

    def __init__(self, size: int = 512, budget: int | None = None, weigh: Callable[[object], int] | None = None):
        self.size = size
        self.budget = budget
        self._weigh = weigh
        self._entries: OrderedDict[tuple[str, Hashable], tuple[object, int]] = OrderedDict()
        self.weight = 0  # bytes held, by `weigh`
        self._lock = threading.Lock()
        self._computing: dict[tuple[str, Hashable], tuple[threading.Lock, int]] = {}  # lock per entry, and users

    def get(
        self,
        version: str,
        key: Hashable,
        compute: Callable[[], T],
        keep: Callable[[T], bool] | None = None,
        fresh: bool = False,
    ) -> T:
        """The cached value, or `compute()` (kept unless `keep` says no); `fresh` recomputes in any case.

        One computation per entry at a time: callers that ask for an entry being computed wait for it and take
        it, so a dashboard's panels asking one cold view at once build it once, not once each."""
        cached = None if fresh else self.peek(version, key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        with self._alone((version, key)):
            cached = None if fresh else self.peek(version, key)
            if cached is not None:
                return cached  # type: ignore[return-value]
            value = compute()
            if keep is None or keep(value):
                self.put(version, key, value)
            return value

    @contextlib.contextmanager
    def _alone(self, entry: tuple[str, Hashable]) -> Iterator[None]:
        """Hold the entry's computing lock (made for the first caller, dropped by the last)."""
        with self._lock:
            lock, users = self._computing.get(entry, (threading.Lock(), 0))
            self._computing[entry] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._lock:
                lock, users = self._computing.pop(entry)
                if users > 1:
                    self._computing[entry] = (lock, users - 1)

    def put(self, version: str, key: Hashable, value: object) -> None:
        """Keep `value` (for callers that compute it themselves, e.g. without leaving the event loop)."""
        weight = self._weigh(value) if self._weigh else 0
        if self.budget is not None and weight > self.budget:
            return
        with self._lock:
            self._drop((version, key))
            self._entries[(version, key)] = (value, weight)
            self.weight += weight
            while len(self._entries) > self.size or (self.budget is not None and self.weight > self.budget):
                self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        """Forget every value (a new app over another store that holds the same files, hence the same versions)."""
        with self._lock:
            self._entries.clear()
            self.weight = 0

    def _drop(self, entry: tuple[str, Hashable]) -> None:
        if entry in self._entries:
            self.weight -= self._entries.pop(entry)[1]

    def peek(self, version: str, key: Hashable) -> object | None:
        """The cached value or None, without computing anything (cheap enough for the event loop)."""
        entry = (version, key)
        with self._lock:
            if entry not in self._entries:
                return None
            self._entries.move_to_end(entry)
            return self._entries[entry][0]
