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
        entry = (version, key)
        with self._lock:
            if entry in self._entries and not fresh:
                self._entries.move_to_end(entry)
                return self._entries[entry]  # type: ignore[return-value]
        value = compute()
        if keep is not None and not keep(value):
            return value
        with self._lock:
            self._entries[entry] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value
