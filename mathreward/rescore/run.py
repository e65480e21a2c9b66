"""The rescoring pipeline: read in chunks, grade, checkpoint, then assemble the output atomically.

Phase 1, scoring. The input is read in chunks of rows. Each chunk is graded (verify, answer grouping for
maj@k, PRM step scores) and written to its own part file in the state folder next to the output
(``OUT.rescore-state/``), fsynced and renamed into place; then the checkpoint, which records how many
chunks and input rows are done, is replaced the same way. A run killed at any point leaves a
checkpoint that names only complete parts; ``--resume`` deletes any part past it and goes on from the
next input row, so no row is lost and none is written twice.

Phase 2, output. The parts are read in order: per-problem metrics are added, the filters applied, the
summary accumulated, and the rows streamed into a temporary file that ``os.replace`` moves onto the
output. Only then are the rejects file, the summary JSON and the plots written and the state removed.

The modules, one job each: :mod:`~mathreward.rescore.options` (what a run is asked to do),
:mod:`~mathreward.rescore.paths`, :mod:`~mathreward.rescore.state` (checkpoints and resume),
:mod:`~mathreward.rescore.schema` (added columns, Arrow schemas), :mod:`~mathreward.rescore.scoring`
(one chunk graded; answers grouped for maj@k by :func:`verifier.group_answers`),
:mod:`~mathreward.rescore.pipeline` (phase 1), :mod:`~mathreward.rescore.rows` (one row finished),
:mod:`~mathreward.rescore.assemble` (phase 2), :mod:`~mathreward.rescore.progress`; this one starts a run.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TextIO

from mathreward.backend import Backend
from mathreward.rescore import io as rio
from mathreward.rescore.accuracy import Summary
from mathreward.rescore.assemble import assemble_output
from mathreward.rescore.columns import resolve_columns
from mathreward.rescore.errors import RescoreError
from mathreward.rescore.options import RescoreOptions
from mathreward.rescore.paths import state_dir_for
from mathreward.rescore.pipeline import Phase1, score_all
from mathreward.rescore.ray_engine import RayEngine, score_all_ray
from mathreward.rescore.schema import part_schema, responses_are_lists
from mathreward.rescore.state import STATE_VERSION, RunState, file_fingerprint

log = logging.getLogger("mathreward.rescore")


def run_rescore(
    opts: RescoreOptions,
    engine: Backend | RayEngine,
    scorer: Backend | None = None,
    *,
    stream: TextIO | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> Summary:
    """Rescore ``opts.input`` into ``opts.output``; returns the summary (also written as JSON).

    ``engine`` verifies and groups answers: a :class:`mathreward.backend.Backend` (in this process or
    on a server), or a :class:`~mathreward.rescore.ray_engine.RayEngine` (CPU actors on Ray Data).
    ``scorer``, when given, scores steps (a Backend; with Ray the actors load the PRM that
    ``RayEngine.prm_model`` names, and ``scorer`` stays None).
    """
    stream = stream if stream is not None else sys.stderr
    in_fmt = rio.detect_format(opts.input)
    out_fmt = rio.output_format(opts.output, in_fmt)
    if out_fmt != "jsonl" and in_fmt == "jsonl":
        raise RescoreError("a JSONL input is written as JSONL; name the output .jsonl")
    if opts.output.resolve() == opts.input.resolve():
        raise RescoreError("the output must not be the input file")
    state = RunState(state_dir_for(opts.output), "jsonl" if out_fmt == "jsonl" else "parquet")
    if isinstance(engine, RayEngine) and scorer is not None:
        raise RescoreError("the Ray engine loads the PRM in its actors: give RayEngine(prm_model=PATH)")
    with_prm = scorer is not None or (isinstance(engine, RayEngine) and engine.prm_model is not None)
    if opts.with_prm and not with_prm:
        raise RescoreError("with_prm is set but no step scorer was given")

    # columns: resolved against the first readable row
    first = next((r.row for chunk in rio.iter_chunks(opts.input, in_fmt, 64) for r in chunk if r.row), None)
    if first is None:
        raise RescoreError(f"{opts.input} has no readable row")
    cols = resolve_columns(first, opts.layout, opts.column_overrides)
    log.info("%s", cols.describe())
    stream.write(f"rescore: {opts.input} ({in_fmt}) -> {opts.output} ({out_fmt}); {cols.describe()}\n")

    in_schema = rio.input_schema(opts.input, in_fmt)
    list_mode: bool | None = None
    p_schema = None
    if in_schema is not None:
        list_mode = responses_are_lists(in_schema, cols.responses)
        p_schema = part_schema(in_schema, list_mode, with_prm)
    elif out_fmt != "jsonl":
        raise RescoreError("a JSONL input is written as JSONL")

    fingerprint = {
        "version": STATE_VERSION,
        "input": file_fingerprint(opts.input),
        "columns": cols.to_dict(),
        "output_format": out_fmt,
        "prm": with_prm,
        "prm_aggregate": opts.prm_aggregate if with_prm else None,
        "limit": opts.limit,
        **opts.fingerprint_extra,
    }
    cp = state.open(fingerprint, opts.chunk_size, opts.resume, stream)

    total = rio.count_rows(opts.input, in_fmt)
    if opts.limit is not None:
        total = min(total, opts.limit)
    if not cp["input_done"]:
        run = Phase1(opts, cols, state, in_fmt, list_mode, p_schema, total, stream, on_chunk)
        if isinstance(engine, RayEngine):
            cp = score_all_ray(run, cp, engine)
        else:
            cp = score_all(run, cp, engine, scorer)
        cp = {**cp, "input_done": True}
        state.save(cp)
    if cp["prm_failures"]:
        stream.write(f"rescore: {cp['prm_failures']} responses got no step scores (see --verbose)\n")

    return assemble_output(opts, cols, state, cp, out_fmt, in_fmt, p_schema, with_prm, stream)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
