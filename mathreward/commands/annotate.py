"""``mathreward annotate IN -o OUT --generator URL --model NAME --n N``: Math-Shepherd step labels.

Also the resumable job loop that ``mathreward pts`` shares: the input is read in chunks; each chunk's
rows are processed (all their rollouts in flight at once), written to a part file in the state folder
(``OUT.annotate-state/``) and the checkpoint replaced, both atomically (rescore's helpers). Every
rollout the generator returns is appended to ``rollouts.jsonl`` in the same folder as it arrives, so
``--resume`` after a kill asks the policy for nothing it already answered, and writes the same output.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

STATE_VERSION = 2  # 2: annotate rows carry verify_errors (a resumed run of 1 would mix rows with and without)
PIPELINE_DEPTH = 2  # chunks in flight at once (committed in order)
POSITION_CAP = 20  # labels by step position: positions past this are counted together

EPILOG = """\
input rows: question (or problem), answer (the reference), and steps (a list of strings) or solution
(a string, cut into steps by --step-mode); dotted paths select nested fields (--question-col ...).

output rows (TRL stepwise supervision, plus): prompt, completions, labels (hard estimation), soft_labels
(share of right rollouts), rollouts, correct_rollouts, math_shepherd_input / math_shepherd_label (steps
each followed by ки / by + or -), verify_errors (rollouts whose verdict was an error or timeout);
the input's other columns are kept.

--export prm also writes OUT.prm.jsonl: prompt, completions, labels (bools) and nothing else, TRL's
stepwise-supervision rows; rows with a verifier error or timeout are left out (docs/trainers/exports.md).

--generator: a completions base URL (http://host:8000/v1; --model is the served name), `transformers`
(--model is a local folder, run in this process) or `vllm` (vLLM's offline engine, --model a path).

examples:
  mathreward annotate sols.jsonl -o labels.jsonl --generator http://localhost:8000/v1 \\
      --model Qwen/Qwen2.5-Math-7B-Instruct --n 8 --temperature 0.7 --max-tokens 1024
  mathreward annotate sols.jsonl -o labels.jsonl --generator transformers --model ./policy --resume
  mathreward annotate sols.jsonl -o labels.jsonl ... --export prm --prm-labels soft --soft-threshold 1/2
"""


# ------------------------------------------------------------------------------------------- options


def _template(text: str) -> str:
    if not text.startswith("@"):
        text = unescape(text)
    else:
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as e:
            raise argparse.ArgumentTypeError(f"cannot read the template file {text[1:]}: {e}") from e
    if "{question}" not in text:
        raise argparse.ArgumentTypeError("the prompt template must contain {question}")
    return text


def unescape(text: str) -> str:
    """``\\n`` and ``\\t`` typed on a command line as the characters they name."""
    return text.replace("\\n", "\n").replace("\\t", "\t")


def add_generation_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generation")
    g.add_argument(
        "--generator",
        required=True,
        help="completions base URL (http://host:8000/v1), 'transformers' or 'vllm'",
    )
    g.add_argument("--model", required=True, help="the served model name, or a local path")
    g.add_argument("--n", type=int, default=8, help="rollouts per prefix (default: 8)")
    g.add_argument("--temperature", type=float, default=0.7, help="(default: 0.7)")
    g.add_argument("--top-p", type=float, default=1.0, help="(default: 1.0)")
    g.add_argument("--max-tokens", type=int, default=1024, help="new tokens per rollout (default: 1024)")
    g.add_argument("--seed", type=int, default=0, help="sampling seed, sent with every request (default: 0)")
    g.add_argument("--stop", action="append", default=[], help="a stop string (repeatable)")
    g.add_argument(
        "--template",
        type=_template,
        default="{question}\n\n",
        help="prompt template with {question}, or @FILE (default: the question and a blank line)",
    )
    g.add_argument(
        "--step-sep",
        default="\\n\\n",
        help="text between steps and after a prefix's last step (default: \\n\\n)",
    )
    g.add_argument("--concurrency", type=int, default=64, help="requests in flight (default: 64)")
    g.add_argument(
        "--request-timeout", type=float, default=600.0, help="time limit per request, seconds (default: 600)"
    )
    g.add_argument("--retries", type=int, default=5, help="retries of a failed request (default: 5)")
    g.add_argument("--device", default="auto", help="device of the transformers backend (default: auto)")

    v = p.add_argument_group("verification")
    v.add_argument("--server", metavar="HOST:PORT", help="verify through a running `mathreward serve`")
    v.add_argument("--connect-timeout", type=float, default=30.0, help="seconds to wait for --server")
    v.add_argument("--workers", type=int, default=None, help="verifier processes (default: all cores)")
    v.add_argument("--timeout-s", type=float, default=None, help="time limit per comparison, seconds")

    r = p.add_argument_group("Ray (see docs/rescore/engines.md)")
    r.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: this process; ray: chunks run in actors on Ray Data, each with its own generator "
        "and verifier, the rollout cache kept by this process's node (default: local)",
    )
    r.add_argument(
        "--ray-address",
        default=None,
        help="with --engine ray: a running cluster (auto on one of its nodes, or HOST:6379 of its head); "
        "default: RAY_ADDRESS, else a local Ray started for the run",
    )
    r.add_argument(
        "--ray-actors",
        type=int,
        default=None,
        help="with --engine ray: actors, one CPU each (default: one per CPU of the cluster; with "
        "--ray-gpus, at most one per --ray-gpus share of its GPUs); --concurrency is split between them",
    )
    r.add_argument(
        "--ray-gpus",
        type=float,
        default=None,
        help="with --engine ray: GPUs each actor asks for, its transformers or vllm policy loaded once "
        "on them (default: 1 for those generators, 0 for a URL)",
    )

    o = p.add_argument_group("run")
    o.add_argument("--resume", action="store_true", help="continue an interrupted run of the same command")
    o.add_argument(
        "--chunk-size",
        type=int,
        default=64,
        help="rows per checkpointed chunk; all their rollouts are in flight at once (default: 64)",
    )
    o.add_argument("--limit", type=int, default=None, help="only the first N rows")
    o.add_argument("--question-col", default=None, help="the question (default: question, else problem)")
    o.add_argument("--ref-col", default="answer", help="the reference answer (default: answer)")
    o.add_argument("--id-col", default="id", help="the row id, for the rejects file (default: id)")
    o.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="progress bar on a terminal, log lines otherwise (default: auto)",
    )
    o.add_argument("--log-every", type=float, default=10.0, help="seconds between log lines (default: 10)")
    o.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    o.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "annotate",
        help="label every step of every solution by rollouts (Math-Shepherd hard and soft estimation)",
        description="From each step prefix of each solution, sample N continuations from a policy, verify "
        "their final answers, and write TRL stepwise-supervision rows with hard and soft labels.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, help="JSONL, Parquet, or a datasets save_to_disk folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .jsonl or .parquet")
    add_generation_options(p)
    p.add_argument("--steps-col", default="steps", help="the steps, a list of strings (default: steps)")
    p.add_argument(
        "--solution-col",
        default="solution",
        help="the solution as one string, used when there is no steps column (default: solution)",
    )
    p.add_argument(
        "--step-mode",
        choices=("auto", "blank_lines", "step_k", "lines"),
        default="auto",
        help="how a solution string is cut into steps (default: auto)",
    )
    x = p.add_argument_group("export for TRL (see docs/trainers/exports.md)")
    x.add_argument(
        "--export",
        choices=("prm",),
        default=None,
        help="also write TRL stepwise-supervision rows: prompt, completions, labels (bools)",
    )
    x.add_argument("--export-path", type=Path, default=None, help="the export file (default: OUT.prm.jsonl)")
    x.add_argument(
        "--prm-labels",
        choices=("hard", "soft"),
        default="hard",
        help="hard labels, or soft labels turned into bools by --soft-threshold (default: hard)",
    )
    x.add_argument(
        "--soft-threshold",
        default=None,
        help="with --prm-labels soft: a step is + when its share of right rollouts is at least "
        "this (0.5, 1/2 or 50%%; default: 1/2)",
    )
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------------ the job loop


class JobError(Exception):
    """A run that cannot start or continue; the message says why."""


@dataclass
class ChunkOut:
    rows: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    counts: dict[str, Any] = field(default_factory=dict)  # summed into the checkpoint's "counts"


def merge_counts(total: dict[str, Any], add: dict[str, Any]) -> dict[str, Any]:
    """Sum numbers, and dicts of numbers or of lists of numbers, key by key."""
    out = dict(total)
    for k, v in add.items():
        if isinstance(v, dict):
            out[k] = merge_counts(out.get(k, {}), v)
        elif isinstance(v, list):
            old = out.get(k) or [0] * len(v)
            out[k] = [a + b for a, b in zip(old, v, strict=True)]
        else:
            out[k] = out.get(k, 0) + v
    return out


def text_at(row: dict[str, Any], path: str) -> str | None:
    from mathreward.rescore.io import MISSING, get_path

    v = get_path(row, path)
    if v is MISSING or v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return str(v)
    return v if isinstance(v, str) and v.strip() else None


def id_of(row: dict[str, Any], col: str, index: int) -> Any:
    """The row's id (a dotted path), else its 0-based index in the input."""
    from mathreward.rescore.io import MISSING, get_path

    v = get_path(row, col)
    return index if v is MISSING or v is None else v


def question_of(row: dict[str, Any], col: str | None) -> str | None:
    if col is not None:
        return text_at(row, col)
    q = text_at(row, "question")
    return q if q is not None else text_at(row, "problem")


def verify_config(args: argparse.Namespace) -> Any:
    """The in-process verifier's settings (``--timeout-s``)."""
    from verifier import VerifyConfig

    return VerifyConfig() if args.timeout_s is None else VerifyConfig(timeout_s=args.timeout_s)


def verify_fingerprint(args: argparse.Namespace) -> dict[str, Any]:
    """What the run's verdicts depend on (a resumed run must match it); the same on either engine."""
    if args.server:
        return {"verify": args.server}
    return {"verify": "local", "timeout_s": verify_config(args).timeout_s}


def make_verify_batch(args: argparse.Namespace) -> Any:
    """The verification backend: in process, or a running server (the one seam rescore uses)."""
    from mathreward.backend import LocalBackend, RemoteBackend, ServerSpec

    if args.server:
        spec = ServerSpec.resolve(args.server)
        assert spec is not None
        remote = RemoteBackend(spec)
        try:
            remote.wait_ready(timeout=args.connect_timeout)
        except Exception:
            remote.close()
            raise
        return remote
    config = verify_config(args)
    # the sandbox pool starts while the generator loads and the first rollouts are generated
    from verifier.sandbox import warm_up

    threading.Thread(target=warm_up, args=(config.memory_mb,), name="verifier-warm-up", daemon=True).start()
    return LocalBackend(config, workers=args.workers)


def sampling_params(args: argparse.Namespace) -> Any:
    from prm.generate import SamplingParams

    return SamplingParams(
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        seed=args.seed,
        stop=tuple(args.stop),
    )


def check_common(args: argparse.Namespace, name: str) -> str | None:
    """A one-line complaint about the shared options, or None."""
    if args.chunk_size < 1:
        return "--chunk-size must be >= 1"
    if args.n < 1 or args.max_tokens < 1 or args.concurrency < 1:
        return "--n, --max-tokens and --concurrency must be >= 1"
    if args.workers is not None and args.workers < 1:
        return "--workers must be >= 1"
    if args.server and (args.workers is not None or args.timeout_s is not None):
        return "with --server, the time limit and workers are the server's settings"
    if args.engine == "ray":
        if args.workers is not None:
            return "--engine ray verifies in its actors (one process each): use --ray-actors, not --workers"
        if args.ray_actors is not None and args.ray_actors < 1:
            return "--ray-actors must be >= 1"
        if args.ray_gpus is not None and not args.ray_gpus >= 0:
            return "--ray-gpus must be >= 0"
        if importlib.util.find_spec("ray") is None:
            return "--engine ray needs Ray: pip install 'mathreward[ray]'"
    elif args.ray_address or args.ray_actors is not None or args.ray_gpus is not None:
        return "--ray-address, --ray-actors and --ray-gpus go with --engine ray"
    if not args.input.exists():
        return f"{args.input}: no such file or folder"
    if args.output.resolve() == args.input.resolve():
        return "the output must not be the input"
    if not args.output.name.lower().endswith((".jsonl", ".parquet")):
        return "name the output .jsonl or .parquet"
    try:
        from prm.generate import backend_of

        backend = backend_of(args.generator)
    except ValueError as e:
        return str(e)
    needs = {"openai": "httpx", "transformers": "transformers", "vllm": "vllm"}[backend]
    if importlib.util.find_spec(needs) is None:
        return f"the {backend} generator needs {needs}: pip install {needs} (or 'mathreward[all]')"
    return None


def _progress(total: int, initial: int, args: argparse.Namespace, name: str, stream: TextIO) -> Any:
    from mathreward.rescore.progress import Progress, fmt_eta

    class JobProgress(Progress):
        def line(self, now: float) -> str:
            elapsed = max(now - self.t0, 1e-9)
            rate = (self.done - self.start_done) / elapsed
            eta = fmt_eta((self.total - self.done) / rate) if rate > 0 else "?"
            return (
                f"{name}: {self.done}/{self.total} rows, {self.responses} requests "
                f"({self.responses / elapsed:.1f}/s), ETA {eta}"
            )

    prog = JobProgress(total, initial, args.progress, args.log_every, stream)
    if prog.bar is not None:
        prog.bar.set_description(name)
    return prog


Process = Callable[[Sequence[Any], Any, Callable[[], None]], ChunkOut]
ChunkRunner = Callable[[Any, dict[str, Any], Any, int], dict[str, Any]]


def run_job(
    args: argparse.Namespace, name: str, fingerprint: dict[str, Any], run_chunks: ChunkRunner, stream: TextIO
) -> dict[str, Any]:
    """The resumable job: ``run_chunks(state, checkpoint, input_format, total_rows)`` processes the
    chunks from the checkpoint on, committing each with :func:`commit_chunk`, and returns the last
    checkpoint (:func:`_process_chunks` here, ``job_ray.RayJob.run`` on Ray).

    Returns the checkpoint's totals (``counts``) with ``rows``, ``rejected`` and ``wall_s``.
    """
    from mathreward.rescore import io as rio
    from mathreward.rescore.paths import rejects_path_for
    from mathreward.rescore.state import RunState, file_fingerprint

    in_fmt = rio.detect_format(args.input)
    state = RunState(args.output.with_name(args.output.name + f".{name}-state"), "jsonl")
    fp = {
        "version": STATE_VERSION,
        "command": name,
        "input": file_fingerprint(args.input),
        "limit": args.limit,
        **fingerprint,
    }
    cp = state.load() if state.root.exists() else None
    if cp is not None and args.resume:
        diff = sorted(k for k in set(fp) | set(cp["fingerprint"]) if fp.get(k) != cp["fingerprint"].get(k))
        if diff:
            raise JobError(
                f"cannot resume: {', '.join(diff)} changed since the interrupted run "
                f"(state in {state.root}); run without --resume to start over"
            )
        stream.write(f"{name}: resuming at row {cp['rows_done']} ({cp['chunks_done']} chunks done)\n")
        state.drop_parts_from(cp["chunks_done"])
    else:
        if state.root.exists():
            stream.write(f"{name}: discarding the unfinished run in {state.root} (no --resume)\n")
            shutil.rmtree(state.root)
        elif args.resume:
            stream.write(f"{name}: nothing to resume; starting from the first row\n")
        state.root.mkdir(parents=True)
        cp = {
            "fingerprint": fp,
            "chunk_size": args.chunk_size,
            "chunks_done": 0,
            "rows_done": 0,
            "rejected": 0,
            "wall_s": 0.0,
            "counts": {},
            "input_done": False,
        }
        state.save(cp)

    total = rio.count_rows(args.input, in_fmt)
    if args.limit is not None:
        total = min(total, args.limit)
    if not cp["input_done"]:
        cp = run_chunks(state, cp, in_fmt, total)
        cp = {**cp, "input_done": True}
        state.save(cp)

    # the output: the parts in order, into a temporary file moved into place
    for stale in args.output.parent.glob(f".{args.output.name}.*.tmp"):  # a run killed while writing
        stale.unlink(missing_ok=True)
    rejects: list[dict[str, Any]] = []
    for i in range(cp["chunks_done"]):
        if state.rejects_part(i).exists():
            rejects += rio.read_jsonl(state.rejects_part(i))
    written = _write_output(args.output, [state.part(i) for i in range(cp["chunks_done"])])
    rejects_path = rejects_path_for(args.output)
    if rejects or rejects_path.exists():
        rio.write_jsonl_part(rejects_path, rejects)
    shutil.rmtree(state.root, ignore_errors=True)
    return {
        **cp["counts"],
        "rows": cp["rows_done"],
        "rejected": cp["rejected"],
        "output_rows": written,
        "wall_s": cp["wall_s"],
    }


def _write_output(output: Path, parts: list[Path]) -> int:
    """The parts' rows, in order, into ``output`` (JSONL streamed; Parquet with one schema over every
    row's columns); atomic. Returns the number of rows."""
    from mathreward.rescore import io as rio

    if not output.name.lower().endswith(".parquet"):
        writer = rio.OutputWriter(output, "jsonl")
        try:
            for part in parts:
                writer.write(rio.read_jsonl(part))
            writer.commit()
        except BaseException:
            writer.abort()
            raise
        return writer.rows
    import pyarrow as pa

    rows = [r for part in parts for r in rio.read_jsonl(part)]
    if not rows:
        raise JobError("no row was written: a Parquet file needs at least one row (see the rejects)")
    names = list(dict.fromkeys(k for r in rows for k in r))  # every column of every row, in order
    try:
        schema = pa.Table.from_pylist([{k: r.get(k) for k in names} for r in rows]).schema
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise JobError(f"the rows do not fit one Parquet schema ({e}); name the output .jsonl") from e
    writer = rio.OutputWriter(output, "parquet", schema)
    try:
        writer.write(rows)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    return len(rows)


def commit_chunk(
    state: Any, cp: dict[str, Any], rows_read: int, res: ChunkOut, extra: dict[str, Any], wall_s: float
) -> dict[str, Any]:
    """Write one processed chunk's part (and rejects) and the checkpoint after it; the new checkpoint.
    ``extra`` (request counters) is summed into the counts with the chunk's own."""
    from mathreward.rescore import io as rio

    i = cp["chunks_done"]
    rio.write_jsonl_part(state.part(i), res.rows)
    if res.rejects:
        rio.write_jsonl_part(state.rejects_part(i), res.rejects)
    cp = {
        **cp,
        "chunks_done": i + 1,
        "rows_done": cp["rows_done"] + rows_read,
        "rejected": cp["rejected"] + len(res.rejects),
        "wall_s": wall_s,
        "counts": merge_counts(cp["counts"], {**res.counts, **extra}),
    }
    state.save(cp)
    return cp


def open_job_generator(
    args: argparse.Namespace, *, cache_path: Path | None = None, store: Any = None, share: int = 1
) -> Any:
    """The run's generator behind its cache file, or behind a store shared with other processes;
    ``share``: the number of generators that split ``--concurrency`` (the actors of a Ray run)."""
    from prm.generate import open_generator

    return open_generator(
        args.generator,
        args.model,
        cache_path=cache_path,
        store=store,
        http=http_options(args, share),
        device=args.device,
    )


def http_options(args: argparse.Namespace, share: int = 1) -> Any:
    """The completions client's settings, ``--concurrency`` split ``share`` ways; ValueError if bad."""
    from prm.generate import HTTPOptions

    return HTTPOptions(
        concurrency=max(1, -(-args.concurrency // share)),
        timeout_s=args.request_timeout,
        retries=args.retries,
    )


def _process_chunks(
    args: argparse.Namespace,
    process: Process,
    state: Any,
    cp: dict[str, Any],
    in_fmt: Any,
    total: int,
    name: str,
    stream: TextIO,
) -> dict[str, Any]:
    """The chunks from the checkpoint on, PIPELINE_DEPTH at a time, committed strictly in order.

    The next chunk's rollouts go out while the current one waits for its slowest requests, so the
    policy is not left idle at chunk boundaries; the generator shares its concurrency bound and its
    in-flight requests between the chunks.
    """
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    from mathreward.rescore import io as rio

    gen = open_job_generator(args, cache_path=state.root / "rollouts.jsonl")
    progress = _progress(total, cp["rows_done"], args, name, stream)
    lock = threading.Lock()

    def on_request() -> None:
        with lock:
            progress.update(0, 1)

    def chunks() -> Iterator[list[Any]]:
        for chunk in rio.iter_chunks(args.input, in_fmt, int(cp["chunk_size"]), start=cp["rows_done"]):
            if args.limit is not None:
                chunk = [r for r in chunk if r.index < args.limit]
                if not chunk:
                    return
            yield chunk

    pool = ThreadPoolExecutor(max_workers=PIPELINE_DEPTH, thread_name_prefix=f"{name}-chunk")
    pending: deque[tuple[list[Any], Future[ChunkOut]]] = deque()
    source = chunks()
    t0, base_s = time.perf_counter(), float(cp["wall_s"])
    sent = reused = 0
    try:
        while True:
            while len(pending) < PIPELINE_DEPTH:
                chunk = next(source, None)
                if chunk is None:
                    break
                pending.append((chunk, pool.submit(process, chunk, gen, on_request)))
            if not pending:
                break
            chunk, fut = pending.popleft()
            res = fut.result()
            gen.cache.sync()
            # requests sent and reused since the last commit (chunks overlap: counted as they commit)
            extra = {"requests_sent": gen.sent - sent, "requests_reused": gen.reused - reused}
            sent, reused = gen.sent, gen.reused
            cp = commit_chunk(state, cp, len(chunk), res, extra, base_s + time.perf_counter() - t0)
            with lock:
                progress.update(len(chunk), 0)
    finally:
        for _, fut in pending:
            fut.cancel()
        gen.close()  # a chunk still generating stops at its next request
        pool.shutdown(wait=True, cancel_futures=True)
        progress.close()
    return cp


def run_command(
    args: argparse.Namespace,
    name: str,
    fingerprint: dict[str, Any],
    process_factory: Callable[[Any], Process],
    format_summary: Callable[[dict[str, Any]], str],
    export: Any = None,
) -> int:
    """Start the engines, run the job, print and write the summary; the exit status. ``export`` (an
    :class:`~mathreward.rescore.exports.ExportOptions`) is written from the output once it is.
    ``process_factory(verify_batch)`` makes the chunk function: here once, on Ray once per actor."""
    from mathreward.rescore import io as rio
    from mathreward.rescore.paths import summary_path_for
    from mathreward.rescore.run import configure_logging
    from prm.generate import GenerationError

    configure_logging(args.verbose)
    err = sys.stderr
    problem = check_common(args, name)
    if problem:
        err.write(f"mathreward {name}: {problem}\n")
        return 2
    try:
        params = sampling_params(args)
        http_options(args)  # each generator builds its own (on Ray, in the actors): checked here first
    except ValueError as e:
        err.write(f"mathreward {name}: {e}\n")
        return 2
    engine: Any = None  # on Ray, every actor starts its own verifier
    if args.engine != "ray" or args.server:  # on Ray, a --server the actors will use is checked here
        try:
            engine = make_verify_batch(args)
        except Exception as e:  # an unreachable server: one clear line
            err.write(f"mathreward {name}: cannot start the verifier: {type(e).__name__}: {e}\n")
            return 2
        if args.engine == "ray":
            engine.close()
            engine = None
    fp = {
        "generator": args.generator,
        "model": args.model,
        "params": [
            params.n,
            params.temperature,
            params.top_p,
            params.max_tokens,
            params.seed,
            list(params.stop),
        ],
        "template": args.template,
        "step_sep": args.step_sep,
        **verify_fingerprint(args),
        **fingerprint,
    }

    try:  # the chunk function (on Ray each actor builds its own: built here too, so a bad option fails now)
        process = process_factory(engine.verify_batch if engine is not None else None)
    except (ValueError, OSError) as e:
        err.write(f"mathreward {name}: {e}\n")
        if engine is not None:
            engine.close()
        return 2
    run_chunks: ChunkRunner
    if engine is None:
        from mathreward.commands.job_ray import RayJob

        run_chunks = RayJob(
            args,
            name,
            process_factory,
            open_job_generator,
            make_verify_batch,
            commit_chunk,
            PIPELINE_DEPTH,
            progress=lambda total, done: _progress(total, done, args, name, err),
            stream=err,
        ).run
    else:

        def run_chunks(state: Any, cp: dict[str, Any], in_fmt: Any, total: int) -> dict[str, Any]:
            return _process_chunks(args, process, state, cp, in_fmt, total, name, err)

    try:
        totals = run_job(args, name, fp, run_chunks, err)
    except (JobError, rio.DatasetError, ValueError) as e:
        err.write(f"mathreward {name}: {e}\n")
        return 2
    except GenerationError as e:
        err.write(
            f"mathreward {name}: generation failed: {e}\n"
            "the finished chunks and rollouts are kept: continue with the same command and --resume\n"
        )
        return 1
    except KeyboardInterrupt:
        err.write(f"mathreward {name}: interrupted; continue with the same command and --resume\n")
        return 130
    except Exception as e:  # the verifier's server went away, the GPU ran out of memory, ...
        if args.verbose:
            import traceback

            traceback.print_exc()
        err.write(
            f"mathreward {name}: failed: {type(e).__name__}: {e}\n"
            "the finished chunks and rollouts are kept: continue with the same command and --resume\n"
        )
        return 1
    finally:
        if engine is not None:
            engine.close()
    if export is not None:
        try:
            totals["export"] = write_export(args.output, export)
        except (OSError, rio.DatasetError) as e:
            err.write(
                f"mathreward {name}: the output is written ({args.output}); the {export.kind} export "
                f"failed: {e}\n"
            )
            return 1
    totals["verifier_share"] = totals.get("verify_s", 0.0) / max(totals["wall_s"], 1e-9)
    rio.atomic_write_text(summary_path_for(args.output), json.dumps(totals, indent=2, sort_keys=True) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(totals, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(format_summary(totals) + "\n")
    return 0


def write_export(output: Path, opts: Any) -> dict[str, Any]:
    """The export of an annotate output, read back from the written file; its summary entry."""
    from mathreward.rescore import io as rio
    from mathreward.rescore.exports import PRMExporter

    exporter = PRMExporter(opts)
    try:
        for chunk in rio.iter_chunks(output, rio.detect_format(output), 1024):
            for raw in chunk:
                exporter.add(raw.row if raw.row is not None else {})
        return exporter.commit()
    except BaseException:
        exporter.abort()
        raise


def format_export(e: dict[str, Any]) -> str:
    left = {k: v for k, v in e["counts"].items() if k.startswith("rows_") and k != "rows_exported"}
    why = ", ".join(f"{v} {k[5:].replace('_', ' ')}" for k, v in left.items()) or "none"
    return f"  export         {e['kind']}: {e['rows']} rows to {e['path']} (left out: {why})"


def timing_counts(timing: Any) -> dict[str, Any]:
    return {
        "generate_s": timing.generate_s,
        "verify_s": timing.verify_s,
        "rollouts": timing.rollouts,
        "verified": timing.verified,
        "requests": timing.requests,
        "verify_failures": timing.verify_failures,
    }


def format_timing(t: dict[str, Any]) -> list[str]:
    wall = max(t.get("wall_s", 0.0), 1e-9)
    return [
        f"  requests       {t.get('requests', 0)} ({t.get('requests_sent', 0)} sent, "
        f"{t.get('requests_reused', 0)} from the cache or shared)",
        f"  rollouts       {t.get('rollouts', 0)} graded ({t.get('verified', 0)} distinct verified; "
        f"{t.get('verify_failures', 0)} verifier errors or timeouts, counted wrong)",
        f"  time           {wall:.1f} s: waiting on generation {t.get('generate_s', 0.0):.1f} s, "
        f"verifying {t.get('verify_s', 0.0):.1f} s ({100 * t.get('verify_s', 0.0) / wall:.1f}% of the time)",
    ]


# -------------------------------------------------------------------------------------- annotate


def _steps_of(row: dict[str, Any], args: argparse.Namespace) -> list[str] | str:
    """The row's steps, or why it has none."""
    from mathreward.rescore.io import MISSING, get_path
    from prm.steps import split_steps

    steps = get_path(row, args.steps_col)
    if steps is not MISSING and steps is not None:
        if not isinstance(steps, list | tuple) or not all(isinstance(s, str) for s in steps):
            return f"{args.steps_col} must be a list of strings"
        clean = [s.strip() for s in steps if s.strip()]
        return clean or f"{args.steps_col} has no non-empty step"
    solution = get_path(row, args.solution_col)
    if solution is MISSING or solution is None:
        return f"no {args.steps_col} and no {args.solution_col} column"
    if not isinstance(solution, str):
        return f"{args.solution_col} must be a string"
    got = split_steps(solution, mode=args.step_mode)
    return got or f"{args.solution_col} is empty"


def annotate_process(args: argparse.Namespace, verify_batch: Any) -> Any:
    from prm.annotate import RolloutConfig, Solution, Timing, annotate, stepwise_row

    config = RolloutConfig(
        params=sampling_params(args), template=args.template, step_sep=unescape(args.step_sep)
    )

    def process(raw_rows: Sequence[Any], gen: Any, on_request: Callable[[], None]) -> ChunkOut:
        rejects: list[dict[str, Any]] = []
        todo: list[tuple[dict[str, Any], Solution]] = []
        for raw in raw_rows:
            if raw.row is None:
                rejects.append({"row": raw.index, "id": None, "reason": raw.error})
                continue
            rid = id_of(raw.row, args.id_col, raw.index)
            q, ref = question_of(raw.row, args.question_col), text_at(raw.row, args.ref_col)
            steps = _steps_of(raw.row, args)
            reason = (
                "no question (question or problem column)"
                if q is None
                else f"no reference ({args.ref_col} column)"
                if ref is None
                else steps
                if isinstance(steps, str)
                else None
            )
            if reason is not None or q is None or ref is None or isinstance(steps, str):
                rejects.append({"row": raw.index, "id": rid, "reason": reason})
                continue
            todo.append((raw.row, Solution(q, ref, tuple(steps))))
        timing = Timing()
        results = annotate([s for _, s in todo], gen, config, verify_batch, timing, on_request)
        rows = []
        positions = [[0, 0, 0.0] for _ in range(POSITION_CAP)]  # per position: steps, positive, soft sum
        for (row, sol), res in zip(todo, results, strict=True):
            rows.append({**row, **stepwise_row(sol, res)})
            for k, (hard, soft) in enumerate(zip(res.labels, res.soft_labels, strict=True)):
                slot = positions[min(k, POSITION_CAP - 1)]
                slot[0] += 1
                slot[1] += int(hard)
                slot[2] += soft
        counts = timing_counts(timing)
        counts["steps"] = sum(len(s.steps) for _, s in todo)
        counts["positives"] = sum(sum(r.labels) for r in results)
        counts["last_step_correct"] = sum(r.labels[-1] for r in results)
        counts["by_position"] = {str(k + 1): v for k, v in enumerate(positions) if v[0]}
        return ChunkOut(rows, rejects, counts)

    return process


def format_annotate(t: dict[str, Any]) -> str:
    steps = max(t.get("steps", 0), 1)
    lines = [
        "annotate summary",
        f"  rows           {t['rows']} read, {t['output_rows']} annotated, {t['rejected']} rejected",
        f"  steps          {t.get('steps', 0)} ({100 * t.get('positives', 0) / steps:.1f}% labelled +); "
        f"{t.get('last_step_correct', 0)} solutions with a right final answer",
        *format_timing(t),
        "  labels by step position (steps, + share, mean soft label):",
    ]
    for pos, (n, pos_n, soft) in sorted(t.get("by_position", {}).items(), key=lambda kv: int(kv[0])):
        label = f"{pos}+" if int(pos) == POSITION_CAP else pos
        lines.append(f"    step {label:>3}  {n:6d}  {pos_n / n:6.3f}  {soft / n:6.3f}")
    if "export" in t:
        lines.append(format_export(t["export"]))
    return "\n".join(lines)


def export_options(args: argparse.Namespace) -> Any:
    """The ``--export`` settings, or None; ValueError with a one-line reason for a bad combination."""
    from mathreward.rescore.exports import ExportOptions, default_export_path, soft_threshold

    if args.export is None:
        if args.export_path is not None or args.prm_labels != "hard" or args.soft_threshold is not None:
            raise ValueError("--export-path, --prm-labels and --soft-threshold need --export prm")
        return None
    if args.soft_threshold is not None and args.prm_labels != "soft":
        raise ValueError("--soft-threshold applies to --prm-labels soft")
    path = args.export_path or default_export_path(args.output, args.export)
    if path.resolve() in (args.output.resolve(), args.input.resolve()):
        raise ValueError("the export file must not be the input or the output")
    threshold = soft_threshold(args.soft_threshold if args.soft_threshold is not None else "1/2")
    return ExportOptions(kind=args.export, path=path, prm_labels=args.prm_labels, soft_threshold=threshold)


def run(args: argparse.Namespace) -> int:
    fp = {
        "steps_col": args.steps_col,
        "solution_col": args.solution_col,
        "step_mode": args.step_mode,
        "question_col": args.question_col,
        "ref_col": args.ref_col,
    }
    try:
        export = export_options(args)
    except ValueError as e:
        sys.stderr.write(f"mathreward annotate: {e}\n")
        return 2
    return run_command(args, "annotate", fp, lambda vb: annotate_process(args, vb), format_annotate, export)
