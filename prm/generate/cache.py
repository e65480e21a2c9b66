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
import time
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
            self._data.setdefault(key, [str(t) for t in texts])  # the first answer stands, as in a store

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> list[str] | None:
        return self._data.get(key)

    def put(self, key: str, texts: list[str]) -> None:
        """Append the answer (a killed process loses nothing the OS has; :meth:`sync` makes it durable),
        then keep it; an answer that could not be written is not kept (OSError, GenerationError)."""
        line = (json.dumps({"key": key, "texts": texts}, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._fd is not None:
                written = os.write(self._fd, line)
                if written != len(line):  # a full disk: cut the partial line off, so lines stay whole
                    os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
                    raise GenerationError(f"{self.path}: wrote {written} of {len(line)} bytes of a rollout")
            self._data[key] = texts

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
    for the caller (it sends them) or held by another owner (it waits, then claims again). An owner
    claiming a key it already holds gets it again (a chunk retried after its process died re-sends
    what it never answered). A claim whose holder gave it up (:meth:`release`, or a write that failed)
    goes to the next caller; so does one whose holder's *incarnation* (a process that claims with one
    and calls :meth:`beat` for it every few seconds) has not beaten for ``stale_s`` seconds: nobody
    waits on a dead process. The first answer stored for a key is the answer (a later one is returned
    the stored one), so every row of a run sees the same samples for the same request. Thread-safe; in
    a Ray job one store serves every actor (see ``mathreward.commands.job_ray``).
    """

    def __init__(self, path: Path | None = None, stale_s: float | None = None) -> None:
        self.cache = RolloutCache(path)
        self.stale_s = stale_s  # None: claims never go stale (threads of one process)
        self._lock = threading.Lock()
        self._owner: dict[str, tuple[str, str | None]] = {}  # key -> (owner, incarnation) sending it
        self._done: dict[str, threading.Event] = {}  # key -> set once answered or given up
        self._beats: dict[str, float] = {}  # incarnation -> when it last beat (monotonic)
        self._answers = 0  # answers put: requests the policy answered

    def beat(self, incarnation: str) -> None:
        """``incarnation`` is alive (a process beats every few seconds while it holds claims)."""
        with self._lock:
            self._beats[incarnation] = time.monotonic()

    def _stale(self, incarnation: str | None) -> bool:
        if self.stale_s is None or incarnation is None:
            return False
        return time.monotonic() - self._beats.get(incarnation, float("-inf")) > self.stale_s

    def claim(
        self, owner: str, keys: Sequence[str], incarnation: str | None = None
    ) -> tuple[dict[str, list[str]], list[str]]:
        """The answers known for ``keys``, and the keys now claimed for ``owner`` (in ``keys``' order);
        any other key is held by another owner: :meth:`wait` for it, then claim it again."""
        hits: dict[str, list[str]] = {}
        mine: list[str] = []
        with self._lock:
            if incarnation is not None:  # a process that claims is alive: a beat of its own
                self._beats[incarnation] = time.monotonic()
            for key in dict.fromkeys(keys):
                hit = self.cache.get(key)
                if hit is not None:
                    hits[key] = hit
                    continue
                holder = self._owner.get(key)
                if holder is None or holder[0] == owner or self._stale(holder[1]):
                    self._owner[key] = (owner, incarnation)
                    self._done.setdefault(key, threading.Event())
                    mine.append(key)
        return hits, mine

    def put(self, key: str, texts: list[str]) -> list[str]:
        """Store an answer; returns the answer that stands (the first one stored for ``key``). The claim
        ends either way: a write that fails wakes the waiters, who claim the key again."""
        with self._lock:
            self._answers += 1
            try:
                stored = self.cache.get(key)
                if stored is None:
                    self.cache.put(key, texts)
                    stored = texts
            finally:
                self._owner.pop(key, None)
                done = self._done.pop(key, None)
                if done is not None:
                    done.set()
        return list(stored)

    def release(self, owner: str, keys: Sequence[str]) -> None:
        """Give up ``owner``'s claims on ``keys`` (an error, an early exit): whoever waits for them is
        woken and claims them again."""
        with self._lock:
            for key in keys:
                holder = self._owner.get(key)
                if holder is not None and holder[0] == owner:
                    del self._owner[key]
                    self._done.pop(key).set()

    def wait(self, keys: Sequence[str], timeout: float | None = None) -> dict[str, list[str] | None]:
        """The answers of ``keys`` once their holders have answered or given them up, or ``timeout``
        seconds have passed (None: no answer yet; claim it again)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            events = [self._done[k] for k in keys if k in self._done]
        for done in events:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not done.wait(left):
                break
        with self._lock:
            return {k: self.cache.get(k) for k in keys}

    def answers(self) -> int:
        """Answers stored so far (requests the policy answered, a taken-over claim's twice)."""
        with self._lock:
            return self._answers

    def sync(self) -> None:
        self.cache.sync()

    def close(self) -> None:
        self.cache.close()


class Store(Protocol):
    """What :class:`CachedGenerator` needs of a store: :class:`RolloutStore`, or a proxy to one that
    another process holds."""

    def claim(
        self, owner: str, keys: Sequence[str], incarnation: str | None = None
    ) -> tuple[dict[str, list[str]], list[str]]: ...

    def put(self, key: str, texts: list[str]) -> list[str]: ...

    def release(self, owner: str, keys: Sequence[str]) -> None: ...

    def wait(self, keys: Sequence[str], timeout: float | None = None) -> dict[str, list[str] | None]: ...

    def sync(self) -> None: ...

    def close(self) -> None: ...


class CachedGenerator:
    """A backend behind a de-duplicating, optionally persistent store. Counts what it sent and reused.

    Several streams may run at once (from several threads, or several processes sharing one store): a
    request that one of them has in flight is not sent again by another, which waits for its answer
    instead (for ``wait_s`` seconds at a time, then claims it again: a claim given up or gone stale is
    taken over and sent). Each stream is its own owner of what it claims, unless the calling thread set
    ``owner`` (a Ray actor's thread sets it to the chunk it runs, so a retried chunk takes its claims
    back); ``incarnation`` names this process to a store that expires the claims of dead ones.
    """

    def __init__(self, inner: Generator, cache_path: Path | None = None, store: Store | None = None) -> None:
        if store is not None and cache_path is not None:
            raise ValueError("give a cache file or a store, not both")
        self.inner = inner
        self.model = inner.model
        self.cache: Store = store if store is not None else RolloutStore(cache_path)
        self.incarnation: str | None = None
        self.wait_s: float | None = None  # None: wait until the holder answers or gives up
        self.sent = 0  # requests the backend answered for this generator
        self.reused = 0  # requests answered from the store or by an identical request in flight
        self._lock = threading.Lock()
        self._local = threading.local()  # the owner set by the calling thread

    @property
    def owner(self) -> str | None:
        """Who the calling thread's streams claim keys for (None: each stream is its own owner)."""
        return getattr(self._local, "owner", None)

    @owner.setter
    def owner(self, value: str | None) -> None:
        self._local.owner = value

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, list[str]]]:
        owner = self.owner or uuid.uuid4().hex
        want: dict[str, list[int]] = {}  # key -> the requests that want it, until answered
        first: dict[str, Request] = {}
        for i, req in enumerate(requests):
            key = req.key(self.model)
            want.setdefault(key, []).append(i)
            first.setdefault(key, req)
        sent_here = 0
        try:
            while want:
                hits, claimed = self.cache.claim(owner, list(want), self.incarnation)
                for key, texts in hits.items():
                    for i in want.pop(key):
                        yield i, list(texts)
                if claimed:
                    todo = [first[k] for k in claimed]
                    try:
                        for j, texts in self.inner.stream(todo):
                            if len(texts) != todo[j].params.n:
                                raise GenerationError(
                                    f"the backend returned {len(texts)} samples, asked for {todo[j].params.n}"
                                )
                            texts = self.cache.put(claimed[j], texts)
                            sent_here += 1
                            with self._lock:
                                self.sent += 1
                            for i in want.pop(claimed[j]):
                                yield i, list(texts)
                    finally:  # keys this stream took but did not answer (an error, an early exit)
                        self.cache.release(owner, [k for k in claimed if k in want])
                if want:  # held by other owners: wait for their answers, then claim what is left
                    for key, answer in self.cache.wait(list(want), self.wait_s).items():
                        if answer is not None:
                            for i in want.pop(key):
                                yield i, list(answer)
        finally:
            with self._lock:
                self.reused += len(requests) - sent_here

    def close(self) -> None:
        self.cache.close()
        self.inner.close()
