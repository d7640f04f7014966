"""The hub: HF cache layout, file resolution, and (with the hub issue) the HTTP client and server."""

from embrace.hub.cache import try_to_load_from_cache
from embrace.hub.resolve import cached_file

__all__ = ["cached_file", "try_to_load_from_cache"]
