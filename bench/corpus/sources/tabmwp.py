"""lupantech/PromptPG (Lu et al., ICLR 2023): text-davinci-002 answers to TabMWP math word problems
over a table, 2-shot, either with a worked solution ("TQ-SA") or the answer alone ("TQ-A"); both end
"The answer is X." and carry the repository's own ``true_false``. The outputs keep the API's escaped
newlines (a literal backslash-n) as the repository stored them. Only free-text questions with a
numeric answer are kept; the question text (with the table) comes from ``problems_test1k.json`` of the
same commit. Licence: MIT (LICENSE.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.corpus.common import Pin, Record, read_json_at, spread

NAME = "tabmwp"
PIN = Pin("lupantech/PromptPG", "7cf61b1bec07222fc24b4f5a1410911f77c2d2c9")
PROBLEMS = "data/tabmwp/problems_test1k.json"
FILES = {  # file -> (prompt, how many)
    "results/gpt3/exp4_test_TQ-SA_2_seed_2.json": ("solution+answer", 300),
    "results/gpt3/exp3_test_TQ-A_2_seed_2.json": ("answer-only", 100),
}

OVERRIDES: dict[str, tuple[bool, str]] = {
    # the source compares fractions after rounding both to 3 decimals
    "tabmwp/solution+answer/5179": (
        False,
        "asks a fraction (48/103 = 0.46602); answers the decimal 0.4662, mis-rounded",
    ),
}


def question_text(p: dict[str, Any]) -> str:
    title = f"{p['table_title']}\n" if p.get("table_title") else ""
    unit = f" (Unit: {p['unit']})" if p.get("unit") else ""
    return f"{title}{p['table']}\n\n{p['question']}{unit}"


def build(extra: Path | None = None) -> list[Record]:
    problems = read_json_at(PIN, PROBLEMS, extra)
    keep = sorted(
        (
            pid
            for pid, p in problems.items()
            if p["ques_type"] == "free_text" and p["ans_type"] != "extractive_text"
        ),
        key=int,
    )
    out: list[Record] = []
    for path, (prompt, n) in FILES.items():
        results = read_json_at(PIN, path, extra)["results"]
        pids = [pid for pid in keep if pid in results and results[pid].get("output")]
        for pid in spread(pids, n):
            r, p = results[pid], problems[pid]
            out.append(
                Record(
                    source=NAME,
                    id=f"{NAME}/{prompt}/{pid}",
                    question=question_text(p),
                    response=r["output"],
                    reference=str(p["answer"]),
                    source_label=bool(r["true_false"]),
                    meta={
                        "model": "text-davinci-002",
                        "prompt": prompt,
                        "dataset": "tabmwp-test1k",
                        "answer_type": p["ans_type"],
                        "file": path,
                    },
                )
            )
    return out
