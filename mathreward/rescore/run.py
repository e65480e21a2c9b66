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
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mathreward.rescore import io as rio
from mathreward.rescore.columns import ColumnError, Columns, Problem, parse_problem, resolve_columns
from mathreward.rescore.engines import StepResult, StepScorer, VerifyEngine
from mathreward.rescore.filters import FilterOptions, keep_problem, select_responses
from mathreward.rescore.metrics import Summary
from verifier.group import group_answers

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("mathreward.rescore")

STATE_VERSION = 2  # 2: answer groups by verifier.group_answers (canonical keys), not pairwise verify

# per-response columns added to every row (lists when the row holds a list of responses)
RESPONSE_COLUMNS: tuple[str, ...] = (
    "correct",  # bool: the verdict is CORRECT
    "status",  # correct | incorrect | no_answer | unparseable | timeout | error
    "method",  # string | numeric | symbolic | structural | judge | none
    "extracted_answer",  # the final answer found in the response (null: none)
    "verify_reason",  # the verifier's one-line reason
    "judge",  # the LLM second opinion's label when it was consulted (null: not consulted)
    "answer_group",  # equal answers (one verifier.answer_key, or both correct) share an id; null: no answer
)
PRM_COLUMNS: tuple[str, ...] = ("step_scores", "prm_score")  # list of P(step correct), and its aggregate

# chunks graded at once: the next chunk keeps the verifier's workers busy while one finishes
PIPELINE_DEPTH = 2


class RescoreError(Exception):
    """A run that cannot start or continue; the message says why and what to do."""


@dataclass(frozen=True)
class RescoreOptions:
    input: Path
    output: Path
    layout: str = "auto"  # auto | verl | plain
    column_overrides: dict[str, str | None] = field(default_factory=dict)  # role -> dotted path
    ks: tuple[int, ...] | None = None  # pass@k / maj@k values; None: 1, powers of 2 and n
    chunk_size: int = 64  # rows per chunk (the unit of checkpointing)
    filters: FilterOptions = field(default_factory=FilterOptions)
    rejects: Path | None = None  # default: OUT.rejects.jsonl
    summary: Path | None = None  # default: OUT.summary.json
    report_dir: Path | None = None
    resume: bool = False
    with_prm: bool = False  # step scores requested (the scorer is passed to run_rescore)
    prm_aggregate: str = "min"
    # engine settings that must be the same when a run is resumed
    fingerprint_extra: dict[str, Any] = field(default_factory=dict)
    progress: str = "auto"  # auto | bar | log | none
    log_every_s: float = 10.0
    limit: int | None = None  # rescore only the first N rows (a quick look at a big file)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".jsonl", ".ndjson", ".json", ".parquet", ".pq"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def summary_path_for(output: Path) -> Path:
    return output.with_name(_stem(output) + ".summary.json")


def rejects_path_for(output: Path) -> Path:
    return output.with_name(_stem(output) + ".rejects.jsonl")


def state_dir_for(output: Path) -> Path:
    return output.with_name(output.name + ".rescore-state")


def default_ks(max_n: int) -> tuple[int, ...]:
    """1, the powers of two below n, and n."""
    ks = {1, max_n} if max_n >= 1 else {1}
    k = 2
    while k < max_n:
        ks.add(k)
        k *= 2
    return tuple(sorted(ks))


# ------------------------------------------------------------------------------------------- scoring


def _response_values(verdicts: Sequence[Any]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {name: [] for name in RESPONSE_COLUMNS if name != "answer_group"}
    for v in verdicts:
        cols["correct"].append(bool(v.correct))
        cols["status"].append(v.status.value)
        cols["method"].append(v.method.value)
        cols["extracted_answer"].append(v.pred_answer)
        cols["verify_reason"].append(v.reason)
        judge = None
        if v.judge is not None:
            judge = v.judge.label if v.judge.available and v.judge.label else "unavailable"
        cols["judge"].append(judge)
    return cols


@dataclass
class ChunkResult:
    rows: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    responses: int
    max_n: int
    prm_failures: int = 0


def score_chunk(
    raw_rows: Sequence[rio.RawRow],
    cols: Columns,
    engine: VerifyEngine,
    scorer: StepScorer | None,
    *,
    list_mode: bool | None,
) -> ChunkResult:
    """Grade one chunk: verdicts, answer groups, step scores, as rows with the per-response columns added.

    ``list_mode`` forces lists (True) or scalars (False) on every row, as a Parquet schema needs; None
    follows each row (a JSONL row with one response string gets scalars).
    """
    problems: list[tuple[dict[str, Any], Problem]] = []
    rejects: list[dict[str, Any]] = []
    for raw in raw_rows:
        if raw.row is None:
            rejects.append({"row": raw.index, "id": None, "reason": raw.error, "data": None})
            continue
        parsed = parse_problem(raw.index, raw.row, cols)
        if isinstance(parsed, str):
            rejects.append({"row": raw.index, "id": _id_of(raw.row, cols, raw.index), "reason": parsed,
                            "data": raw.row})
            continue
        if list_mode is not None and parsed.single == list_mode:
            want = "a list of strings" if list_mode else "a string"
            rejects.append({"row": raw.index, "id": parsed.id, "data": raw.row,
                            "reason": f"{cols.responses} must be {want} in this file"})
            continue
        problems.append((raw.row, parsed))

    pairs = [(r, p.reference) for _, p in problems for r in p.responses]
    questions = [p.question for _, p in problems for _ in p.responses]
    verdicts = engine.verify_batch(pairs, questions) if pairs else []
    if len(verdicts) != len(pairs):
        raise RescoreError(f"the verifier returned {len(verdicts)} verdicts for {len(pairs)} pairs")

    # per problem: its slice of verdicts; answers grouped for maj@k by the verifier's one grouping
    # (canonical answer keys, every correct answer in one group), as prm.select_best and verl group
    per_problem: list[dict[str, list[Any]]] = []
    pos = 0
    for _, p in problems:
        vals = _response_values(verdicts[pos : pos + len(p.responses)])
        pos += len(p.responses)
        vals["answer_group"] = group_answers(vals["extracted_answer"], correct=vals["correct"])
        per_problem.append(vals)

    prm_failures = 0
    if scorer is not None:
        items = [(p.question or "", r) for _, p in problems for r in p.responses]
        results: list[StepResult] = scorer.score_batch(items) if items else []
        pos = 0
        for vals, (_, p) in zip(per_problem, problems, strict=True):
            vals["step_scores"], vals["prm_score"] = [], []
            for r in results[pos : pos + len(p.responses)]:
                if isinstance(r, str):
                    prm_failures += 1
                    log.debug("row %s: no step scores: %s", p.id, r)
                    vals["step_scores"].append(None)
                    vals["prm_score"].append(None)
                else:
                    vals["step_scores"].append(r[0])
                    vals["prm_score"].append(r[1])
            pos += len(p.responses)

    rows: list[dict[str, Any]] = []
    for (row, p), vals in zip(problems, per_problem, strict=True):
        out = dict(row)
        for name, values in vals.items():
            out.pop(name, None)
            out[name] = values[0] if p.single else values
        rows.append(out)
    return ChunkResult(
        rows=rows,
        rejects=rejects,
        responses=len(pairs),
        max_n=max((len(p.responses) for _, p in problems), default=0),
        prm_failures=prm_failures,
    )


def _id_of(row: dict[str, Any], cols: Columns, index: int) -> Any:
    if cols.id is None:
        return index
    v = rio.get_path(row, cols.id)
    return index if v is rio.MISSING else v


# ---------------------------------------------------------------------------------------- finishing


def _as_list(value: Any, single: bool) -> list[Any]:
    if single:
        return [value]
    return list(value) if value is not None else []


def _set_path(row: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of row with the value at a dotted path replaced (dicts on the way are copied)."""
    head, _, rest = path.partition(".")
    out = dict(row)
    if not rest:
        out[head] = value
    else:
        inner = out.get(head)
        if not isinstance(inner, dict):
            raise RescoreError(f"cannot filter responses at {path}: {head} is not a nested record")
        out[head] = _set_path(inner, rest, value)
    return out


def finish_row(
    row: dict[str, Any],
    *,
    cols: Columns | None,
    ks: Sequence[int],
    with_prm: bool,
    summary: Summary,
    filters: FilterOptions,
) -> dict[str, Any] | None:
    """Add the per-problem metrics to a graded row, count it in the summary, apply the filters.

    Returns the row to write (responses possibly filtered), or None when the filters drop it.
    """
    if "correct" not in row:
        raise RescoreError("the row has no `correct` column: is this file rescored?")
    single = not isinstance(row["correct"], list | tuple)
    correct = [bool(c) for c in _as_list(row["correct"], single)]
    n = len(correct)

    def per_response(name: str, default: Any = None) -> list[Any]:
        if name not in row:
            return [default] * n
        return _as_list(row[name], single)

    groups = per_response("answer_group")
    prm_scores = per_response("prm_score") if with_prm else None
    source = None
    if cols is not None and cols.source is not None:
        s = rio.get_path(row, cols.source)
        source = None if s is rio.MISSING or s is None else str(s)
    m = summary.add_problem(
        correct=correct,
        groups=groups,
        statuses=[str(s) for s in per_response("status", "unknown")],
        methods=[str(s) for s in per_response("method", "unknown")],
        judged=[j is not None for j in per_response("judge")],
        prm_scores=prm_scores,
        source=source,
    )
    out = dict(row)
    out["num_correct"] = m["num_correct"]
    out["pass_rate"] = m["pass_rate"]
    for k in ks:
        out[f"pass@{k}"] = m.get(f"pass@{k}")
    for k in ks:
        out[f"maj@{k}"] = m.get(f"maj@{k}")
    if with_prm:
        out["prm_best_correct"] = m["prm_best_correct"]
    if not filters.active:
        return out
    if not keep_problem(m["pass_rate"], groups, filters):
        return None
    keep = select_responses(correct, filters)
    if not keep:
        return None
    if len(keep) == n:
        return out
    if cols is None:
        raise RescoreError("response filters need the responses column")
    # only list rows reach here: a single-response row keeps its one response or is dropped
    responses = rio.get_path(out, cols.responses)
    out = _set_path(out, cols.responses, [responses[i] for i in keep])
    for name in RESPONSE_COLUMNS + (PRM_COLUMNS if with_prm else ()):
        if name in out and isinstance(out[name], list):
            out[name] = [out[name][i] for i in keep]
    return out


# -------------------------------------------------------------------------------------------- schema


def _arrow_type_at(schema: pa.Schema, path: str) -> pa.DataType:
    import pyarrow as pa

    parts = path.split(".")
    if parts[0] not in schema.names:
        raise RescoreError(f"the input has no column {parts[0]}")
    t = schema.field(parts[0]).type
    for part in parts[1:]:
        if pa.types.is_struct(t):
            t = t.field(part).type
        elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and part.lstrip("-").isdigit():
            t = t.value_type
        else:
            raise RescoreError(f"cannot follow {path} into the input's schema at {part}")
    return t


def responses_are_lists(schema: pa.Schema, path: str) -> bool:
    import pyarrow as pa

    t = _arrow_type_at(schema, path)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return True
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return False
    raise RescoreError(f"the responses column {path} has type {t}; expected string or list<string>")


def _added_fields(list_mode: bool, names: Sequence[str]) -> list[pa.Field]:
    import pyarrow as pa

    types: dict[str, pa.DataType] = {
        "correct": pa.bool_(),
        "status": pa.string(),
        "method": pa.string(),
        "extracted_answer": pa.string(),
        "verify_reason": pa.string(),
        "judge": pa.string(),
        "answer_group": pa.int64(),
        "step_scores": pa.list_(pa.float64()),
        "prm_score": pa.float64(),
    }
    return [pa.field(n, pa.list_(types[n]) if list_mode else types[n]) for n in names]


def part_schema(in_schema: pa.Schema, list_mode: bool, with_prm: bool) -> pa.Schema:
    import pyarrow as pa

    names = RESPONSE_COLUMNS + (PRM_COLUMNS if with_prm else ())
    kept = [f for f in in_schema if f.name not in names]
    return pa.schema(kept + _added_fields(list_mode, names), metadata=None)


def output_schema(schema: pa.Schema, ks: Sequence[int], with_prm: bool) -> pa.Schema:
    import pyarrow as pa

    fields = [pa.field("num_correct", pa.int64()), pa.field("pass_rate", pa.float64())]
    fields += [pa.field(f"pass@{k}", pa.float64()) for k in ks]
    fields += [pa.field(f"maj@{k}", pa.bool_()) for k in ks]
    if with_prm:
        fields.append(pa.field("prm_best_correct", pa.bool_()))
    names = {f.name for f in fields}
    return pa.schema([f for f in schema if f.name not in names] + fields)


# ------------------------------------------------------------------------------------------ progress


def _fmt_eta(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """A tqdm bar with rate and ETA on a terminal; otherwise a plain line every ``log_every_s`` seconds."""

    def __init__(self, total: int, initial: int, mode: str, log_every_s: float, stream: TextIO) -> None:
        if mode == "auto":
            mode = "bar" if stream.isatty() else "log"
        self.mode = mode
        self.total = total
        self.done = initial
        self.start_done = initial
        self.responses = 0
        self.stream = stream
        self.log_every_s = log_every_s
        self.t0 = time.monotonic()
        self.last = self.t0
        self.bar: Any = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="row", file=stream, dynamic_ncols=True,
                            desc="rescore", smoothing=0.1)

    def update(self, rows: int, responses: int) -> None:
        self.done += rows
        self.responses += responses
        now = time.monotonic()
        if self.bar is not None:
            self.bar.update(rows)
            self.bar.set_postfix_str(f"{self.responses / max(now - self.t0, 1e-9):.1f} resp/s", refresh=False)
        elif self.mode == "log" and (now - self.last >= self.log_every_s or self.done >= self.total):
            self.last = now
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    def line(self, now: float) -> str:
        elapsed = max(now - self.t0, 1e-9)
        rate = (self.done - self.start_done) / elapsed
        left = self.total - self.done
        eta = _fmt_eta(left / rate) if rate > 0 else "?"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (f"rescore: {self.done}/{self.total} rows ({pct:.1f}%), {self.responses} responses, "
                f"{rate:.1f} rows/s, {self.responses / elapsed:.1f} responses/s, ETA {eta}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------------------------------- the run


def _file_fingerprint(path: Path) -> dict[str, Any]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {"path": str(path.resolve()), "size": sum(p.stat().st_size for p in files),
                "mtime_ns": max((p.stat().st_mtime_ns for p in files), default=0)}
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class _State:
    """The state folder of one run: part files, rejects parts and the checkpoint."""

    def __init__(self, root: Path, part_ext: str) -> None:
        self.root = root
        self.part_ext = part_ext
        self.checkpoint_path = root / "checkpoint.json"

    def part(self, i: int) -> Path:
        return self.root / f"part-{i:06d}.{self.part_ext}"

    def rejects_part(self, i: int) -> Path:
        return self.root / f"rejects-{i:06d}.jsonl"

    def load(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        data: dict[str, Any] = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        return data

    def save(self, cp: dict[str, Any]) -> None:
        rio.atomic_write_text(self.checkpoint_path, json.dumps(cp, indent=1, sort_keys=True))

    def drop_parts_from(self, first: int) -> None:
        """Delete parts (and stray temp files) that the checkpoint does not count."""
        for p in self.root.iterdir():
            if p.name.startswith("."):
                p.unlink()
                continue
            stem = p.name.split(".", 1)[0]
            if stem.startswith(("part-", "rejects-")) and int(stem.split("-", 1)[1]) >= first:
                p.unlink()


def run_rescore(
    opts: RescoreOptions,
    engine: VerifyEngine,
    scorer: StepScorer | None = None,
    *,
    stream: TextIO | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> Summary:
    """Rescore ``opts.input`` into ``opts.output``; returns the summary (also written as JSON)."""
    stream = stream if stream is not None else sys.stderr
    in_fmt = rio.detect_format(opts.input)
    out_fmt = rio.output_format(opts.output, in_fmt)
    if out_fmt != "jsonl" and in_fmt == "jsonl":
        raise RescoreError("a JSONL input is written as JSONL; name the output .jsonl")
    if opts.output.resolve() == opts.input.resolve():
        raise RescoreError("the output must not be the input file")
    state = _State(state_dir_for(opts.output), "jsonl" if out_fmt == "jsonl" else "parquet")
    with_prm = scorer is not None
    if opts.with_prm and scorer is None:
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
        "input": _file_fingerprint(opts.input),
        "columns": cols.to_dict(),
        "output_format": out_fmt,
        "prm": with_prm,
        "prm_aggregate": opts.prm_aggregate if with_prm else None,
        "limit": opts.limit,
        **opts.fingerprint_extra,
    }
    cp = state.load() if state.root.exists() else None
    if cp is not None and opts.resume:
        diff = sorted(k for k in set(fingerprint) | set(cp["fingerprint"])
                      if fingerprint.get(k) != cp["fingerprint"].get(k))
        if diff:
            raise RescoreError(
                f"cannot resume: {', '.join(diff)} changed since the interrupted run "
                f"(state in {state.root}); run without --resume to start over"
            )
        stream.write(f"rescore: resuming at row {cp['rows_done']} ({cp['chunks_done']} chunks done)\n")
        state.drop_parts_from(cp["chunks_done"])
    else:
        if state.root.exists():
            if not opts.resume:
                stream.write(f"rescore: discarding the unfinished run in {state.root} (no --resume)\n")
            shutil.rmtree(state.root)
        elif opts.resume:
            stream.write("rescore: nothing to resume; starting from the first row\n")
        state.root.mkdir(parents=True)
        cp = {"fingerprint": fingerprint, "chunk_size": opts.chunk_size, "chunks_done": 0, "rows_done": 0,
              "responses": 0, "rejected": 0, "max_n": 0, "prm_failures": 0, "scoring_s": 0.0,
              "input_done": False}
        state.save(cp)

    total = rio.count_rows(opts.input, in_fmt)
    if opts.limit is not None:
        total = min(total, opts.limit)
    if not cp["input_done"]:
        cp = _score_all(opts, cols, engine, scorer, state, cp, in_fmt, list_mode, p_schema, total, stream,
                        on_chunk)
        cp = {**cp, "input_done": True}
        state.save(cp)
    if cp["prm_failures"]:
        stream.write(f"rescore: {cp['prm_failures']} responses got no step scores (see --verbose)\n")

    return _finish(opts, cols, state, cp, out_fmt, in_fmt, p_schema, with_prm, stream)


class _OneAtATime:
    """A step scorer that the pipeline's threads take turns on (one model, one batch at a time)."""

    def __init__(self, scorer: StepScorer) -> None:
        self.scorer = scorer
        self.lock = threading.Lock()

    def score_batch(self, items: Sequence[tuple[str, str]]) -> list[StepResult]:
        with self.lock:
            return self.scorer.score_batch(items)

    def close(self) -> None:
        self.scorer.close()


def _score_all(
    opts: RescoreOptions,
    cols: Columns,
    engine: VerifyEngine,
    scorer: StepScorer | None,
    state: _State,
    cp: dict[str, Any],
    in_fmt: rio.Format,
    list_mode: bool | None,
    p_schema: pa.Schema | None,
    total: int,
    stream: TextIO,
    on_chunk: Callable[[int], None] | None,
) -> dict[str, Any]:
    """Phase 1: grade the chunks from the checkpoint on, PIPELINE_DEPTH at a time, committed in order.

    Chunks overlap so that the verifier's workers stay busy while a chunk waits for its slowest pair,
    writes its part or scores its steps; parts and checkpoints are still written strictly in order.
    An explicit ``--workers N`` is shared between the chunks in flight (N=4: 2 + 2; N=1: no overlap).
    """

    def chunks() -> Iterator[list[rio.RawRow]]:
        for chunk in rio.iter_chunks(opts.input, in_fmt, int(cp["chunk_size"]), start=cp["rows_done"]):
            if opts.limit is not None:
                chunk = [r for r in chunk if r.index < opts.limit]
                if not chunk:
                    return
            yield chunk

    shared = _OneAtATime(scorer) if scorer is not None else None
    lanes = engine.split(PIPELINE_DEPTH)  # chunk i uses lanes[i % depth]: --workers holds in total
    depth = len(lanes)
    progress = Progress(total, cp["rows_done"], opts.progress, opts.log_every_s, stream)
    base_s, t_start = float(cp["scoring_s"]), time.monotonic()
    pending: deque[tuple[list[rio.RawRow], Future[ChunkResult]]] = deque()
    source = chunks()
    pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="rescore-chunk")
    try:
        while True:
            while len(pending) < depth:
                chunk = next(source, None)
                if chunk is None:
                    break
                lane = lanes[(cp["chunks_done"] + len(pending)) % depth]
                fut = pool.submit(score_chunk, chunk, cols, lane, shared, list_mode=list_mode)
                pending.append((chunk, fut))
            if not pending:
                break
            chunk, fut = pending.popleft()
            res = fut.result()
            i = cp["chunks_done"]
            if state.part_ext == "jsonl":
                rio.write_jsonl_part(state.part(i), res.rows)
            else:
                assert p_schema is not None
                rio.write_parquet_part(state.part(i), res.rows, p_schema)
            if res.rejects:
                rio.write_jsonl_part(state.rejects_part(i), res.rejects)
            cp = {**cp, "chunks_done": i + 1, "rows_done": cp["rows_done"] + len(chunk),
                  "responses": cp["responses"] + res.responses,
                  "rejected": cp["rejected"] + len(res.rejects), "max_n": max(cp["max_n"], res.max_n),
                  "prm_failures": cp["prm_failures"] + res.prm_failures,
                  "scoring_s": base_s + time.monotonic() - t_start}
            state.save(cp)
            progress.update(len(chunk), res.responses)
            if on_chunk is not None:
                on_chunk(i + 1)
    finally:
        for _, fut in pending:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        progress.close()
    return cp


def _finish(
    opts: RescoreOptions,
    cols: Columns,
    state: _State,
    cp: dict[str, Any],
    out_fmt: rio.Format,
    in_fmt: rio.Format,
    p_schema: pa.Schema | None,
    with_prm: bool,
    stream: TextIO,
) -> Summary:
    for stale in opts.output.parent.glob(f".{opts.output.name}.*.tmp"):  # a run killed while writing
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    ks = tuple(sorted(set(opts.ks))) if opts.ks else default_ks(cp["max_n"])
    summary = Summary(ks=ks)
    summary.rejected = cp["rejected"]
    summary.elapsed_s = cp["scoring_s"]
    schema = output_schema(p_schema, ks, with_prm) if p_schema is not None else None
    writer = rio.OutputWriter(opts.output, out_fmt, schema)
    kept_responses = 0
    try:
        for i in range(cp["chunks_done"]):
            part = state.part(i)
            rows = rio.read_jsonl(part) if state.part_ext == "jsonl" else rio.read_parquet_part(part)
            out_rows = []
            for row in rows:
                done = finish_row(row, cols=cols, ks=ks, with_prm=with_prm, summary=summary,
                                  filters=opts.filters)
                if done is not None:
                    out_rows.append(done)
                    c = done["correct"]
                    kept_responses += len(c) if isinstance(c, list | tuple) else 1
            writer.write(out_rows)
        summary.kept_rows = writer.rows
        summary.kept_responses = kept_responses
        features = None
        if out_fmt == "hf" and in_fmt == "hf":
            added = set(RESPONSE_COLUMNS + PRM_COLUMNS)
            features = {k: v for k, v in rio.hf_features(opts.input).items() if k not in added}
        writer.commit(features)
    except BaseException:
        writer.abort()
        raise

    rejects_path = opts.rejects or rejects_path_for(opts.output)
    rejects: list[str] = []
    for i in range(cp["chunks_done"]):
        rp = state.rejects_part(i)
        if rp.exists():
            rejects.extend(line for line in rp.read_text(encoding="utf-8").splitlines() if line.strip())
    if rejects or rejects_path.exists():
        rio.atomic_write_text(rejects_path, "".join(line + "\n" for line in rejects))
    if rejects:
        stream.write(f"rescore: {len(rejects)} rows rejected, reasons in {rejects_path}\n")

    result = summary.to_dict()
    result["input"] = str(opts.input)
    result["output"] = {**result.get("output", {}), "path": str(opts.output), "format": out_fmt}
    result["columns"] = cols.to_dict()
    result["filters"] = opts.filters.describe()
    result["rejects_path"] = str(rejects_path) if rejects else None
    summary_path = opts.summary or summary_path_for(opts.output)
    rio.atomic_write_text(summary_path, json.dumps(result, indent=2, sort_keys=False) + "\n")
    if opts.report_dir is not None:
        from mathreward.rescore.report import write_report

        for p in write_report(summary, opts.report_dir):
            stream.write(f"rescore: wrote {p}\n")
    shutil.rmtree(state.root, ignore_errors=True)
    return summary


def metrics_of_file(
    path: Path,
    *,
    ks: Sequence[int] | None = None,
    layout: str = "auto",
    column_overrides: dict[str, str | None] | None = None,
) -> Summary:
    """The summary of an already rescored file, recomputed from its per-response columns."""
    fmt = rio.detect_format(path)
    first = next((r.row for chunk in rio.iter_chunks(path, fmt, 64) for r in chunk if r.row), None)
    if first is None:
        raise RescoreError(f"{path} has no readable row")
    if "correct" not in first:
        raise RescoreError(f"{path} has no `correct` column: rescore it first (mathreward rescore)")
    try:
        cols: Columns | None = resolve_columns(first, layout, column_overrides)
    except (ColumnError, ValueError) as e:  # the source column only labels the per-source accuracy
        log.info("columns not resolved (%s); no per-source accuracy", e)
        cols = None
    with_prm = "prm_score" in first
    max_n = 0
    for chunk in rio.iter_chunks(path, fmt, 1024):
        for r in chunk:
            if r.row is not None:
                c = r.row.get("correct")
                max_n = max(max_n, len(c) if isinstance(c, list | tuple) else 1)
    summary = Summary(ks=tuple(sorted(set(ks))) if ks else default_ks(max_n))
    bad = 0
    for chunk in rio.iter_chunks(path, fmt, 1024):
        for r in chunk:
            if r.row is None or "correct" not in r.row:
                bad += 1
                continue
            finish_row(r.row, cols=cols, ks=summary.ks, with_prm=with_prm, summary=summary,
                       filters=FilterOptions())
    summary.rejected = bad
    return summary


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")

