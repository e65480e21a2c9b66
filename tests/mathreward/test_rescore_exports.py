"""``mathreward rescore --export sft|dpo`` and its sharp edges, with TRL's own dataset preparation.

The exports are built by the CLI from fixtures/datasets/export_cases.jsonl (plain layout, string
prompts) and export_chat_cases.jsonl (verl layout, chat prompts), then handed to TRL 1.16's
``SFTTrainer`` and ``DPOTrainer`` (a tiny Llama and a byte-level tokenizer built here): their
constructors run TRL's dataset preparation (type detection, chat template, tokenization), which
must accept every row. Every ``completion`` and ``chosen`` must be a response the rescored output
grades right, every ``rejected`` one it grades wrong.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from mathreward.rescore.difficulty import difficulty_bucket
from mathreward.rescore.filters import FilterOptions, keep_problem
from mathreward.rescore.pass_range import parse_rate
from mathreward.rescore.repetition import is_repetitive
from tests.mathreward.adapter_helpers import byte_tokenizer

ROOT = Path(__file__).resolve().parents[2]
STANDARD = ROOT / "fixtures" / "datasets" / "export_cases.jsonl"
CHAT = ROOT / "fixtures" / "datasets" / "export_chat_cases.jsonl"
REPETITION = ROOT / "fixtures" / "repetition_cases.jsonl"
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
RANGE = ["--min-correct", "1", "--max-pass-rate", "1/2"]  # solved at least once, at most half the time


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def rescore(tmp_path: Path, source: Path, *flags: str) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Run the CLI; returns the rescored rows, the summary and stderr."""
    import contextlib
    import io

    from mathreward.cli import main

    out = tmp_path / "out.jsonl"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(["rescore", str(source), "-o", str(out), "--workers", "1", "--progress", "none", *flags])
    assert code == 0, err.getvalue()
    summary = json.loads((tmp_path / "out.summary.json").read_text(encoding="utf-8"))
    return read_jsonl(out), summary, err.getvalue()


def graded(rows: list[dict[str, Any]]) -> tuple[set[str], set[str]]:
    """The response texts the rescored output grades right, and those it grades wrong."""
    right, wrong = set(), set()
    for row in rows:
        for text, ok in zip(row["responses"], row["correct"], strict=True):
            (right if ok else wrong).add(text)
    return right, wrong


def text_of(value: Any) -> str:
    if isinstance(value, list):
        [turn] = value
        assert turn["role"] == "assistant"
        return str(turn["content"])
    return str(value)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    out = tmp_path_factory.mktemp("tiny_policy")
    tokenizer = byte_tokenizer(out)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(out))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(str(out))
    return str(out), tokenizer  # by path, as a user names a model (DPO loads its reference from it)


# ----------------------------------------------------------------------------- sharp edges, unit level


def test_pass_rate_bounds_are_exact_and_counts_say_solved_at_least_once() -> None:
    assert parse_rate("0.01") == Fraction(1, 100) and parse_rate("1/3") == Fraction(1, 3)
    assert parse_rate("50%") == Fraction(1, 2)
    with pytest.raises(ValueError, match="rate in"):
        parse_rate("1.5")
    once_in_128 = Fraction(1, 128)
    assert not keep_problem(once_in_128, [0, 1], FilterOptions(min_pass_rate=parse_rate("0.01")), 1)
    solved_once = FilterOptions(min_correct=1, max_pass_rate=parse_rate("1/2"))
    assert keep_problem(once_in_128, [0, 1], solved_once, 1)
    assert keep_problem(Fraction(64, 128), [0, 1], solved_once, 64)  # exactly half: kept
    assert not keep_problem(Fraction(65, 128), [0, 1], solved_once, 65)
    assert not keep_problem(Fraction(0, 128), [None], solved_once, 0)
    third = FilterOptions(max_pass_rate=parse_rate("1/3"))  # no float of 1/3 decides this boundary
    assert keep_problem(Fraction(1, 3), [0, 1], third, 1) and not keep_problem(
        Fraction(34, 100), [0], third, 34
    )


@pytest.mark.parametrize("case", read_jsonl(REPETITION), ids=lambda c: c["why"])
def test_repetition_flag(case: dict[str, Any]) -> None:
    assert is_repetitive(case["response"]) is case["repetitive"]


def test_difficulty_buckets() -> None:
    got = [difficulty_bucket(c, 8) for c in range(9)]
    assert got == ["unsolved", "hard", "hard", "medium", "medium", "medium", "easy", "easy", "solved"]
    assert difficulty_bucket(0, 0) is None


# ----------------------------------------------------------------------------- the CLI and TRL


def test_rescore_adds_flags_buckets_and_warns_when_k_exceeds_the_responses(tmp_path: Path) -> None:
    rows, summary, err = rescore(tmp_path, STANDARD, "--k", "1,8")
    by_id = {r["id"]: r for r in rows}
    assert {i: r["difficulty"] for i, r in by_id.items()} == {
        "A": "hard",
        "B": "hard",
        "C": "solved",
        "D": "unsolved",
        "E": "medium",
    }
    assert by_id["E"]["repetition"] == [False, True, False, False, False, False]
    assert not any(any(r["repetition"]) for i, r in by_id.items() if i != "E")
    # k=8 exceeds the 4 or 6 responses of four problems (B has 8): said, and pass@8 empty for them
    assert summary["warnings"] == [
        "k=8 exceeds the responses of 4 problems: their pass@8 and maj@8 are empty"
    ]
    assert "warning: k=8 exceeds the responses of 4 problems" in err
    assert by_id["A"]["pass@8"] is None and by_id["B"]["pass@8"] == 1.0


def test_sft_export_goes_through_trls_sft_preparation(tmp_path: Path, tiny: tuple[Any, Any]) -> None:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    rows, summary, _ = rescore(tmp_path, STANDARD, *RANGE, "--export", "sft")
    export = read_jsonl(tmp_path / "out.sft.jsonl")
    right, _ = graded(rows)
    assert export and all(text_of(r["completion"]) in right for r in export)  # rejection sampling
    assert {r["prompt"] for r in export} == {"What is 2+2?", "What is 3*3?", "What is 6/3?"}
    assert len(export) == 1 + 1 + 2  # E: two right responses; its loop is never exported
    assert not any(is_repetitive(text_of(r["completion"])) for r in export)
    counts = summary["export"]["counts"]
    assert counts["problems"] == 5 and counts["problems_removed_by_pass_rate_range"] == 2
    assert counts["responses_removed_as_repetitive"] == 1 and counts["problems_exported"] == 3
    assert summary["export"]["rows"] == len(export)

    model, tokenizer = tiny
    args = SFTConfig(output_dir=str(tmp_path / "sft"), report_to="none", use_cpu=True, max_length=512)
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(export), processing_class=tokenizer
    )
    prepared = trainer.train_dataset
    assert len(prepared) == len(export)
    assert {"input_ids", "labels"} <= set(prepared.column_names)
    for example, row in zip(prepared, export, strict=True):  # the loss is on the completion only
        ids = [t for t in example["labels"] if t != -100]
        assert tokenizer.decode(ids, skip_special_tokens=True) == row["completion"]


@pytest.mark.parametrize("source", [STANDARD, CHAT], ids=["standard", "conversational"])
def test_dpo_export_goes_through_trls_dpo_preparation(
    tmp_path: Path, tiny: tuple[Any, Any], source: Path
) -> None:
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    rows, summary, _ = rescore(tmp_path, source, *RANGE, "--export", "dpo", "--pairs-per-problem", "1")
    export = read_jsonl(tmp_path / "out.dpo.jsonl")
    right, wrong = graded(rows)
    assert len(export) == 3  # A, B, E: one pair each
    assert all(text_of(r["chosen"]) in right and text_of(r["rejected"]) in wrong for r in export)
    chat = source == CHAT
    assert all(isinstance(r["prompt"], list) is chat for r in export)
    assert summary["export"]["counts"]["right_responses_over_pairs_per_problem"] == 1  # E had two
    again = rescore(tmp_path / "again", source, *RANGE, "--export", "dpo", "--pairs-per-problem", "1")
    assert read_jsonl(tmp_path / "again" / "out.dpo.jsonl") == export  # the draw has a fixed seed
    assert again[1]["export"]["seed"] == 0

    model, tokenizer = tiny
    args = DPOConfig(output_dir=str(tmp_path / "dpo"), report_to="none", use_cpu=True, max_length=512)
    trainer = DPOTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(export), processing_class=tokenizer
    )
    prepared = trainer.train_dataset
    assert len(prepared) == len(export)
    assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(prepared.column_names)
    for example, row in zip(prepared, export, strict=True):
        assert text_of(row["chosen"]) in tokenizer.decode(example["chosen_ids"])
        assert text_of(row["rejected"]) in tokenizer.decode(example["rejected_ids"])


def test_sft_export_of_chats_is_conversational(tmp_path: Path, tiny: tuple[Any, Any]) -> None:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    _, _, _ = rescore(tmp_path, CHAT, *RANGE, "--export", "sft")
    export = read_jsonl(tmp_path / "out.sft.jsonl")
    assert export and all(r["prompt"][-1]["role"] == "user" for r in export)
    model, tokenizer = tiny
    args = SFTConfig(output_dir=str(tmp_path / "sft"), report_to="none", use_cpu=True, max_length=512)
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(export), processing_class=tokenizer
    )
    first = trainer.train_dataset[0]
    assert "<|im_start|>assistant" in tokenizer.decode(first["input_ids"])  # the chat template ran


def test_a_response_without_a_wrong_verdict_is_never_rejected(tmp_path: Path) -> None:
    """A timeout, an error or an unreadable answer says nothing about the response (it may be right):
    such a response is never a DPO `rejected`; one graded incorrect (or with no answer) is."""
    from mathreward.rescore.columns import Columns
    from mathreward.rescore.exports import Exporter, ExportOptions

    cols = Columns(
        layout="plain", reference="answer", responses="responses", question="question", id=None, source=None
    )
    out = tmp_path / "x.dpo.jsonl"
    exporter = Exporter(ExportOptions(kind="dpo", path=out), FilterOptions(), cols)
    row = {"question": "q?", "answer": "6", "responses": ["right", "slow", "broken", "odd", "wrong"]}
    statuses = ["correct", "timeout", "error", "unparseable", "incorrect"]
    correct = [True, False, False, False, False]
    for _ in range(20):  # every draw of the seeded choice lands on the one response graded wrong
        exporter.add(row, correct, [False] * 5, [0, None, None, 1, 2], statuses)
    only_ungraded = {**row, "responses": ["right", "slow"]}
    exporter.add(only_ungraded, [True, False], [False, False], [0, None], ["correct", "timeout"])
    summary = exporter.commit()
    rows = read_jsonl(out)
    assert len(rows) == 20 and {r["rejected"] for r in rows} == {"wrong"}
    assert summary["counts"]["responses_not_graded_wrong"] == 3 * 20 + 1
    assert summary["counts"]["problems_without_a_wrong_response"] == 1
