"""lupantech/MathVista (Lu et al., ICLR 2024): testmini answers of Bard, Claude-2, ChatGPT and GPT-4
(zero-shot, and 2-shot chain-of-thought with OCR text), each with the repository's own ``true_false``
(its GPT-4 answer extraction, then a type-aware comparison). Free-form questions (integer, float
answers) and multiple-choice ones; for the latter the reference is the option letter and the question
carries the choices. Many 2-shot responses run on into a new "Question:" after the answer. Licence:
CC BY-SA 4.0 (data) per the README.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.corpus.common import Pin, Record, read_json_at, spread

NAME = "mathvista"
PIN = Pin("lupantech/MathVista", "53d525874bdde205128e6b160b7357a88277d479")
FILES = {
    "results/bard/output_bard.json": "bard",
    "results/claude/output_claude_2shot_solution.json": "claude-2+2shot",
    "results/chatgpt/output_chatgpt_2shot_solution_use_ocr.json": "chatgpt+2shot+ocr",
    "results/gpt4/output_gpt4_2shot_solution_use_ocr.json": "gpt-4+2shot+ocr",
}
PER_FILE = {"free_form": 90, "multi_choice": 35}  # 4 x 125 = 500

OVERRIDES: dict[str, tuple[bool, str]] = {
    # MathVista maps an answer that is no option to the most similar option text, so a refusal or a
    # wrong letter can score true; and a run-on into a new "Question:" can hide the real answer
    "mathvista/bard/705": (False, "refuses: I can't process this file."),
    "mathvista/claude-2+2shot/25": (False, "refuses: not possible to definitively answer"),
    "mathvista/claude-2+2shot/173": (False, "answers The answer is C.; the reference is B"),
    "mathvista/claude-2+2shot/537": (False, "refuses, then runs on into an invented question answered C"),
    "mathvista/claude-2+2shot/560": (False, "refuses: cannot select between the choices"),
    "mathvista/claude-2+2shot/595": (False, "answers B (no); the reference is A"),
    "mathvista/claude-2+2shot/705": (False, "refuses: cannot confidently select either yes or no"),
    "mathvista/claude-2+2shot/781": (False, "answers The answer is D.; the reference is C"),
    "mathvista/chatgpt+2shot+ocr/117": (False, "answers: the answer is not provided"),
    "mathvista/chatgpt+2shot+ocr/173": (False, "answers (C) Cannot be determined; the reference is B"),
    "mathvista/chatgpt+2shot+ocr/537": (False, "answers (C) Cannot be determined; the reference is B"),
    "mathvista/chatgpt+2shot+ocr/705": (False, "refuses: we cannot answer the question"),
    "mathvista/chatgpt+2shot+ocr/760": (False, "answers Cannot be determined; the reference is A"),
    "mathvista/chatgpt+2shot+ocr/870": (False, "answers Cannot be determined; the reference is A"),
    "mathvista/chatgpt+2shot+ocr/900": (False, "answers Cannot be determined; the reference is A"),
    "mathvista/gpt-4+2shot+ocr/83": (False, "refuses: the question cannot be answered"),
    "mathvista/gpt-4+2shot+ocr/117": (False, "refuses: the solution cannot be determined"),
    "mathvista/gpt-4+2shot+ocr/173": (False, "refuses: impossible to answer the question"),
    "mathvista/gpt-4+2shot+ocr/390": (False, "refuses: the question cannot be answered"),
    "mathvista/gpt-4+2shot+ocr/705": (False, "refuses: the question cannot be answered"),
    "mathvista/gpt-4+2shot+ocr/760": (False, "refuses: the question cannot be answered"),
    "mathvista/gpt-4+2shot+ocr/816": (
        False,
        "answers x = 12, the answer is not in the choices; the reference is A (3)",
    ),
    "mathvista/gpt-4+2shot+ocr/900": (False, "refuses: the question cannot be answered"),
    "mathvista/claude-2+2shot/364": (
        True,
        "states The answer is C. before running on into invented questions; the reference is C",
    ),
    "mathvista/claude-2+2shot/816": (
        True,
        "states The correct option is A. before running on; the reference is A",
    ),
}


def question_text(row: dict[str, Any]) -> str:
    q = str(row["question"])
    if row.get("unit"):
        q += f" (Unit: {row['unit']})"
    if row.get("choices"):
        q += "\nChoices:\n" + "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(row["choices"]))
    return q


def reference(row: dict[str, Any]) -> str:
    if row["question_type"] == "multi_choice":
        return chr(65 + list(row["choices"]).index(row["answer"]))
    return str(row["answer"])


def build(extra: Path | None = None) -> list[Record]:
    out: list[Record] = []
    for path, model in FILES.items():
        data = read_json_at(PIN, path, extra)
        rows = sorted(data.values(), key=lambda r: int(r["pid"]))
        for qtype, n in PER_FILE.items():
            keep = [
                r
                for r in rows
                if r["question_type"] == qtype
                and r.get("true_false") is not None
                and isinstance(r.get("response"), str)
                and r["response"].strip()
                and r["answer_type"] in ("integer", "float", "text")
            ]
            for row in spread(keep, n):
                out.append(
                    Record(
                        source=NAME,
                        id=f"{NAME}/{model}/{row['pid']}",
                        question=question_text(row),
                        response=row["response"],
                        reference=reference(row),
                        source_label=bool(row["true_false"]),
                        meta={
                            "model": model,
                            "dataset": "mathvista-testmini",
                            "question_type": qtype,
                            "answer_type": row["answer_type"],
                            "precision": row.get("precision"),
                        },
                    )
                )
    return out
