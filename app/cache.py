"""Results cached per data version: valid until the data changes, never invalidated by hand."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
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

    def get(
        self,
        version: str,
        key: Hashable,
        compute: Callable[[], T],
        keep: Callable[[T], bool] | None = None,
        fresh: bool = False,
    ) -> T:
        """The cached value, or `compute()` (kept unless `keep` says no); `fresh` recomputes in any case."""
        cached = None if fresh else self.peek(version, key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        value = compute()
        if keep is None or keep(value):
            self.put(version, key, value)
        return value

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
