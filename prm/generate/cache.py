"""``CachedGenerator``: no request is sent twice, in one run or across a resumed one.

Identical requests in flight together are sent once and their samples given to each. With a cache
file, every answered request is appended to it (one JSON line: key and texts) as soon as it arrives;
a later run with the same file answers those from it. A line cut short by a killed process is
dropped (and cut off the file) on open, so the file stays a list of whole lines.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from prm.generate.base import GenerationError, Generator, Request


class RolloutCache:
    """An append-only JSONL map from request key to samples."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._data: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._file = None
        if path is not None:
            self._load(path)
            self._file = path.open("a", encoding="utf-8")

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
        with self._lock:
            self._data[key] = texts
            if self._file is not None:
                self._file.write(json.dumps({"key": key, "texts": texts}, ensure_ascii=False) + "\n")
                self._file.flush()  # a killed process loses nothing the OS has; sync() makes it durable

    def sync(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class CachedGenerator:
    """A backend behind a de-duplicating, optionally persistent cache. Counts what it sent and reused.

    Several streams may run at once (from several threads): a request that one of them has in flight
    is not sent again by another, which waits for its answer instead.
    """

    def __init__(self, inner: Generator, cache_path: Path | None = None) -> None:
        self.inner = inner
        self.model = inner.model
        self.cache = RolloutCache(cache_path)
        self.sent = 0  # requests the backend answered in this process
        self.reused = 0  # requests answered from the cache or by an identical request in flight
        self._lock = threading.Lock()
        self._in_flight: dict[str, threading.Event] = {}  # key -> set once its answer is in the cache

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, list[str]]]:
        keys = [r.key(self.model) for r in requests]
        hits: list[tuple[int, list[str]]] = []
        waiting: dict[str, list[int]] = {}  # keys this stream sends -> the requests that want them
        elsewhere: dict[str, tuple[threading.Event, list[int]]] = {}  # keys another stream is sending
        todo: list[Request] = []
        with self._lock:
            for i, (req, key) in enumerate(zip(requests, keys, strict=True)):
                hit = self.cache.get(key)
                if hit is not None:
                    hits.append((i, list(hit)))
                elif key in waiting:
                    waiting[key].append(i)
                elif key in self._in_flight:
                    elsewhere.setdefault(key, (self._in_flight[key], []))[1].append(i)
                else:
                    waiting[key] = [i]
                    todo.append(req)
                    self._in_flight[key] = threading.Event()
            self.reused += len(requests) - len(todo)
        todo_keys = list(waiting)  # in the order of todo
        try:
            yield from hits
            for j, texts in self.inner.stream(todo):
                key = todo_keys[j]
                if len(texts) != todo[j].params.n:
                    raise GenerationError(
                        f"the backend returned {len(texts)} samples, asked for {todo[j].params.n}"
                    )
                self.cache.put(key, texts)
                with self._lock:
                    self.sent += 1
                    self._in_flight.pop(key).set()
                for i in waiting[key]:
                    yield i, list(texts)
        finally:  # keys this stream took but did not answer (an error, an early exit): free them
            with self._lock:
                for key in todo_keys:
                    if self.cache.get(key) is None and key in self._in_flight:
                        self._in_flight.pop(key).set()
        for key, (done, indices) in elsewhere.items():
            done.wait()
            answer = self.cache.get(key)
            if answer is None:
                raise GenerationError("a request shared with another chunk failed there")
            for i in indices:
                yield i, list(answer)

    def close(self) -> None:
        self.cache.close()
        self.inner.close()
