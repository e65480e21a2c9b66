"""``mathreward verify``: grade one answer, or a stream of JSONL pairs from stdin.

    mathreward verify --pred 'So the answer is $\\boxed{\\frac12}$.' --ref 0.5 [--question Q] [--json]
    mathreward verify - < pairs.jsonl > verdicts.jsonl

Exit status: one pair -> 0 correct, 1 not correct (any other status); stdin -> 0 when every line was a
well-formed pair, 2 when some line was malformed (each such line still gets its own error verdict).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import IO, Any

# lines handed to verify_batch at a time in the stdin form (bounded memory, output in input order)
CHUNK_LINES = 256


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "verify",
        help="check a final answer against a reference",
        description="Check a model's final answer against a reference answer. Prints the verdict and "
        "its reason; exit status 0 when correct, 1 otherwise. With '-', reads JSONL objects "
        '{"pred", "ref"[, "question", "id"]} from stdin and writes one JSON verdict per line, in order.',
    )
    p.add_argument("source", nargs="?", choices=["-"], help="'-': read JSONL pairs from stdin")
    p.add_argument("--pred", help="the model's response or bare answer")
    p.add_argument("--ref", help="the reference answer")
    p.add_argument("--question", default=None, help="the question (lets 'round to ...' allow rounding)")
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="SymPy time limit, seconds")
    p.add_argument(
        "--answer-conventions",
        metavar="NAMES",
        default=None,
        help="strict mode for format rewards: a comma-separated list of the answer conventions that count "
        "(e.g. 'boxed'; all: " + ", ".join(_convention_names()) + "); a response that states its answer "
        "any other way is no_answer. Default: every convention",
    )
    p.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    j = p.add_argument_group("LLM second opinion (only for answers the rules reject but may have misread)")
    j.add_argument(
        "--judge-url", metavar="URL", help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1"
    )
    j.add_argument("--judge-model", metavar="NAME", help="the judge model's name at that endpoint")
    j.add_argument(
        "--judge-api-key-env",
        metavar="VAR",
        default="OPENAI_API_KEY",
        help="env variable holding the API key",
    )
    p.set_defaults(func=run)


def _convention_names() -> list[str]:
    from verifier.extract import RECOGNIZERS

    return [r.name for r in RECOGNIZERS]


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from verifier import VerifyConfig

    config = VerifyConfig()
    if args.answer_conventions is not None:
        names = tuple(n.strip() for n in args.answer_conventions.split(",") if n.strip())
        unknown = [n for n in names if n not in _convention_names()]
        if not names or unknown:
            print(
                f"mathreward verify: --answer-conventions: unknown {unknown or 'empty list'}; "
                f"known: {', '.join(_convention_names())}",
                file=sys.stderr,
            )
            return 2
        config = replace(config, answer_conventions=names)
    if args.timeout is not None:
        if not args.timeout > 0:
            print("mathreward verify: --timeout must be a positive number of seconds", file=sys.stderr)
            return 2
        config = replace(config, timeout_s=args.timeout)
    if args.judge_url is not None or args.judge_model is not None:
        from verifier.judge import JudgeConfig

        if args.judge_url is None or args.judge_model is None:
            print("mathreward verify: --judge-url and --judge-model go together", file=sys.stderr)
            return 2
        try:
            judge = JudgeConfig(
                base_url=args.judge_url, model=args.judge_model, api_key_env=args.judge_api_key_env
            )
        except ValueError as exc:
            print(f"mathreward verify: {exc}", file=sys.stderr)
            return 2
        config = replace(config, judge=judge)
    if args.source == "-":
        if args.pred is not None or args.ref is not None:
            print("mathreward verify: give either '-' or --pred/--ref, not both", file=sys.stderr)
            return 2
        return _run_stream(sys.stdin, sys.stdout, config)
    if args.pred is None or args.ref is None:
        print("mathreward verify: --pred and --ref are required (or '-' to read JSONL)", file=sys.stderr)
        return 2
    return _run_one(args.pred, args.ref, args.question, config, as_json=args.json)


def _run_one(pred: str, ref: str, question: str | None, config: Any, *, as_json: bool) -> int:
    from verifier import verify

    verdict = verify(pred, ref, question=question, config=config)
    if as_json:
        print(json.dumps(verdict.to_dict(), ensure_ascii=False))
    else:
        print(f"{verdict.status.value} ({verdict.method.value}): {verdict.reason}")
        print(f"  answer:    {verdict.pred_answer if verdict.pred_answer is not None else '-'}")
        print(f"  reference: {verdict.ref_answer if verdict.ref_answer is not None else '-'}")
        print(f"  time:      {verdict.elapsed_s * 1000:.2f} ms")
        if verdict.judge is not None:
            j = verdict.judge
            print(f"  judge:     {j.model}: {j.label if j.available else 'unavailable (' + j.detail + ')'}")
    return 0 if verdict else 1


def _parse_line(lineno: int, line: str) -> tuple[tuple[str, str, str | None] | None, Any, str]:
    """(pair or None, id, error message) for one input line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, None, f"line {lineno}: not JSON ({exc.msg})"
    if not isinstance(obj, dict):
        return None, None, f"line {lineno}: expected a JSON object"
    item_id = obj.get("id")
    pred, ref, question = obj.get("pred"), obj.get("ref"), obj.get("question")
    if not isinstance(pred, str):
        return None, item_id, f"line {lineno}: 'pred' must be a string"
    if not isinstance(ref, str):
        return None, item_id, f"line {lineno}: 'ref' must be a string"
    if question is not None and not isinstance(question, str):
        return None, item_id, f"line {lineno}: 'question' must be a string or null"
    return (pred, ref, question), item_id, ""


def _chunks(stream: IO[str]) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for lineno, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        chunk.append((lineno, line))
        if len(chunk) >= CHUNK_LINES:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _run_stream(stdin: IO[str], stdout: IO[str], config: Any) -> int:
    from verifier import verify_batch

    malformed = 0
    for chunk in _chunks(stdin):
        parsed = [_parse_line(lineno, line) for lineno, line in chunk]
        good = [(k, p[0]) for k, p in enumerate(parsed) if p[0] is not None]
        verdicts = verify_batch(
            [(pair[0], pair[1]) for _, pair in good], questions=[pair[2] for _, pair in good], config=config
        )
        by_index = {k: v for (k, _), v in zip(good, verdicts, strict=True)}
        for k, (pair, item_id, error) in enumerate(parsed):
            if pair is None:
                malformed += 1
                out = _error_line(error)
            else:
                out = by_index[k].to_dict()
            if item_id is not None:
                out = {"id": item_id, **out}
            stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return 2 if malformed else 0


def _error_line(reason: str) -> dict[str, Any]:
    return {
        "correct": False,
        "status": "error",
        "method": "none",
        "pred_answer": None,
        "ref_answer": None,
        "reason": reason,
        "elapsed_s": 0.0,
    }
