"""``CachedGenerator``: no request is sent twice, in one run or across a resumed one.

Identical requests in flight together are sent once and their samples given to each: a
:class:`RolloutStore` keeps the answers and who is sending what (one store may serve the generators of
many processes, as in a Ray job). With a cache file, every answered request is appended to it (one
JSON line: key and texts) as soon as it arrives; a later run with the same file answers those from it.
A line cut short by a killed process is dropped (and cut off the file) on open, so the file stays a
list of whole lines.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

from prm.generate.base import GenerationError, Generator, Request


class RolloutCache:
    """An append-only JSONL map from request key to samples.

    Each line goes to the file in one ``write`` on a descriptor opened for appending, so two processes
    appending to one file (a resumed run started while the killed run's last actor still finishes a
    request) put whole lines after each other, never one inside another."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._fd: int | None = None
        if path is not None:
            self._load(path)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)

    def _load(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            return
        raw = path.read_bytes()
        good = raw.rfind(b"\n") + 1  # whatever follows the last newline was cut short by a kill
        if good < len(raw):
            with path.open("r+b") as f:
                f.truncate(good)
        for line in raw[:good].splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                key, texts = obj["key"], obj["texts"]
            except (ValueError, KeyError, TypeError) as e:
                raise GenerationError(
                    f"{path}: a malformed cache line ({e}); delete the file to start over"
                ) from e
            self._data[key] = [str(t) for t in texts]

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> list[str] | None:
        return self._data.get(key)

    def put(self, key: str, texts: list[str]) -> None:
        line = (json.dumps({"key": key, "texts": texts}, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            self._data[key] = texts
            if self._fd is not None:  # a killed process loses nothing the OS has; sync() makes it durable
                written = os.write(self._fd, line)
                if written != len(line):  # a full disk: the line is cut, and a later open drops it
                    raise GenerationError(f"{self.path}: wrote {written} of {len(line)} bytes of a rollout")

    def sync(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class RolloutStore:
    """The answers of one run and who is sending which request: the cache behind every generator.

    A caller *claims* the keys it wants: the answered ones come back, and the rest are either claimed
    for the caller (it sends them) or already claimed by another owner (it waits for them). An owner
    claiming a key it already holds gets it again: a chunk retried after its process died re-sends
    what it never answered, while everyone else waits for that chunk, not for a dead claim. The first
    answer stored for a key is the answer (a later one is returned the stored one), so every row of a
    run sees the same samples for the same request. Thread-safe; in a Ray job one store serves every
    actor (see ``mathreward.commands.job_ray``).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.cache = RolloutCache(path)
        self._lock = threading.Lock()
        self._owner: dict[str, str] = {}  # key -> the owner sending it
        self._done: dict[str, threading.Event] = {}  # key -> set once answered or released

    def __len__(self) -> int:
        return len(self.cache)

    def claim(self, owner: str, keys: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
        """The answers known for ``keys``, and the keys now claimed for ``owner`` (in ``keys``' order);
        any other key is being sent by another owner: :meth:`wait` for it."""
        hits: dict[str, list[str]] = {}
        mine: list[str] = []
        with self._lock:
            for key in dict.fromkeys(keys):
                hit = self.cache.get(key)
                if hit is not None:
                    hits[key] = hit
                elif self._owner.setdefault(key, owner) == owner:
                    self._done.setdefault(key, threading.Event())
                    mine.append(key)
        return hits, mine

    def put(self, key: str, texts: list[str]) -> list[str]:
        """Store an answer; returns the answer that stands (the first one stored for ``key``)."""
        with self._lock:
            stored = self.cache.get(key)
            if stored is None:
                self.cache.put(key, texts)
                stored = texts
            self._owner.pop(key, None)
            done = self._done.pop(key, None)
        if done is not None:
            done.set()
        return list(stored)

    def release(self, owner: str, keys: Sequence[str]) -> None:
        """Give up ``owner``'s claims on the keys it did not answer (an error, an early exit): whoever
        waits for them is woken and finds no answer."""
        woken = []
        with self._lock:
            for key in keys:
                if self._owner.get(key) == owner and self.cache.get(key) is None:
                    del self._owner[key]
                    woken.append(self._done.pop(key))
        for done in woken:
            done.set()

    def wait(self, keys: Sequence[str]) -> dict[str, list[str] | None]:
        """The answers of ``keys`` once their owners have answered or released them (None: released)."""
        with self._lock:
            events = [self._done[k] for k in keys if k in self._done]
        for done in events:
            done.wait()
        with self._lock:
            return {k: self.cache.get(k) for k in keys}

    def sync(self) -> None:
        self.cache.sync()

    def close(self) -> None:
        self.cache.close()


class Store(Protocol):
    """What :class:`CachedGenerator` needs of a store: :class:`RolloutStore`, or a proxy to one that
    another process holds."""

    def claim(self, owner: str, keys: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]: ...

    def put(self, key: str, texts: list[str]) -> list[str]: ...

    def release(self, owner: str, keys: Sequence[str]) -> None: ...

    def wait(self, keys: Sequence[str]) -> dict[str, list[str] | None]: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


class CachedGenerator:
    """A backend behind a de-duplicating, optionally persistent store. Counts what it sent and reused.

    Several streams may run at once (from several threads, or several processes sharing one store): a
    request that one of them has in flight is not sent again by another, which waits for its answer
    instead. Each stream is its own owner of what it claims, unless the calling thread set ``owner`` (a
    Ray actor's thread sets it to the chunk it runs, so a retried chunk takes its claims back).
    """

    def __init__(self, inner: Generator, cache_path: Path | None = None, store: Store | None = None) -> None:
        if store is not None and cache_path is not None:
            raise ValueError("give a cache file or a store, not both")
        self.inner = inner
        self.model = inner.model
        self.cache: Store = store if store is not None else RolloutStore(cache_path)
        self._local = threading.local()  # the owner set by the calling thread
        self.sent = 0  # requests the backend answered for this generator
        self.reused = 0  # requests answered from the store or by an identical request in flight
        self._lock = threading.Lock()

    @property
    def owner(self) -> str | None:
        """Who the calling thread's streams claim keys for (None: each stream is its own owner)."""
        return getattr(self._local, "owner", None)

    @owner.setter
    def owner(self, value: str | None) -> None:
        self._local.owner = value

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, list[str]]]:
        keys = [r.key(self.model) for r in requests]
        owner = self.owner or uuid.uuid4().hex
        hits, claimed = self.cache.claim(owner, keys)
        mine = set(claimed)
        todo: list[Request] = []
        todo_keys: list[str] = []
        waiting: dict[str, list[int]] = {}  # keys this stream sends -> the requests that want them
        elsewhere: dict[str, list[int]] = {}  # keys another owner is sending
        for i, (req, key) in enumerate(zip(requests, keys, strict=True)):
            if key in hits:
                continue
            if key not in mine:
                elsewhere.setdefault(key, []).append(i)
            elif key in waiting:
                waiting[key].append(i)
            else:
                waiting[key] = [i]
                todo.append(req)
                todo_keys.append(key)
        with self._lock:
            self.reused += len(requests) - len(todo)
        try:
            for i, key in enumerate(keys):
                if key in hits:
                    yield i, list(hits[key])
            for j, texts in self.inner.stream(todo):
                key = todo_keys[j]
                if len(texts) != todo[j].params.n:
                    raise GenerationError(
                        f"the backend returned {len(texts)} samples, asked for {todo[j].params.n}"
                    )
                texts = self.cache.put(key, texts)
                with self._lock:
                    self.sent += 1
                for i in waiting[key]:
                    yield i, list(texts)
        finally:  # keys this stream took but did not answer (an error, an early exit): free them
            self.cache.release(owner, todo_keys)
        if elsewhere:
            answers = self.cache.wait(list(elsewhere))
            for key, indices in elsewhere.items():
                answer = answers.get(key)
                if answer is None:
                    raise GenerationError("a request shared with another chunk failed there")
                for i in indices:
                    yield i, list(answer)

    def close(self) -> None:
        self.cache.close()
        self.inner.close()
