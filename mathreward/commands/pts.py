"""``mathreward pts IN -o OUT --generator URL --model NAME --tokenizer PATH``: pivotal token search.

Writes one DPO row per pivotal token found (prompt = templated question + the solution's text before
the token; chosen/rejected = one token each, the original and a sampled alternative; with both success
probabilities). Resumable like ``annotate`` (same job loop, same rollout cache).
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mathreward.commands.annotate import (
    ChunkOut,
    add_generation_options,
    format_timing,
    id_of,
    question_of,
    run_command,
    text_at,
    timing_counts,
)

EPILOG = """\
input rows: question (or problem), answer (the reference), solution (a string: the tokens searched).
output rows (what TRL's DPOTrainer loads): prompt, chosen, rejected, chosen_p, rejected_p, p_before,
position (the token's index), token_id, original_is_chosen; plus the input's id, question and answer.

example:
  mathreward pts sols.jsonl -o pairs.jsonl --generator http://localhost:8000/v1 --model M \\
      --tokenizer ./M --n 16 --threshold 0.2
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "pts",
        help="pivotal token search: DPO pairs at the tokens where the success probability jumps",
        description="Estimate p(success | question, first i tokens) by rollouts, bisect each solution for "
        "the "
        "tokens where it changes by at least --threshold, and write a DPO row for each.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, help="JSONL, Parquet, or a datasets save_to_disk folder")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .jsonl or .parquet")
    p.add_argument(
        "--tokenizer",
        default=None,
        help="the policy's tokenizer, a local folder (default: --model, when it is a folder)",
    )
    p.add_argument("--solution-col", default="solution", help="the solution string (default: solution)")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.2,
        help="the least change in success probability that makes a token pivotal (default: 0.2)",
    )
    p.add_argument(
        "--alternatives",
        type=int,
        default=8,
        help="next-token samples drawn at each pivotal token (default: 8)",
    )
    p.add_argument(
        "--max-alternatives",
        type=int,
        default=4,
        help="distinct alternatives whose probability is estimated (default: 4)",
    )
    p.add_argument(
        "--alt-temperature",
        type=float,
        default=1.0,
        help="temperature of the next-token samples (default: 1.0)",
    )
    add_generation_options(p)
    p.set_defaults(func=run)


class _LockedTokenizer:
    """The two calls pivotal token search makes, one thread at a time (chunks run on two threads)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.lock = threading.Lock()

    def encode(self, text: str, **kw: Any) -> list[int]:
        with self.lock:
            return list(self.tokenizer.encode(text, **kw))

    def decode(self, ids: list[int], **kw: Any) -> str:
        with self.lock:
            return str(self.tokenizer.decode(ids, **kw))


def _tokenizer(args: argparse.Namespace) -> Any:
    path = args.tokenizer or args.model
    if not Path(path).is_dir():
        raise ValueError(f"--tokenizer must be a local folder with the policy's tokenizer; {path} is not one")
    from transformers import AutoTokenizer

    return _LockedTokenizer(AutoTokenizer.from_pretrained(path))


def pts_process(args: argparse.Namespace, verify_batch: Any) -> Any:
    from mathreward.commands.annotate import sampling_params, unescape
    from prm.annotate import RolloutConfig, Timing
    from prm.pts import PTSConfig, PTSItem, dpo_rows, search

    config = PTSConfig(
        rollout=RolloutConfig(
            params=sampling_params(args), template=args.template, step_sep=unescape(args.step_sep)
        ),
        threshold=args.threshold,
        alternatives=args.alternatives,
        max_alternatives=args.max_alternatives,
        alt_temperature=args.alt_temperature,
    )
    tokenizer = _tokenizer(args)

    def process(raw_rows: Sequence[Any], gen: Any, on_request: Callable[[], None]) -> ChunkOut:
        rejects: list[dict[str, Any]] = []
        todo: list[tuple[Any, PTSItem]] = []
        for raw in raw_rows:
            if raw.row is None:
                rejects.append({"row": raw.index, "id": None, "reason": raw.error})
                continue
            rid = id_of(raw.row, args.id_col, raw.index)
            q, ref = question_of(raw.row, args.question_col), text_at(raw.row, args.ref_col)
            sol = text_at(raw.row, args.solution_col)
            reason = (
                "no question (question or problem column)"
                if q is None
                else f"no reference ({args.ref_col} column)"
                if ref is None
                else f"no solution ({args.solution_col} column)"
                if sol is None
                else None
            )
            if reason is not None or q is None or ref is None or sol is None:
                rejects.append({"row": raw.index, "id": rid, "reason": reason})
                continue
            todo.append((rid, PTSItem(q, ref, sol)))
        timing = Timing()
        found = search([it for _, it in todo], tokenizer, gen, config, verify_batch, timing, on_request)
        rows: list[dict[str, Any]] = []
        for (rid, it), pivots in zip(todo, found, strict=True):
            for r in dpo_rows(it, pivots, config.rollout.template):
                rows.append({"id": rid, "question": it.question, "answer": it.reference, **r})
        counts = timing_counts(timing)
        counts["solutions"] = len(todo)
        counts["pivotal_tokens"] = sum(len(f) for f in found)
        counts["raising"] = sum(pv.p_after > pv.p_before for f in found for pv in f)
        counts["pairs"] = len(rows)
        return ChunkOut(rows, rejects, counts)

    return process


def format_pts(t: dict[str, Any]) -> str:
    return "\n".join(
        [
            "pts summary",
            f"  rows           {t['rows']} read, {t.get('solutions', 0)} searched, {t['rejected']} rejected",
            f"  pivotal tokens {t.get('pivotal_tokens', 0)} ({t.get('raising', 0)} raise p); "
            f"{t.get('pairs', 0)} DPO pairs written",
            *format_timing(t),
        ]
    )


def run(args: argparse.Namespace) -> int:
    if not 0 < args.threshold <= 1:
        import sys

        sys.stderr.write("mathreward pts: --threshold must be in (0, 1]\n")
        return 2
    fp = {
        "tokenizer": args.tokenizer,
        "solution_col": args.solution_col,
        "threshold": args.threshold,
        "alternatives": [args.alternatives, args.max_alternatives, args.alt_temperature],
        "question_col": args.question_col,
        "ref_col": args.ref_col,
    }
    return run_command(args, "pts", fp, lambda vb: pts_process(args, vb), format_pts)
