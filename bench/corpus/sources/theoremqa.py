"""wenhuchen/TheoremQA (Chen et al., EMNLP 2023): zero-shot chain-of-thought answers of GPT-4,
ChatGPT, GPT-3.5, Claude (v1, v2, instant), Alpaca, Vicuna and Pythia to university-level questions,
prompted to end "Therefore, the answer is ...", each with the repository's own ``correct`` label
(its ``predict_accuracy.py``: numbers compared within a relative tolerance, lists element-wise). The
outputs were deleted from the repository later; the pin is the last commit that has them. Questions
whose answer is True/False are left out (not a math answer); integer, float, list and option answers
are kept. Licence: MIT (LICENSE).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.corpus.common import Pin, Record, number_text, read_json_at, spread

NAME = "theoremqa"
PIN = Pin("wenhuchen/TheoremQA", "0f6bbb061d0cbea9eea0e7eec4a3b6246e40cd6a")
FILES = {
    "outputs/GPT4_s0_e-1_06_15_22_38.jsonl.corrected": "gpt-4",
    "outputs/ChatGPT_s0_e-1_05_13_10_25.jsonl.corrected": "chatgpt",
    "outputs/GPT3.5_s0_e-1_05_13_11_04.jsonl.corrected": "text-davinci-003",
    "outputs/anthropic_v2_s0_e-1_08_02_00_15.jsonl.corrected": "claude-2",
    "outputs/anthropic_instant-v1_s0_e-1_05_27_09_42.jsonl.corrected": "claude-instant-1",
    "outputs/vicuna_s0_e-1_05_16_19_54.jsonl.corrected": "vicuna",
}
PER_FILE = 85  # 6 x 85 = 510
KINDS = ("integer", "float", "list of integer", "list of float", "option")

OVERRIDES: dict[str, tuple[bool, str]] = {}


def reference(answer: Any) -> str:
    if isinstance(answer, list):
        return "[" + ", ".join(number_text(a) for a in answer) + "]"
    return number_text(answer)


def build(extra: Path | None = None) -> list[Record]:
    out: list[Record] = []
    for path, model in FILES.items():
        rows = [r for r in read_json_at(PIN, path, extra) if r["answer_type"] in KINDS and r.get("rationale")]
        rows.sort(key=lambda r: r["id"])
        for row in spread(rows, PER_FILE):
            out.append(
                Record(
                    source=NAME,
                    id=f"{NAME}/{model}/{row['id']}",
                    question=row["question"],
                    response=row["rationale"],
                    reference=reference(row["answer"]),
                    source_label=bool(row["correct"]),
                    meta={"model": model, "dataset": "theoremqa", "answer_type": row["answer_type"]},
                )
            )
    return out
