"""TIGER-AI-Lab/MMLU-Pro (Wang et al., NeurIPS 2024): 5-shot chain-of-thought answers to the math
category (ten options, A to J), ending "The answer is (X)."; some models run on into a new
"Question:" or re-list the few-shot answers ("Now, let's summarize all the answers: The answer is A.
The answer is H. ..."); the label stays the source's, which reads the first "answer is". The
outputs are zip files in the repository (one JSON list per model); each item keeps the repository's
own extraction (``pred``), and the source label is ``pred == answer`` as its scorer
counts it (a missing ``pred`` is wrong). The reference is the option letter; the question carries the
options. Licence: Apache-2.0 (LICENSE).
"""

from __future__ import annotations

import io
import json
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from bench.corpus.common import Pin, Record, SourceMissing, find_git_dir, spread

NAME = "mmlu_pro"
PIN = Pin("TIGER-AI-Lab/MMLU-Pro", "f418b116db00b065c2aea046518d8fcf74d39872")
FILES = {  # zip in eval_results/ -> model
    "eval_results/model_outputs_Qwen1.5-72B-Chat_5shots.zip": "qwen1.5-72b-chat",
    "eval_results/model_outputs_Meta-Llama-3_1-70B-Instruct_5shots.zip": "llama-3.1-70b-instruct",
    "eval_results/model_outputs_Mixtral-8x7B-Instruct-v0.1_5shots.zip": "mixtral-8x7b-instruct",
    # not gemini-1.5-pro-002: its stored outputs are six bare "The answer is (X)." lines (one per shot
    # and one for the question) with no reasoning, so which one answers the question is a guess
    "eval_results/model_outputs_mathstral-7B_5shots.zip": "mathstral-7b",
}
PER_FILE = 100

OVERRIDES: dict[str, tuple[bool, str]] = {
    "mmlu_pro/qwen1.5-72b-chat/7727": (False, "answers two options, cut off: The answer is (F, J"),
    "mmlu_pro/qwen1.5-72b-chat/8106": (True, "So, the correct answer is: C. ...; the reference is C"),
    "mmlu_pro/qwen1.5-72b-chat/8732": (
        True,
        "the answer list is [0, 0, 1, 1, 1, 1], which corresponds to option (C); the reference is C",
    ),
    "mmlu_pro/qwen1.5-72b-chat/8596": (
        False,
        "hedges between two options: The answer is (E) and (F) ... Final Answer: E, F",
    ),
}


def read_zip_json(path: str, extra: Path | None) -> list[dict[str, Any]]:
    gd = find_git_dir(PIN, extra)
    blob = subprocess.run(["git", "--git-dir", str(gd), "show", f"{PIN.commit}:{path}"], capture_output=True)
    if blob.returncode != 0:
        raise SourceMissing(f"{PIN.repo}@{PIN.commit[:12]} has no {path}")
    with zipfile.ZipFile(io.BytesIO(blob.stdout)) as z:
        data: list[dict[str, Any]] = json.loads(z.read(z.namelist()[0]))
    return data


def response_of(row: dict[str, Any]) -> str:
    """The model output: ``generated_text`` in most files, ``model_outputs`` in some."""
    return str(row.get("generated_text") or row.get("model_outputs") or "")


def question_text(row: dict[str, Any]) -> str:
    options = "\n".join(f"({chr(65 + i)}) {o}" for i, o in enumerate(row["options"]))
    return f"{row['question']}\nOptions:\n{options}"


def build(extra: Path | None = None) -> list[Record]:
    out: list[Record] = []
    for path, model in FILES.items():
        rows = [r for r in read_zip_json(path, extra) if r.get("category") == "math" and response_of(r)]
        rows.sort(key=lambda r: int(r["question_id"]))
        for row in spread(rows, PER_FILE):
            out.append(
                Record(
                    source=NAME,
                    id=f"{NAME}/{model}/{row['question_id']}",
                    question=question_text(row),
                    response=response_of(row),
                    reference=row["answer"],
                    source_label=row.get("pred") is not None and row["pred"] == row["answer"],
                    meta={"model": model, "dataset": "mmlu-pro-math", "src": row.get("src"), "file": path},
                )
            )
    return out
