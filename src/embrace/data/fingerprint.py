"""Deterministic fingerprints of datasets and transforms, the keys of the map/filter cache.

A transform's fingerprint hashes the parent fingerprint, the function (its bytecode, constants, default
arguments, closure values and the globals it reads, recursively) and the call's arguments. The hash never uses
``id()`` or memory addresses, so two processes running the same code get the same key. Anything that cannot be
hashed faithfully raises :class:`UnhashableError`; callers then use a random fingerprint and skip the cache.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import os
import pickle
import random
import struct
import types
from collections.abc import Iterator
from typing import Any


class UnhashableError(TypeError):
    """An object's content cannot be hashed deterministically."""


_rng = random.Random()


def random_fingerprint() -> str:
    """A fresh 16-hex-digit fingerprint that no cache file can match."""
    return f"{_rng.getrandbits(64):016x}"


def _code_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


class Hasher:
    """Feed objects in with ``update``; ``hexdigest()`` gives 16 hex digits."""

    def __init__(self) -> None:
        self._hash = hashlib.blake2b(digest_size=8)
        self._active: set[int] = set()  # objects being hashed now, to cut cycles (recursive functions)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def _put(self, tag: str, payload: bytes = b"") -> None:
        self._hash.update(tag.encode() + struct.pack("<Q", len(payload)) + payload)

    def update(self, obj: Any) -> Hasher:
        if obj is None or isinstance(obj, (bool, int, float, complex, str, bytes)):
            self._put(type(obj).__name__, repr(obj).encode() if not isinstance(obj, bytes) else obj)
            return self
        key = id(obj)
        if key in self._active:
            self._put("cycle")
            return self
        self._active.add(key)
        try:
            self._update_container(obj)
        finally:
            self._active.discard(key)
        return self

    def _update_container(self, obj: Any) -> None:
        if isinstance(obj, (list, tuple)):
            self._put(type(obj).__name__, struct.pack("<Q", len(obj)))
            for item in obj:
                self.update(item)
        elif isinstance(obj, dict):
            self._put("dict", struct.pack("<Q", len(obj)))
            for k, v in sorted(obj.items(), key=lambda kv: Hasher().update(kv[0]).hexdigest()):
                self.update(k)
                self.update(v)
        elif isinstance(obj, (set, frozenset)):
            self._put("set", "".join(sorted(Hasher().update(item).hexdigest() for item in obj)).encode())
        elif isinstance(obj, types.FunctionType):
            self._update_function(obj)
        elif isinstance(obj, types.CodeType):
            self._update_code(obj)
        elif isinstance(obj, types.MethodType):
            self._put("method")
            self.update(obj.__func__)
            self.update(obj.__self__)
        elif isinstance(obj, functools.partial):
            self._put("partial")
            self.update(obj.func)
            self.update(obj.args)
            self.update(obj.keywords)
        elif isinstance(obj, types.ModuleType):
            self._put("module", obj.__name__.encode())
        elif isinstance(obj, (types.BuiltinFunctionType, type)) and obj.__module__ not in ("__main__", None):
            self._put("qualname", f"{obj.__module__}.{obj.__qualname__}".encode())
        elif hasattr(obj, "_fingerprint") and isinstance(obj._fingerprint, str):
            self._put("dataset", obj._fingerprint.encode())
        elif type(obj).__module__ == "numpy" and hasattr(obj, "tobytes"):
            self._put("ndarray", f"{obj.dtype}{obj.shape}".encode() + obj.tobytes())
        else:
            try:
                payload = pickle.dumps(obj, protocol=4)
            except Exception as exc:  # pickling can raise anything; it all means "cannot hash this"
                raise UnhashableError(f"cannot fingerprint {type(obj).__qualname__}: {exc}") from exc
            self._put("pickle", payload)

    def _update_code(self, code: types.CodeType) -> None:
        self._put("code", code.co_code)
        self._put("names", repr((code.co_names, code.co_varnames, code.co_freevars, code.co_argcount,
                                 code.co_kwonlyargcount, code.co_flags)).encode())
        for const in code.co_consts:
            self.update(const)

    def _update_function(self, fn: types.FunctionType) -> None:
        self._put("function", f"{fn.__module__}.{fn.__qualname__}".encode())
        self._update_code(fn.__code__)
        self.update(fn.__defaults__)
        self.update(fn.__kwdefaults__)
        if fn.__closure__:
            for cell in fn.__closure__:
                try:
                    contents = cell.cell_contents
                except ValueError:  # an empty cell: a variable not assigned yet
                    contents = "<empty cell>"
                self.update(contents)
        fn_globals = fn.__globals__
        for name in sorted(set(_code_names(fn.__code__))):
            if name in fn_globals:
                self._put("global", name.encode())
                self.update(fn_globals[name])
            elif hasattr(builtins, name):
                self._put("builtin", name.encode())


def hash_objects(*objects: Any) -> str:
    """Fingerprint of ``objects`` (raises :class:`UnhashableError` when one cannot be hashed)."""
    hasher = Hasher()
    for obj in objects:
        hasher.update(obj)
    return hasher.hexdigest()


def update_fingerprint(parent: str, transform: str, function: Any, args: dict[str, Any]) -> tuple[str, bool]:
    """Fingerprint of ``transform(parent, function, **args)``; second item False when it had to be random."""
    try:
        return hash_objects(parent, transform, function, args), True
    except (UnhashableError, RecursionError):
        return random_fingerprint(), False


def fingerprint_files(paths: list[str]) -> str:
    """Fingerprint of a set of files from their paths, sizes and modification times."""
    stats = []
    for path in paths:
        st = os.stat(path)
        stats.append((os.path.abspath(path), st.st_size, st.st_mtime_ns))
    return hash_objects(stats)
