"""The sandbox pool with real worker processes: limits, crashes, replacement, concurrency, forks."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.verifier import sandbox_tasks as tasks
from verifier import sandbox
from verifier.sandbox import (
    SandboxCrash,
    SandboxTimeout,
    in_sandbox_worker,
    map_limited,
    run_limited,
    shutdown_pools,
    submit_limited,
)

MB = 768  # one pool for most tests
# how late a timeout may be reported on a loaded 2-core CI machine (the kill itself is immediate)
SLACK_S = 3.0
REPO = Path(__file__).resolve().parents[2]


def _wait_for(condition: Callable[[], bool], within_s: float = 30.0) -> bool:
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_runs_a_function_in_another_process() -> None:
    assert run_limited(tasks.add, 2, 3, timeout_s=5, memory_mb=MB) == 5
    assert run_limited(tasks.pid, timeout_s=5, memory_mb=MB) != os.getpid()
    assert run_limited(tasks.in_worker, timeout_s=5, memory_mb=MB) is True
    assert in_sandbox_worker() is False


def test_inside_a_worker_run_limited_runs_directly() -> None:
    assert run_limited(tasks.nested_run_limited, timeout_s=5, memory_mb=MB) == 5


def test_an_endless_loop_times_out_and_the_worker_is_replaced() -> None:
    run_limited(tasks.add, 0, 0, timeout_s=5, memory_mb=MB)
    size = sandbox.pool_stats(MB)["workers"]
    assert _wait_for(lambda: len(sandbox.worker_pids(MB)) == size)
    before = set(sandbox.worker_pids(MB))
    start = time.monotonic()
    with pytest.raises(SandboxTimeout, match=r"0\.5 s limit"):
        run_limited(tasks.spin_forever, timeout_s=0.5, memory_mb=MB)
    assert time.monotonic() - start < 0.5 + SLACK_S
    # the caller hears of the overrun first; the replacement starts right after
    assert _wait_for(lambda: set(sandbox.worker_pids(MB)) != before and len(sandbox.worker_pids(MB)) == size)
    after = set(sandbox.worker_pids(MB))
    assert len(after - before) == 1, "one new worker replaces the killed one"
    assert len(before - after) == 1, "the overrunning worker is gone"
    # the pool keeps working, on every worker
    assert map_limited(tasks.add, [(i, 1) for i in range(50)], timeout_s=5, memory_mb=MB) == [
        i + 1 for i in range(50)
    ]


def test_a_sleeping_task_times_out_promptly() -> None:
    start = time.monotonic()
    with pytest.raises(SandboxTimeout):
        run_limited(tasks.sleep_then, 60.0, "late", timeout_s=0.3, memory_mb=MB)
    assert time.monotonic() - start < 0.3 + SLACK_S
    assert run_limited(tasks.sleep_then, 0.0, "ok", timeout_s=5, memory_mb=MB) == "ok"


def test_a_growing_memory_bomb_is_stopped() -> None:
    with pytest.raises(SandboxCrash, match=f"{MB} MiB memory limit") as info:
        run_limited(tasks.grow_list_forever, timeout_s=30, memory_mb=MB)
    assert info.value.exc_type == "MemoryError"
    assert run_limited(tasks.allocate_mb, 64, timeout_s=5, memory_mb=MB) == 64 * 1024 * 1024


def test_one_huge_allocation_is_stopped() -> None:
    with pytest.raises(SandboxCrash, match="MemoryError"):
        run_limited(tasks.allocate_mb, 4 * MB, timeout_s=30, memory_mb=MB)
    assert run_limited(tasks.add, 1, 1, timeout_s=5, memory_mb=MB) == 2


def test_a_segfault_is_a_crash_and_the_caller_survives() -> None:
    with pytest.raises(SandboxCrash, match="SIGSEGV") as info:
        run_limited(tasks.segfault, timeout_s=5, memory_mb=MB)
    assert info.value.exc_type is None
    assert run_limited(tasks.add, 1, 1, timeout_s=5, memory_mb=MB) == 2


def test_too_deep_recursion_is_a_crash_and_the_worker_is_replaced() -> None:
    with pytest.raises(SandboxCrash, match="RecursionError") as info:
        run_limited(tasks.recurse, 100_000, timeout_s=10, memory_mb=MB)
    assert info.value.exc_type == "RecursionError"
    assert run_limited(tasks.recurse, 100, timeout_s=5, memory_mb=MB) == 100


def test_an_exception_keeps_its_type_message_and_traceback() -> None:
    with pytest.raises(SandboxCrash, match="raised ValueError: no such answer") as info:
        run_limited(tasks.raise_value_error, "no such answer", timeout_s=5, memory_mb=MB)
    assert info.value.exc_type == "ValueError"
    assert "raise_value_error" in info.value.worker_traceback


def test_a_worker_that_exits_is_a_crash() -> None:
    with pytest.raises(SandboxCrash, match="exited with code 3"):
        run_limited(tasks.exit_hard, 3, timeout_s=5, memory_mb=MB)
    assert run_limited(tasks.add, 1, 2, timeout_s=5, memory_mb=MB) == 3


def test_an_unpicklable_result_is_a_crash_that_says_so() -> None:
    with pytest.raises(SandboxCrash, match="could not be sent back"):
        run_limited(tasks.unpicklable_result, timeout_s=5, memory_mb=MB)


def test_an_unpicklable_argument_is_the_callers_error() -> None:
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        run_limited(tasks.add, lambda: 1, 2, timeout_s=5, memory_mb=MB)
    assert run_limited(tasks.add, 1, 2, timeout_s=5, memory_mb=MB) == 3


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        run_limited(tasks.add, 1, 2, timeout_s=0, memory_mb=MB)
    with pytest.raises(ValueError, match="memory_mb"):
        submit_limited(tasks.add, 1, 2, timeout_s=1, memory_mb=-1)


def test_eight_threads_at_once_with_an_overrun_among_them() -> None:
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def caller(k: int) -> None:
        try:
            results[k] = [run_limited(tasks.add, k, i, timeout_s=10, memory_mb=MB) for i in range(25)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    with pytest.raises(SandboxTimeout):
        run_limited(tasks.spin_forever, timeout_s=0.5, memory_mb=MB)
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert results == {k: [k + i for i in range(25)] for k in range(8)}


async def test_from_an_asyncio_loop() -> None:
    futures = [
        asyncio.wrap_future(submit_limited(tasks.add, i, i, timeout_s=10, memory_mb=MB)) for i in range(32)
    ]
    assert await asyncio.gather(*futures) == [2 * i for i in range(32)]
    assert await asyncio.to_thread(run_limited, tasks.add, 4, 5, timeout_s=10, memory_mb=MB) == 9
    with pytest.raises(SandboxTimeout):
        await asyncio.wrap_future(submit_limited(tasks.spin_forever, timeout_s=0.3, memory_mb=MB))


def test_map_keeps_order_and_each_items_own_limit_inside_a_chunk() -> None:
    argsets = [(0.0, i) for i in range(20)]
    argsets[5] = (60.0, 5)
    argsets[13] = (60.0, 13)
    start = time.monotonic()
    out = map_limited(tasks.sleep_then, argsets, timeout_s=0.5, memory_mb=MB, chunksize=10, workers=1)
    assert time.monotonic() - start < 2 * 0.5 + SLACK_S
    assert isinstance(out[5], SandboxTimeout)
    assert isinstance(out[13], SandboxTimeout)
    assert [v for i, v in enumerate(out) if i not in (5, 13)] == [i for i in range(20) if i not in (5, 13)]


def test_map_reports_each_failure_in_its_place() -> None:
    out = map_limited(tasks.raise_value_error, [("a",), ("b",)], timeout_s=5, memory_mb=MB)
    assert [type(e) for e in out] == [SandboxCrash, SandboxCrash]
    assert "a" in str(out[0]) and "b" in str(out[1])
    assert map_limited(tasks.add, [], timeout_s=5, memory_mb=MB) == []


def test_a_forked_child_gets_its_own_pool() -> None:
    parent_worker = run_limited(tasks.pid, timeout_s=5, memory_mb=MB)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports through the pipe and never returns into pytest
        try:
            worker = run_limited(tasks.pid, timeout_s=10, memory_mb=MB)
            os.write(write_end, f"{worker} {os.getpid()}".encode())
        except BaseException as exc:
            os.write(write_end, repr(exc).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        said = f.read().decode()
    os.waitpid(child, 0)
    worker_s, child_s = said.split()
    assert int(child_s) == child
    assert int(worker_s) not in (parent_worker, os.getpid(), child)
    assert run_limited(tasks.add, 1, 1, timeout_s=5, memory_mb=MB) == 2


def test_a_script_without_a_main_guard_can_use_it(tmp_path: Path) -> None:
    """Workers never re-run the caller's __main__ (as spawn/forkserver normally do)."""
    script = tmp_path / "no_guard.py"
    script.write_text(
        "from tests.verifier import sandbox_tasks as t\n"
        "from verifier.sandbox import run_limited\n"
        "print('RESULT', run_limited(t.add, 20, 22, timeout_s=10, memory_mb=512))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("RESULT") == 1
    assert "RESULT 42" in proc.stdout


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_shutdown_stops_every_worker_and_a_later_call_starts_afresh() -> None:
    run_limited(tasks.add, 1, 1, timeout_s=5, memory_mb=MB + 1)
    pids = sandbox.worker_pids(MB + 1)
    assert pids
    shutdown_pools()
    assert _wait_for(lambda: not any(_alive(p) for p in pids)), "workers (or zombies) left after shutdown"
    assert sandbox.worker_pids(MB + 1) == []
    assert run_limited(tasks.add, 2, 2, timeout_s=5, memory_mb=MB + 1) == 4
    shutdown_pools()


def test_shutdown_cuts_a_running_task_short() -> None:
    fut = submit_limited(tasks.sleep_then, 60.0, "never", timeout_s=120, memory_mb=MB + 2)
    assert _wait_for(lambda: fut.running())
    time.sleep(0.2)
    start = time.monotonic()
    shutdown_pools()
    assert time.monotonic() - start < 30
    with pytest.raises(SandboxCrash):
        fut.result(timeout=30)


def test_an_unpicklable_item_fails_alone_in_its_chunk() -> None:
    out = map_limited(tasks.add, [(1, 1), (lambda: 0, 1), (2, 2)], timeout_s=5, memory_mb=MB, chunksize=3)
    assert out[0] == 2 and out[2] == 4
    assert isinstance(out[1], (pickle.PicklingError, AttributeError, TypeError))


def test_an_infinite_limit_means_no_limit() -> None:
    assert run_limited(tasks.sleep_then, 0.1, "done", timeout_s=float("inf"), memory_mb=MB) == "done"


def test_usable_from_a_daemonic_pool_worker() -> None:
    """multiprocessing.Pool workers are daemonic; plain multiprocessing refuses children there."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        out = pool.starmap(tasks.add_in_sandbox, [(1, 2), (3, 4), (5, 6)])
    assert [v for v, _pid, _daemon in out] == [3, 7, 11]
    assert all(daemon for _v, _pid, daemon in out)


def test_workers_exit_when_their_caller_dies_mid_task(tmp_path: Path) -> None:
    script = tmp_path / "crashing_caller.py"
    script.write_text(
        "import os, time\n"
        "from tests.verifier import sandbox_tasks as t\n"
        "from verifier import sandbox\n"
        "fut = sandbox.submit_limited(t.spin_forever, timeout_s=600, memory_mb=512)\n"
        "while not (fut.running() and sandbox.worker_pids(512)):\n"
        "    time.sleep(0.05)\n"
        "time.sleep(0.5)\n"
        "print(' '.join(map(str, sandbox.worker_pids(512))), flush=True)\n"
        "os._exit(3)  # no atexit, no shutdown: as if the caller were killed\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=REPO
    )
    assert proc.returncode == 3, proc.stderr
    pids = [int(p) for p in proc.stdout.split()]
    assert pids
    assert _wait_for(lambda: not any(_alive(p) for p in pids)), "a worker outlived its caller"


def test_the_pool_grows_only_when_every_worker_is_busy() -> None:
    mb = MB + 3  # a pool of its own
    for i in range(30):  # one caller, one task at a time: one worker does it all
        assert run_limited(tasks.add, i, 1, timeout_s=5, memory_mb=mb) == i + 1
    stats = sandbox.pool_stats(mb)
    assert stats["workers"] == 1 and stats["outstanding"] == 0
    assert stats["max_workers"] == (os.cpu_count() or 1)
    # four tasks at once: workers are added up to the limit
    futures = [submit_limited(tasks.sleep_then, 0.5, i, timeout_s=10, memory_mb=mb) for i in range(4)]
    assert [f.result() for f in futures] == [0, 1, 2, 3]
    assert sandbox.pool_stats(mb)["workers"] == min(4, os.cpu_count() or 1)
    # a batch asking for more workers than cores gets them
    assert map_limited(tasks.add, [(i, 0) for i in range(6)], timeout_s=5, memory_mb=mb, workers=3) == list(
        range(6)
    )
    assert sandbox.pool_stats(mb)["workers"] >= 3
    with pytest.raises(SandboxTimeout):
        run_limited(tasks.spin_forever, timeout_s=0.2, memory_mb=mb)
    assert sandbox.pool_stats(mb)["timeouts"] == 1


def test_warm_up_starts_a_worker() -> None:
    sandbox.warm_up(MB + 4)
    assert len(sandbox.worker_pids(MB + 4)) == 1
    assert sandbox.pool_stats(MB + 4)["started"] == 1
