"""Small module-level tasks for the sandbox tests (workers import them by name)."""

from __future__ import annotations

import ctypes
import os
import sys
import time


def add(a: int, b: int) -> int:
    return a + b


def pid() -> int:
    return os.getpid()


def sleep_then(seconds: float, value: object) -> object:
    time.sleep(seconds)
    return value


def spin_forever() -> None:
    while True:
        pass


def allocate_mb(mb: int) -> int:
    block = bytearray(mb * 1024 * 1024)
    return len(block)


def grow_list_forever() -> None:
    hog = []
    while True:
        hog.append(bytearray(1024 * 1024))


def recurse(n: int) -> int:
    return 0 if n == 0 else 1 + recurse(n - 1)


def deep_recursion() -> int:
    sys.setrecursionlimit(10**6)
    return recurse(10**9)


def segfault() -> None:
    ctypes.string_at(0)


def raise_value_error(message: str) -> None:
    raise ValueError(message)


def exit_hard(code: int) -> None:
    os._exit(code)


def in_worker() -> bool:
    from verifier.sandbox import in_sandbox_worker

    return in_sandbox_worker()


def nested_run_limited() -> int:
    from verifier.sandbox import run_limited

    return run_limited(add, 2, 3, timeout_s=1.0, memory_mb=512)


def unpicklable_result() -> object:
    return lambda: None


def add_in_sandbox(a: int, b: int) -> tuple[int, int, bool]:
    """Called in a multiprocessing.Pool worker (a daemonic process): uses the sandbox from there."""
    import multiprocessing

    from verifier.sandbox import run_limited

    value = run_limited(add, a, b, timeout_s=10.0, memory_mb=512)
    return value, os.getpid(), bool(multiprocessing.current_process().daemon)
