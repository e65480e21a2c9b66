"""``annotate`` and ``pts`` on Ray (``--engine ray``): chunks processed by a pool of actors, committed
here in order.

As in ``rescore --engine ray`` (:mod:`mathreward.rescore.ray_engine`), the driver plans the chunks and
Ray Data streams them into an actor pool (``map_batches``, results in input order). Each actor runs two
chunks at once (as the local engine pipelines them), reads each from the input with the local engine's
reader and runs the command's own chunk function on it,
with its own verifier (one sandbox process, or the ``--server``) and its own generator (a client of the
completions URL, or the transformers / vLLM policy loaded once per actor, on ``--ray-gpus`` GPUs). The
driver writes each part and checkpoint with the local engine's code, so the output, the rejects, the
summary and ``--resume`` are the local engine's (a run stopped on one engine resumes on the other).

The rollouts: one :class:`~prm.generate.RolloutStore` actor, placed on the driver's node, holds the run's
rollout cache file (``OUT.annotate-state/rollouts.jsonl``) and the claims of what is in flight. Every
actor's generator asks it before sending and stores each answer in it as the answer arrives, so no
request is sent by two actors, a chunk retried after its actor died re-sends only what had not come
back, and ``--resume`` asks the policy for nothing it answered before, as on the local engine.
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mathreward.rescore import io as rio
from mathreward.rescore.errors import RescoreError
from mathreward.rescore.ray_engine import (
    CHUNK_RETRIES,
    actor_error,
    actor_failure,
    actor_pool_size,
    chunk_items,
    connect,
    in_order,
    ordered_data_context,
    planned_chunks,
)

if TYPE_CHECKING:
    import numpy as np

MakeProcess = Callable[[Any], Callable[[Sequence[Any], Any, Callable[[], None]], Any]]


HEARTBEAT_S = 2.0  # how often an actor tells the store it is alive
STALE_S = 30.0  # an actor silent this long is dead: its claims go to whoever asks
WAIT_S = 5.0  # a stream waits this long on another owner's request, then claims it again


class StoreClient:
    """A :class:`~prm.generate.Store` in another process: each call goes to the store actor and waits."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def claim(
        self, owner: str, keys: Sequence[str], incarnation: str | None = None
    ) -> tuple[dict[str, list[str]], list[str]]:
        import ray

        hits, mine = ray.get(self.handle.claim.remote(owner, list(keys), incarnation))
        return hits, mine

    def put(self, key: str, texts: list[str]) -> list[str]:
        import ray

        return list(ray.get(self.handle.put.remote(key, texts)))

    def release(self, owner: str, keys: Sequence[str]) -> None:
        import ray

        ray.get(self.handle.release.remote(owner, list(keys)))

    def wait(self, keys: Sequence[str], timeout: float | None = None) -> dict[str, list[str] | None]:
        import ray

        return dict(ray.get(self.handle.wait.remote(list(keys), timeout)))

    def sync(self) -> None:
        import ray

        ray.get(self.handle.sync.remote())

    def close(self) -> None:
        """Nothing: the driver closes the store when the run ends."""


@dataclass(frozen=True)
class WorkerSpec:
    """What every actor needs to build its verifier, generator and chunk function (pickled to it)."""

    args: argparse.Namespace  # the command's options (``workers`` 1: the actor has one CPU)
    input: str  # the input's absolute path (the same on every node)
    fmt: rio.Format
    chunk_size: int
    actors: int  # the pool's size: the generators split --concurrency between them
    make_process: MakeProcess
    make_generator: Callable[..., Any]
    make_backend: Callable[[argparse.Namespace], Any]


class ChunkWorker:
    """A Ray Data actor: reads the chunks it is given and runs the command's chunk function on each."""

    def __init__(self, spec: WorkerSpec, store: Any) -> None:
        import uuid

        self.spec = spec
        # this process, to the store: it beats while alive, so its claims expire if it dies
        self.incarnation = uuid.uuid4().hex
        self._beating = threading.Thread(
            target=self._beat, args=(store,), name="store-heartbeat", daemon=True
        )
        self._beating.start()
        self.backend = spec.make_backend(spec.args)
        self.gen = spec.make_generator(spec.args, store=StoreClient(store), share=spec.actors)
        self.gen.incarnation, self.gen.wait_s = self.incarnation, WAIT_S
        self.process = spec.make_process(self.backend.verify_batch)

    def _beat(self, store: Any) -> None:
        import ray

        while True:
            try:
                ray.get(store.beat.remote(self.incarnation), timeout=STALE_S)
            except ray.exceptions.GetTimeoutError:  # a busy store: beat again
                continue
            except ray.exceptions.RayError:  # the store is gone: the run is ending
                return
            time.sleep(HEARTBEAT_S)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import numpy as np

        spec, gen, out = self.spec, self.gen, []
        chunks = planned_chunks(batch, spec.input, spec.fmt, spec.chunk_size, spec.args.limit)
        for row, chunk in zip(batch["row"], chunks, strict=True):
            gen.owner = f"chunk@{int(row)}"  # this thread's; a retry of the chunk takes back its claims
            res = self.process(chunk, gen, lambda: None)
            out.append(pickle.dumps((len(chunk), res)))
        return {"row": batch["row"], "done": np.array(out, dtype=object)}


@dataclass
class RayJob:
    """The chunk runner of ``annotate`` / ``pts`` with ``--engine ray`` (``run_job``'s ``run_chunks``)."""

    args: argparse.Namespace
    name: str
    make_process: MakeProcess
    make_generator: Callable[..., Any]  # annotate.open_job_generator
    make_backend: Callable[[argparse.Namespace], Any]  # annotate.make_verify_batch
    commit: Callable[..., dict[str, Any]]  # annotate.commit_chunk
    depth: int  # chunks each actor runs at once (annotate.PIPELINE_DEPTH, as the local engine does)
    progress: Callable[[int, int], Any] | None = None  # (total, rows done) -> a Progress
    stream: TextIO | None = None

    def gpus(self) -> float:
        """GPUs per actor: --ray-gpus, else 1 for a policy loaded in the actor, 0 for a URL."""
        from prm.generate import backend_of

        if self.args.ray_gpus is not None:
            return float(self.args.ray_gpus)
        return 0.0 if backend_of(self.args.generator) == "openai" else 1.0

    def run(self, state: Any, cp: dict[str, Any], in_fmt: rio.Format, total: int) -> dict[str, Any]:
        import ray
        import ray.data
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from prm.generate import GenerationError, RolloutCache, RolloutStore

        args = self.args
        starts = rio.chunk_starts(args.input, in_fmt, int(cp["chunk_size"]), cp["rows_done"], args.limit)
        if not starts:
            return cp
        gpus = self.gpus()
        cache = state.root.resolve() / "rollouts.jsonl"
        RolloutCache(cache).close()  # a damaged cache: the local engine's one-line error, before Ray starts
        try:
            started = connect(args.ray_address)
        except RescoreError as e:
            raise ValueError(str(e)) from e
        store: Any = None
        progress = self.progress(total, cp["rows_done"]) if self.progress is not None else None
        try:
            try:
                actors = actor_pool_size(
                    ray.cluster_resources(),
                    len(starts),
                    args.ray_actors,
                    gpus,
                    "generator actor",
                    "load the policy on the actors' CPUs with --ray-gpus 0, or serve it and pass its URL",
                )
            except RescoreError as e:
                raise ValueError(str(e)) from e
            each = "1 CPU" if not gpus else f"1 CPU and {gpus:g} GPU"
            if self.stream is not None:
                self.stream.write(
                    f"{self.name}: {len(starts)} chunks on Ray, {actors} actors ({each} each)\n"
                )
            here = ray.get_runtime_context().get_node_id()
            store_actor: Any = ray.remote(RolloutStore)
            store = store_actor.options(
                num_cpus=0,
                max_concurrency=max(64, 8 * actors),  # a thread per call; waits hold theirs
                scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False),
            ).remote(cache, stale_s=STALE_S)
            answered = ray.get(store.answers.remote())  # 0; and the store is up before any actor
            device = "cpu" if args.device == "auto" and not gpus else args.device
            spec = WorkerSpec(
                args=argparse.Namespace(**{**vars(args), "workers": 1, "device": device}),
                input=str(Path(args.input).resolve()),
                fmt=in_fmt,
                chunk_size=int(cp["chunk_size"]),
                actors=actors,
                make_process=self.make_process,
                make_generator=self.make_generator,
                make_backend=self.make_backend,
            )
            items = chunk_items(starts)
            t0, base_s = time.perf_counter(), float(cp["wall_s"])
            with ordered_data_context():
                done = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                    ChunkWorker,
                    batch_size=1,
                    # two chunks at once per actor, as the local engine pipelines them: the next
                    # chunk's requests go out while this one waits for its slowest
                    compute=ray.data.ActorPoolStrategy(
                        size=actors,
                        max_concurrent_calls_per_actor=self.depth,
                        enable_true_multi_threading=True,
                    ),
                    num_cpus=1,
                    num_gpus=gpus,
                    max_task_retries=CHUNK_RETRIES,
                    fn_constructor_kwargs={"spec": spec, "store": store},
                )
                try:
                    for result in in_order(done.iter_rows(), starts):
                        rows_read, res = pickle.loads(result["done"])
                        ray.get(store.sync.remote())  # the chunk's rollouts are on disk before its part
                        # requests the policy answered since the last commit (the store counts them
                        # whichever actor sent them, a dead one's too), as the local engine counts
                        now = ray.get(store.answers.remote())
                        sent, answered = now - answered, now
                        extra = {"requests_sent": sent, "requests_reused": int(res.counts["requests"]) - sent}
                        cp = self.commit(state, cp, rows_read, res, extra, base_s + time.perf_counter() - t0)
                        if progress is not None:
                            progress.update(rows_read, int(res.counts.get("requests", 0)))
                except ray.exceptions.RayError as e:  # an actor's failure, wrapped by Ray with its traceback
                    kind, message = actor_failure(e)
                    if kind.rsplit(".", 1)[-1] == GenerationError.__name__:
                        raise GenerationError(message) from e  # exit 1, state kept: --resume
                    raise actor_error(e) from e
        finally:
            if progress is not None:
                progress.close()
            if store is not None:
                with contextlib.suppress(ray.exceptions.RayError):  # it died: its error is on its way up
                    ray.get(store.close.remote(), timeout=30)
                ray.kill(store)
            if started:
                ray.shutdown()
        return cp
