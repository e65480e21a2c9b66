"""Shared by the adapter tests: the case table, the reward settings they run under, the lines that
``mathreward adapters`` prints, and a byte-level tokenizer built here (no hub)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CASES_FILE = ROOT / "fixtures" / "adapter_cases.jsonl"

# The settings each trainer test runs under, as `mathreward adapters` flags, and the reward each
# outcome must then get (written out here, not computed by the code under test).
PROFILES: dict[str, dict[str, Any]] = {
    "lenient": {
        "flags": [],
        "settings": {},
        "strict": False,
        "rewards": {"correct": 1.0, "incorrect": -1.0, "no_answer": -1.0, "error": -1.0},
    },
    "lenient_no_answer_zero": {
        "flags": ["--no-answer-reward", "0"],
        "settings": {"no_answer_reward": 0.0},
        "strict": False,
        "rewards": {"correct": 1.0, "incorrect": -1.0, "no_answer": 0.0, "error": -1.0},
    },
    "strict": {
        "flags": ["--strict-format", "--no-answer-reward", "0", "--format-reward", "-0.5"],
        "settings": {"strict_format": True, "no_answer_reward": 0.0, "format_reward": -0.5},
        "strict": True,
        "rewards": {"correct": 1.0, "incorrect": -1.0, "no_answer": 0.0, "format": -0.5, "error": -1.0},
    },
}


def load_cases() -> list[dict[str, Any]]:
    """fixtures/adapter_cases.jsonl: prompt, response, reference, expect (lenient outcome:
    correct|incorrect|no_answer|error), expect_strict (the outcome in the strict format mode, which
    adds ``format``), why."""
    with CASES_FILE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def outcome(case: dict[str, Any], profile: str) -> str:
    return case["expect_strict"] if PROFILES[profile]["strict"] else case["expect"]


def expected_reward(case: dict[str, Any], profile: str = "lenient") -> float:
    return float(PROFILES[profile]["rewards"][outcome(case, profile)])


def printed_lines(*args: str) -> list[str]:
    """What ``mathreward adapters ARGS`` prints: its non-empty, non-comment lines."""
    from mathreward.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["adapters", *args]) == 0
    return [line for line in out.getvalue().splitlines() if line.strip() and not line.startswith("#")]


def split_exports(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """``export NAME=VALUE`` lines as a dict, and the other lines."""
    import shlex

    env: dict[str, str] = {}
    rest: list[str] = []
    for line in lines:
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
        else:
            rest.append(line)
    return env, rest


SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def byte_tokenizer(out: Path) -> Any:
    """A byte-level tokenizer with no merges (every byte one token), so decode(encode(text)) == text
    for any text, plus chat special tokens; saved to ``out`` for ``AutoTokenizer.from_pretrained``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    fast.save_pretrained(str(out))
    return fast
