"""Results cached per data version: valid until the data changes, never invalidated by hand."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")


class VersionedCache:
    """A bounded LRU map from (data version, key) to a computed value."""

    def __init__(self, size: int = 512):
        self.size = size
        self._entries: OrderedDict[tuple[str, Hashable], object] = OrderedDict()
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
        with self._lock:
            self._entries[(version, key)] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def peek(self, version: str, key: Hashable) -> object | None:
        """The cached value or None, without computing anything (cheap enough for the event loop)."""
        entry = (version, key)
        with self._lock:
            if entry not in self._entries:
                return None
            self._entries.move_to_end(entry)
            return self._entries[entry]
