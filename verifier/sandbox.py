"""Hard time and memory limits for SymPy work: a persistent pool of worker processes.

Why processes: SymPy can run for minutes or eat all memory on a hostile input (``9^{9^{9^9}}``,
``1000000!``), and a thread cannot be stopped. ``signal.alarm`` only works in the main thread, where
gRPC handlers, asyncio executors and trainers' reward threads do not run. So the work runs in a worker
process; the caller waits on a pipe with a timeout, and a worker that overruns is killed (SIGKILL) and
replaced. Other tasks and the caller's process carry on.

How it is built:

- one pool per ``memory_mb`` per process (a forked or Ray child builds its own: pools are keyed by
  ``os.getpid()``), created lazily, ``os.cpu_count()`` workers by default, shut down at exit;
- each worker sets ``RLIMIT_AS`` to ``memory_mb`` MiB, so an allocation past it is a ``MemoryError``
  inside the worker (reported as :class:`SandboxCrash`), never the OOM killer in the caller;
- workers start from the ``forkserver`` with SymPy, the LaTeX parser and the verifier preloaded: a
  replacement is ready in milliseconds, and nothing is ever forked from the (threaded) caller;
- each worker is driven by one slot thread in the caller, which sends it chunks of tasks and waits
  for each result with the task's own time limit, so chunking saves pipe round trips without
  stretching any one task's limit.

Exceptions::

    Exception
     ├── SandboxTimeout   the task overran its wall-clock limit; its worker was killed and replaced
     └── SandboxCrash     the worker raised (``exc_type`` and the message say what), hit its memory
                          limit (``MemoryError``), or died (a signal such as SIGSEGV, or an exit)
"""

from __future__ import annotations

import atexit
import contextlib
import io
import math
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import multiprocessing.popen_forkserver
import multiprocessing.process
import multiprocessing.reduction
import multiprocessing.spawn
import multiprocessing.util
import os
import queue
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any, TypeVar

__all__ = [
    "SandboxCrash",
    "SandboxTimeout",
    "in_sandbox_worker",
    "map_limited",
    "pool_stats",
    "run_limited",
    "shutdown_pools",
    "submit_limited",
    "warm_up",
]

T = TypeVar("T")

# modules the forkserver imports once, so every worker starts with them loaded (verifier.symbolic
# too: its import would otherwise count against the first task's time limit in each new worker)
_PRELOAD = ["verifier.sandbox", "sympy", "latex2sympy2_extended", "verifier", "verifier.symbolic"]
# a worker that dies this many times in a row without finishing a task is not restarted again
_MAX_STARTS_IN_A_ROW = 3
# errors after which a worker's state is not trusted: it is replaced
_POISONING_ERRORS = frozenset({"MemoryError", "RecursionError"})
# how much of an exception message to carry back to the caller
_MAX_MESSAGE_CHARS = 2000


class SandboxTimeout(Exception):
    """A task overran its wall-clock limit; its worker was killed and replaced."""


class SandboxCrash(Exception):
    """A task did not return a value: the worker raised, hit its memory limit, or died.

    ``exc_type`` names the exception raised inside the worker (``"MemoryError"``, ``"ValueError"``...)
    or is ``None`` when the worker died; ``worker_traceback`` holds the worker's formatted traceback.
    """

    def __init__(self, message: str, *, exc_type: str | None = None, worker_traceback: str = "") -> None:
        super().__init__(message)
        self.exc_type = exc_type
        self.worker_traceback = worker_traceback


# ----------------------------------------------------------------------------------------------
# inside a worker

_in_worker = False  # set once, in the worker process only, by _worker_main


def in_sandbox_worker() -> bool:
    """True inside a sandbox worker process (where limited work runs directly, not nested)."""
    return _in_worker


def _exit_with_parent(sentinel: int) -> None:
    """Block until the caller's process is gone, then end this worker, busy or not."""
    multiprocessing.connection.wait([sentinel])
    os._exit(0)


def _worker_main(conn: multiprocessing.connection.Connection, memory_mb: int) -> None:
    """Run chunks of tasks sent by one slot thread until the pipe closes."""
    global _in_worker
    _in_worker = True
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), daemon=True).start()
    # Ctrl-C in a terminal goes to the whole process group; the caller decides what stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_mb > 0:
        import resource

        limit = memory_mb * 1024 * 1024
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the caller went away
        except BaseException as exc:  # the chunk itself could not be unpickled (an unimportable fn...)
            conn.send(("fatal", type(exc).__name__, _short(exc), traceback.format_exc()))
            continue
        if message is None:
            return
        fn, argsets = message
        for args in argsets:
            try:
                reply: tuple[Any, ...] = ("ok", fn(*args))
            except BaseException as exc:  # every failure goes back to the caller, with its type
                reply = ("err", type(exc).__name__, _short(exc), traceback.format_exc())
            try:
                conn.send(reply)
            except BaseException as exc:  # an unpicklable or too large result
                conn.send(("err", type(exc).__name__, f"result could not be sent back: {_short(exc)}", ""))


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[:_MAX_MESSAGE_CHARS] + "..."


# ----------------------------------------------------------------------------------------------
# in the caller


@dataclass
class _Task:
    fn: Callable[..., Any]
    argsets: list[tuple[Any, ...]]
    futures: list[Future[Any]]
    timeout_s: float
    on_done: Callable[[], None] | None = None  # called by the slot thread once every future is settled


class _Popen(multiprocessing.popen_forkserver.Popen):
    """multiprocessing's forkserver launch, minus re-running the caller's ``__main__`` in the worker.

    A worker only needs the modules its tasks live in; importing the caller's main script again
    (a server, a training script, a benchmark without a ``__main__`` guard) is slow at best.
    """

    def _launch(self, process_obj: Any) -> None:
        prep_data = multiprocessing.spawn.get_preparation_data(process_obj._name)
        prep_data.pop("init_main_from_name", None)
        prep_data.pop("init_main_from_path", None)
        buf = io.BytesIO()
        multiprocessing.context.set_spawning_popen(self)
        try:
            multiprocessing.reduction.dump(prep_data, buf)
            multiprocessing.reduction.dump(process_obj, buf)
        finally:
            multiprocessing.context.set_spawning_popen(None)
        self.sentinel, w = multiprocessing.forkserver.connect_to_new_process(self._fds)  # type: ignore[attr-defined]
        parent_w = os.dup(w)  # kept open: the worker watches it to see the caller die
        self.finalizer = multiprocessing.util.Finalize(
            self,
            multiprocessing.util.close_fds,  # type: ignore[attr-defined]
            (parent_w, self.sentinel),
        )
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = multiprocessing.forkserver.read_signed(self.sentinel)


class _Process(multiprocessing.process.BaseProcess):
    _start_method = "forkserver"

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        return _Popen(process_obj)

    def start(self) -> None:
        """``BaseProcess.start`` without its refusal inside daemonic processes, and unregistered.

        Callers often are daemonic (``multiprocessing.Pool`` and DataLoader workers). The rule exists
        so that children cannot outlive a daemon as orphans; a sandbox worker exits as soon as its
        caller dies (``_exit_with_parent``), so it cannot. The worker is not added to
        multiprocessing's list of children: that list is polled by every ``Process.start`` in the
        process, from any thread, and two polls of one exit status race (one of them reads 255).
        Our slot thread is the only one that polls it; the forkserver reaps it.
        """
        self._check_closed()  # type: ignore[attr-defined]
        assert self._popen is None, "cannot start a process twice"  # type: ignore[has-type]
        assert self._parent_pid == os.getpid(), "start a process object in its creator"  # type: ignore[attr-defined]
        popen = self._Popen(self)
        self._popen = popen
        self._sentinel = popen.sentinel
        del self._target, self._args, self._kwargs  # type: ignore[attr-defined]


class _Worker:
    """One worker process and the caller's end of its pipe."""

    def __init__(self, memory_mb: int) -> None:
        parent_conn, child_conn = multiprocessing.Pipe(duplex=True)
        self.process = _Process(
            target=_worker_main, args=(child_conn, memory_mb), daemon=True, name="verifier-sandbox"
        )
        with _START_LOCK:  # one launch at a time
            self.process.start()
        child_conn.close()
        self.conn = parent_conn

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.join(timeout=5.0)
        self.conn.close()

    def stop(self) -> None:
        """Ask the worker to exit; kill it if it does not."""
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=1.0)
        self.kill()

    def death_note(self) -> str:
        self.process.join(timeout=1.0)
        code = self.process.exitcode
        if code is None:
            return "the worker closed its pipe"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the worker died from {name}"
        return f"the worker exited with code {code}"


class _Slot:
    """A slot thread that owns one worker process and runs tasks from the pool's queue on it."""

    def __init__(self, pool: _Pool, index: int) -> None:
        self.pool = pool
        self.worker: _Worker | None = None
        self.busy = False  # running a task (read by shutdown, to kill rather than wait)
        self._unsettled = 0  # futures of the running task not yet set
        self._released = True  # the pool was told this slot is free again
        self.thread = threading.Thread(
            target=self._loop, name=f"verifier-sandbox-{pool.memory_mb}mb-{index}", daemon=True
        )
        self.thread.start()

    def _start_worker(self) -> _Worker:
        self.worker = _Worker(self.pool.memory_mb)
        self.pool.count("started")
        return self.worker

    def _drop_worker(self) -> None:
        if self.worker is not None:
            self.worker.kill()
            self.worker = None

    def _replace_worker(self) -> None:
        """Kill the worker and start its replacement now, so the next task does not wait for it."""
        self._drop_worker()
        if not self.pool.closed:
            with contextlib.suppress(Exception):  # a failed start is retried when a task comes
                self._start_worker()

    def _loop(self) -> None:
        with contextlib.suppress(Exception):  # a failed pre-start is retried when a task comes
            self._start_worker()
        while True:
            task = self.pool.tasks.get()
            if task is None:
                break
            self.busy = True
            self._released = False
            self._unsettled = 0
            try:
                self._execute(task)
            except BaseException as exc:  # a bug here must not leave a caller waiting forever
                for fut in task.futures:
                    if not fut.done():
                        fut.set_exception(SandboxCrash(f"sandbox slot failed: {type(exc).__name__}: {exc}"))
                self._drop_worker()
            finally:
                self.busy = False
                self._release()
                if task.on_done is not None:
                    task.on_done()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def _settle(self, fut: Future[Any], *, value: Any = None, error: BaseException | None = None) -> None:
        """Set one future of the running task; before the last one, tell the pool this slot is free.

        (Freeing the slot first matters: a caller that waits for its result and submits its next
        task at once must find this slot free, or the pool would grow for a sequential caller.)
        """
        self._unsettled -= 1
        if self._unsettled == 0:
            self._release()
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(value)

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self.pool.finished()

    def _execute(self, task: _Task) -> None:
        pending = [
            (fut, args)
            for fut, args in zip(task.futures, task.argsets, strict=True)
            if fut.set_running_or_notify_cancel()
        ]
        self._unsettled = len(pending)
        if not pending:
            self._release()
        starts_in_a_row = 0
        while pending:
            try:
                payload = bytes(ForkingPickler.dumps((task.fn, [args for _, args in pending])))
            except Exception as exc:  # something cannot cross a process boundary: find what
                pending = self._drop_unpicklable(task.fn, pending, exc)
                if not pending:
                    return
                continue
            worker = self.worker
            if worker is None or not worker.process.is_alive():
                if worker is not None:
                    self._drop_worker()
                if starts_in_a_row >= _MAX_STARTS_IN_A_ROW:
                    crash = SandboxCrash(
                        f"the sandbox worker died {starts_in_a_row} times in a row before finishing a task "
                        f"(is memory_mb={self.pool.memory_mb} too small?)"
                    )
                    for fut, _ in pending:
                        self._settle(fut, error=crash)
                    return
                starts_in_a_row += 1
                worker = self._start_worker()
            try:
                worker.conn.send_bytes(payload)
            except OSError:
                self._drop_worker()
                continue
            finished = self._collect(worker, pending, task.timeout_s)
            if finished:
                starts_in_a_row = 0
            pending = pending[finished:]

    def _drop_unpicklable(
        self, fn: Callable[..., Any], pending: list[tuple[Future[Any], tuple[Any, ...]]], error: Exception
    ) -> list[tuple[Future[Any], tuple[Any, ...]]]:
        """Fail the items whose arguments (or the function) cannot be pickled; keep the others."""
        try:
            ForkingPickler.dumps(fn)
        except Exception:
            for fut, _ in pending:
                self._settle(fut, error=error)
            return []
        keep = []
        for fut, args in pending:
            try:
                ForkingPickler.dumps(args)
            except Exception as exc:
                self._settle(fut, error=exc)
            else:
                keep.append((fut, args))
        if len(keep) == len(pending):  # pickles one by one but not together: give up on the chunk
            for fut, _ in pending:
                self._settle(fut, error=error)
            return []
        return keep

    def _collect(
        self, worker: _Worker, pending: list[tuple[Future[Any], tuple[Any, ...]]], timeout_s: float
    ) -> int:
        """Wait for each result of the chunk in turn; return how many futures were settled.

        On an overrun or a death the worker is replaced and the rest of the chunk is left pending
        (to be sent again to the new worker).
        """
        for done, (fut, _) in enumerate(pending):
            if not worker.conn.poll(None if math.isinf(timeout_s) else timeout_s):
                self._settle(
                    fut,
                    error=SandboxTimeout(
                        f"the task overran its {timeout_s:g} s limit; the worker was killed"
                    ),
                )
                self.pool.count("timeouts")
                self._replace_worker()
                return done + 1
            try:
                reply = worker.conn.recv()
            except (EOFError, OSError):
                note = worker.death_note()
                self.pool.count("deaths")
                self._settle(fut, error=SandboxCrash(f"{note} while running the task"))
                self._replace_worker()
                return done + 1
            kind = reply[0]
            if kind == "ok":
                self._settle(fut, value=reply[1])
                continue
            _kind, exc_type, message, worker_tb = reply
            if exc_type == "MemoryError":
                text = f"the task hit the {self.pool.memory_mb} MiB memory limit (MemoryError)"
            else:
                text = f"the task raised {exc_type}: {message}"
            if kind == "fatal":
                crash = SandboxCrash(
                    f"the worker could not load the task: {exc_type}: {message}",
                    exc_type=exc_type,
                    worker_traceback=worker_tb,
                )
                for other, _ in pending[done:]:
                    self._settle(other, error=crash)
                return len(pending)
            self._settle(fut, error=SandboxCrash(text, exc_type=exc_type, worker_traceback=worker_tb))
            if exc_type in _POISONING_ERRORS:
                self._replace_worker()
                return done + 1
        return len(pending)


class _Pool:
    """Slots sharing one task queue; all workers have the same memory limit.

    The pool starts with one worker and adds one whenever a task arrives while every worker has
    one, up to ``max_size``: a caller that verifies one pair at a time (or a process among many in
    a ``multiprocessing.Pool``) keeps one worker, concurrent callers and batches get all cores.
    """

    def __init__(self, memory_mb: int, max_size: int) -> None:
        self.memory_mb = memory_mb
        self.max_size = max_size
        _prepare_forkserver()
        self.tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self.slots: list[_Slot] = []
        self.closed = False
        self.lock = threading.Lock()
        self.outstanding = 0  # tasks submitted and not finished
        self.stats = {"started": 0, "timeouts": 0, "deaths": 0}  # counts since the pool was made
        self.ensure(1)

    @property
    def size(self) -> int:
        return len(self.slots)

    def ensure(self, size: int) -> None:
        """At least ``size`` workers (raising ``max_size`` if needed)."""
        with self.lock:
            self.max_size = max(self.max_size, size)
            while len(self.slots) < size:
                self.slots.append(_Slot(self, len(self.slots)))

    def submit(self, task: _Task) -> None:
        with self.lock:
            self.outstanding += 1
            if self.outstanding > len(self.slots) and len(self.slots) < self.max_size and not self.closed:
                self.slots.append(_Slot(self, len(self.slots)))
        self.tasks.put(task)

    def finished(self) -> None:
        with self.lock:
            self.outstanding -= 1

    def count(self, what: str) -> None:
        with self.lock:
            self.stats[what] += 1

    def worker_pids(self) -> list[int]:
        return [s.worker.pid for s in self.slots if s.worker is not None and s.worker.pid is not None]

    def shutdown(self) -> None:
        self.closed = True
        for _ in self.slots:
            self.tasks.put(None)
        for slot in self.slots:  # a running task is cut short (its caller gets SandboxCrash), not awaited
            worker = slot.worker
            if slot.busy and worker is not None:
                with contextlib.suppress(OSError):
                    worker.process.kill()
        for slot in self.slots:
            slot.thread.join(timeout=10.0)
        # anything still queued (submitted while shutting down) gets an answer
        while True:
            try:
                task = self.tasks.get_nowait()
            except queue.Empty:
                break
            if task is None:
                continue
            for fut in task.futures:
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(SandboxCrash("the sandbox pool was shut down"))
            if task.on_done is not None:
                task.on_done()


_START_LOCK = threading.Lock()
_POOLS_LOCK = threading.Lock()
_pools: dict[int, _Pool] = {}  # memory_mb -> pool, for the process _pools_pid
_pools_pid: int | None = None


def _prepare_forkserver() -> None:
    """Preload the heavy modules in the forkserver, if this process has not started one yet."""
    server: Any = multiprocessing.forkserver._forkserver
    if server._forkserver_pid is None:
        server.set_forkserver_preload(_PRELOAD)


def _forget_inherited_forkserver() -> None:
    """In an os.fork() child, the parent's forkserver is not our child: start our own.

    (multiprocessing's ensure_running() would fail with ChildProcessError on waitpid.)
    """
    server: Any = multiprocessing.forkserver._forkserver
    pid = server._forkserver_pid
    if pid is None:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        server._forkserver_pid = None
        server._forkserver_address = None
        server._forkserver_alive_fd = None
        server._lock = threading.Lock()


def _default_size() -> int:
    return max(1, os.cpu_count() or 1)


def _get_pool(memory_mb: int, min_size: int = 0) -> _Pool:
    global _pools, _pools_pid
    pid = os.getpid()
    with _POOLS_LOCK:
        if _pools_pid != pid:
            # a fresh process, or a fork of one that had pools: the parent's workers are not ours
            _pools = {}
            _pools_pid = pid
            _forget_inherited_forkserver()
        pool = _pools.get(memory_mb)
        if pool is None:
            pool = _Pool(memory_mb, _default_size())
            _pools[memory_mb] = pool
    if min_size:
        pool.ensure(min_size)
    return pool


def _check_limits(timeout_s: float, memory_mb: int) -> None:
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
    if memory_mb < 0:
        raise ValueError(f"memory_mb must be >= 0 (0 means no limit), got {memory_mb!r}")


def submit_limited(fn: Callable[..., T], *args: Any, timeout_s: float, memory_mb: int) -> Future[T]:
    """Run ``fn(*args)`` in a sandbox worker; the future raises SandboxTimeout or SandboxCrash.

    ``fn`` must be a module-level function (it is pickled by reference). The limit counts from when a
    worker starts the task, not from submission. Inside a sandbox worker, ``fn`` runs here, directly.
    """
    _check_limits(timeout_s, memory_mb)
    if _in_worker:
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:
            done.set_exception(exc)
        return done
    fut: Future[T] = Future()
    _get_pool(memory_mb).submit(_Task(fn, [args], [fut], timeout_s))
    return fut


def run_limited(fn: Callable[..., T], *args: Any, timeout_s: float, memory_mb: int) -> T:
    """Run ``fn(*args)`` in a sandbox worker and return its value.

    Raises :class:`SandboxTimeout` past ``timeout_s`` seconds of run time, :class:`SandboxCrash` when
    the worker raised, hit ``memory_mb`` MiB of address space, or died. Safe from any thread.
    Inside a sandbox worker, ``fn`` runs directly (its own exceptions propagate unchanged).
    """
    if _in_worker:
        _check_limits(timeout_s, memory_mb)
        return fn(*args)
    return submit_limited(fn, *args, timeout_s=timeout_s, memory_mb=memory_mb).result()


def map_limited(
    fn: Callable[..., T],
    argsets: Sequence[tuple[Any, ...]],
    *,
    timeout_s: float,
    memory_mb: int,
    workers: int | None = None,
    chunksize: int | None = None,
) -> list[T | BaseException]:
    """Run ``fn(*args)`` for every args tuple, each under its own ``timeout_s``; input order.

    Returns, per item, the value or the exception (SandboxTimeout, SandboxCrash...): one bad item
    never costs the others. At most ``workers`` workers (default: the pool size, all cores) serve
    this call at once; items travel in chunks of ``chunksize`` to save pipe round trips.
    """
    _check_limits(timeout_s, memory_mb)
    items = list(argsets)
    if not items:
        return []
    if _in_worker:
        out: list[T | BaseException] = []
        for args in items:
            try:
                out.append(fn(*args))
            except Exception as exc:
                out.append(exc)
        return out
    pool = _get_pool(memory_mb)
    lanes = max(1, min(workers or pool.max_size, len(items)))
    pool.ensure(lanes)
    if chunksize is None:
        # about 4 chunks per lane keeps the lanes balanced when some items are slow
        chunksize = max(1, min(32, len(items) // (lanes * 4) or 1))
    futures: list[Future[T]] = [Future() for _ in items]
    chunks = [range(i, min(i + chunksize, len(items))) for i in range(0, len(items), chunksize)]
    in_flight = threading.Semaphore(lanes)  # at most `lanes` chunks queued or running at once
    for chunk in chunks:
        in_flight.acquire()
        task = _Task(fn, [items[i] for i in chunk], [futures[i] for i in chunk], timeout_s, in_flight.release)
        pool.submit(task)
    results: list[T | BaseException] = []
    for f in futures:
        error = f.exception()
        results.append(error if error is not None else f.result())
    return results


def worker_pids(memory_mb: int) -> list[int]:
    """The pids of the live workers of this process's pool for ``memory_mb`` (for tests and metrics)."""
    with _POOLS_LOCK:
        pool = _pools.get(memory_mb) if _pools_pid == os.getpid() else None
    return pool.worker_pids() if pool is not None else []


def _ready() -> bool:
    return True


def warm_up(memory_mb: int, timeout_s: float = 60.0) -> None:
    """Start this process's pool for ``memory_mb`` and wait for its first worker (a server calls this
    at start-up, so that its first request does not wait for the forkserver and the imports)."""
    run_limited(_ready, timeout_s=timeout_s, memory_mb=memory_mb)


def pool_stats(memory_mb: int) -> dict[str, int]:
    """This process's pool for ``memory_mb``: workers now and at most, tasks outstanding, and the
    workers started, killed for overrunning, and found dead since it was made (for metrics)."""
    with _POOLS_LOCK:
        pool = _pools.get(memory_mb) if _pools_pid == os.getpid() else None
    if pool is None:
        return {}
    with pool.lock:
        return {
            "workers": pool.size,
            "max_workers": pool.max_size,
            "outstanding": pool.outstanding,
            **pool.stats,
        }


def shutdown_pools() -> None:
    """Stop every worker of this process's pools; the next call starts fresh pools. Idempotent."""
    global _pools
    with _POOLS_LOCK:
        if _pools_pid != os.getpid():
            return
        pools = list(_pools.values())
        _pools = {}
    for pool in pools:
        pool.shutdown()


atexit.register(shutdown_pools)
