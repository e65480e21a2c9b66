"""Phase 1 on Ray Data: chunks read and graded by a pool of actors, committed here in order.

The driver plans the chunks (each chunk's first row, and in a JSONL file its byte offset, so an actor
reads its rows without a scan) and streams them through ``map_batches`` into an actor pool: each actor
holds its own verifier (a sandbox pool of one process, ``num_cpus=1``), reads its chunk from the input
with the same reader as the local engine and grades it with the same :func:`score_chunk`. Ray Data
returns the graded chunks in order (``preserve_order``); the driver writes each part and checkpoint
exactly as the local engine does, so the output, the rejects, the summary and ``--resume`` are the
same. The input must be readable at the same path by every node (a shared file system).

With a PRM (``RayEngine(prm_model=PATH)``, ``--prm PATH``) each actor also loads the PRM, once, when it
starts (``num_gpus=prm_gpus`` each, 1 by default; 0 scores on the actor's CPU), and scores the chunk's
steps with the local engine's step scoring (:func:`~mathreward.rescore.pipeline.one_at_a_time` and
:func:`score_chunk`), so the step scores are the local engine's too.

Without an address (``--ray-address`` or ``RAY_ADDRESS``) a local Ray is started with this machine's
CPUs (and shut down after); with one, the run joins that cluster. Ray restarts an actor that dies; its
chunk is read and graded again.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mathreward.rescore import io as rio
from mathreward.rescore.columns import Columns
from mathreward.rescore.errors import RescoreError
from mathreward.rescore.pipeline import Phase1

if TYPE_CHECKING:
    import numpy as np

    from verifier import VerifyConfig


@dataclass(frozen=True)
class RayEngine:
    """Rescoring on Ray: where the cluster is, how many actors grade chunks, and the PRM they load."""

    config: VerifyConfig  # the verifier's settings, the same in every actor
    address: str | None = None  # a running cluster ("auto", "10.0.0.1:6379"); None: local
    actors: int | None = None  # actors; None: one per CPU of the cluster (with a PRM on GPUs: per GPU share)
    prm_model: str | None = None  # a PRM folder (at this path on every node): step scores, loaded per actor
    prm_device: str = "auto"  # the PRM's device in each actor ("auto": the GPU Ray gives it, else the CPU)
    prm_gpus: float = 1.0  # GPUs each actor asks for with a PRM (0: the PRM runs on the actor's CPU)

    def pool_size(self, resources: dict[str, float], chunks: int) -> int:
        """The actors to start on a cluster with ``resources`` (``ray.cluster_resources()``)."""
        gpus = self.prm_gpus if self.prm_model is not None else 0.0
        hint = "score on the actors' CPUs with --ray-prm-gpus 0"
        return actor_pool_size(resources, chunks, self.actors, gpus, "PRM actor", hint)


def actor_pool_size(
    resources: dict[str, float], chunks: int, actors: int | None, gpus: float, what: str, hint: str
) -> int:
    """The actors to start on a cluster with ``resources`` (``ray.cluster_resources()``): ``actors``, or
    one per CPU (with ``gpus`` per actor, at most as many as the GPUs hold), never more than the chunks.
    A pool that could never be placed (more GPUs asked for than the cluster has) is an error, not a hang;
    ``what`` names an actor and ``hint`` the way out in the message."""
    cpus = max(1, int(resources.get("CPU", 1)))
    size = actors or cpus
    if gpus > 0:
        have = resources.get("GPU", 0)
        fit = int(have / gpus + 1e-9)
        if fit < 1:
            raise RescoreError(f"each {what} asks for {gpus:g} GPU and the Ray cluster has {have:g}: {hint}")
        if actors is None:
            size = min(cpus, fit)
        elif actors > fit:
            raise RescoreError(
                f"{actors} actors with {gpus:g} GPU each need {actors * gpus:g} GPUs; "
                f"the Ray cluster has {have:g}"
            )
    return max(1, min(size, chunks))


class ChunkGrader:
    """A Ray Data actor: reads the chunks it is given from the input and grades them (and, given a PRM
    folder, scores their steps with the PRM it loads once, here)."""

    def __init__(
        self,
        path: str,
        fmt: rio.Format,
        chunk_size: int,
        limit: int | None,
        cols: Columns,
        list_mode: bool | None,
        config: VerifyConfig,
        prm_model: str | None = None,
        prm_device: str = "auto",
        step_mode: str = "auto",
        aggregate: str = "min",
    ) -> None:
        from mathreward.backend import LocalBackend
        from mathreward.rescore.pipeline import one_at_a_time

        self.path, self.fmt, self.chunk_size, self.limit = Path(path), fmt, chunk_size, limit
        self.cols, self.list_mode, self.aggregate = cols, list_mode, aggregate
        # this actor's own sandbox pool (one process) and, with a PRM folder, its own PRM
        self.backend = LocalBackend(config, workers=1, prm_model=prm_model, device=prm_device)
        self.score_steps = None
        if prm_model:
            self.backend.prm()  # loaded once, now: a bad folder fails the actor's start
            self.score_steps = one_at_a_time(self.backend, step_mode)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import numpy as np

        from mathreward.rescore.scoring import score_chunk

        graded = []
        for chunk in planned_chunks(batch, self.path, self.fmt, self.chunk_size, self.limit):
            result = score_chunk(
                chunk,
                self.cols,
                self.backend,
                self.score_steps,
                list_mode=self.list_mode,
                aggregate=self.aggregate,
            )
            graded.append(pickle.dumps((len(chunk), result)))
        return {"row": batch["row"], "graded": np.array(graded, dtype=object)}


def chunk_items(starts: list[rio.ChunkStart]) -> list[dict[str, int]]:
    """The chunks as Ray Data items: each chunk's first row and where it starts in the file."""
    return [{"row": s.row, "offset": s.offset, "lineno": s.lineno} for s in starts]


def planned_chunks(
    batch: dict[str, np.ndarray],
    path: str | os.PathLike[str],
    fmt: rio.Format,
    chunk_size: int,
    limit: int | None,
) -> Iterator[list[rio.RawRow]]:
    """The rows of each chunk in a batch of :func:`chunk_items`, read in an actor as the local engine
    reads them (up to ``limit`` rows of the input)."""
    for row, offset, lineno in zip(batch["row"], batch["offset"], batch["lineno"], strict=True):
        chunk = rio.read_chunk(path, fmt, rio.ChunkStart(int(row), int(offset), int(lineno)), chunk_size)
        yield chunk if limit is None else [r for r in chunk if r.index < limit]


def connect(address: str | None) -> bool:
    """Join the cluster (or start a local Ray); True when this call started it (and must shut it down).

    Without an address (``--ray-address``, or ``RAY_ADDRESS`` as ``ray job submit`` sets it) a new
    local Ray is started: Ray's own default would join whatever cluster ``ray start`` last recorded in
    this machine's /tmp/ray, which on a shared machine may be someone else's."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address.startswith("ray://"):
        # Ray Data's streaming executor needs a core worker in the driver, which a Ray Client
        # connection does not have (Ray 2.60: "'Worker' object has no attribute 'core_worker'")
        raise RescoreError(
            f"{address}: Ray Data does not run through Ray Client (ray://); run the command on a node "
            "of the cluster with --ray-address auto (or HOST:6379 of the head), or submit it with "
            "`ray job submit`"
        )
    ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    return True


def in_order(results: Iterable[dict[str, Any]], starts: list[rio.ChunkStart]) -> Iterator[dict[str, Any]]:
    """Ray Data's results (each names its chunk's first row in ``row``), checked: one per chunk, in the
    chunks' order, never twice; a stream that ends short is an error, never a shorter output."""
    expected = iter(starts)
    for result in results:
        want = next(expected, None)
        if want is None or int(result["row"]) != want.row:
            raise RescoreError(f"Ray returned the chunk at row {result['row']} out of order or twice")
        yield result
    missing = next(expected, None)
    if missing is not None:
        raise RescoreError(
            f"Ray returned no result for the chunk at row {missing.row}; the parts before it are "
            "committed: run again with --resume to process the rest"
        )


CHUNK_RETRIES = 3  # a chunk whose actor dies more often fails the run (--resume continues), never loops
_ERROR_LINE = re.compile(r"^(?P<kind>[A-Za-z_][\w.]*(?:Error|Exception)): (?P<message>.+)$", re.M)


def actor_failure(e: BaseException) -> tuple[str, str]:
    """The exception an actor raised, as (its type's name, its message), read from what Ray wrapped it in:
    Ray Data's ``UserCodeException`` and ``ActorDiedError`` carry the actor's traceback as text, whose
    last line not from Ray names the actor's own error. Else this exception's own first line."""
    found = [m for m in _ERROR_LINE.finditer(str(e)) if not m["kind"].startswith("ray.")]
    if found:
        return found[-1]["kind"], found[-1]["message"].strip()
    lines = str(e).strip().splitlines()
    return type(e).__name__, lines[0] if lines else ""


def actor_error(e: BaseException) -> RuntimeError:
    """The one-line error a command reports for an actor's failure (its own exception, not Ray's)."""
    kind, message = actor_failure(e)
    return RuntimeError(f"a Ray actor failed: {kind}: {message}")


@contextmanager
def ordered_data_context() -> Iterator[None]:
    """Ray Data returning results in input order (parts are committed in order), with no progress bars
    of its own (the command's progress line says it); the settings restored after."""
    import ray.data

    context = ray.data.DataContext.get_current()
    kept = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    try:
        yield
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = kept


def score_all_ray(run: Phase1, cp: dict[str, Any], engine: RayEngine) -> dict[str, Any]:
    """Phase 1 on Ray: the chunks from the checkpoint on, graded by the actor pool, committed in order."""
    import ray
    import ray.data

    opts, stream = run.opts, run.stream
    starts = rio.chunk_starts(opts.input, run.in_fmt, int(cp["chunk_size"]), cp["rows_done"], opts.limit)
    if not starts:
        return cp
    started = connect(engine.address)
    run.start(cp)
    try:
        with ordered_data_context():
            actors = engine.pool_size(ray.cluster_resources(), len(starts))
            prm = engine.prm_model is not None
            per_actor = f", each with the PRM on {engine.prm_gpus:g} GPU" if prm and engine.prm_gpus else ""
            if prm and not engine.prm_gpus:
                per_actor = ", each with the PRM on its CPU"
            stream.write(f"rescore: {len(starts)} chunks on Ray, {actors} CPU actors{per_actor}\n")
            items = chunk_items(starts)
            graded = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
                ChunkGrader,
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=1,
                num_gpus=engine.prm_gpus if prm else 0,
                max_task_retries=CHUNK_RETRIES,
                fn_constructor_kwargs={
                    "path": str(opts.input.resolve()),
                    "fmt": run.in_fmt,
                    "chunk_size": int(cp["chunk_size"]),
                    "limit": opts.limit,
                    "cols": run.cols,
                    "list_mode": run.list_mode,
                    "config": engine.config,
                    "prm_model": engine.prm_model,
                    # no GPU asked for: the CPU, even where the node's GPUs are visible to the actor
                    "prm_device": "cpu"
                    if engine.prm_device == "auto" and not engine.prm_gpus
                    else engine.prm_device,
                    "step_mode": opts.step_mode,
                    "aggregate": opts.prm_aggregate,
                },
            )
            try:
                for row in in_order(graded.iter_rows(), starts):
                    rows, result = pickle.loads(row["graded"])
                    cp = run.commit(cp, rows, result)
            except ray.exceptions.RayError as e:  # an actor's failure, wrapped by Ray with its traceback
                raise actor_error(e) from e
    finally:
        run.close()
        if started:
            ray.shutdown()
    return cp
