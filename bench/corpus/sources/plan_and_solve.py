"""AGI-Edgerunners/Plan-and-Solve-Prompting (Wang et al., ACL 2023): zero-shot "Plan-and-Solve"
chains of thought of text-davinci-003 on GSM8K, SVAMP, MultiArith, AddSub, SingleEq and AQuA. The
response ends in an ``Answer:`` section written as a sentence; the source's label (``ans``) is its
grader on the number its second, answer-extraction prompt read. Licence: none stated in the repository
(research code released with the paper); only used here to measure, never redistributed.
"""

from __future__ import annotations

from pathlib import Path

from bench.corpus.common import Pin, Record, number_text, read_json_at, spread

NAME = "plan_and_solve"
PIN = Pin("AGI-Edgerunners/Plan-and-Solve-Prompting", "9d5a176f5b4de1011d426009ab6398dc76046e88")
FILES = {  # file -> (dataset, how many)
    "generated_result/gsm8k-zero_shot-305-text-davinci-003.json": ("gsm8k", 200),
    "generated_result/SVAMP-zero_shot-307-text-davinci-003.json": ("svamp", 100),
    "generated_result/MultiArith-zero_shot-302-text-davinci-003.json": ("multiarith", 80),
    "generated_result/AddSub-zero_shot-301-text-davinci-003.json": ("addsub", 50),
    "generated_result/SingleEq-zeri_shot-301-text-davinci-003.json": ("singleeq", 50),
    "generated_result/AQuA-zero_shot-305-text-davinci-003.json": ("aqua", 60),
}

OVERRIDES: dict[str, tuple[bool, str]] = {}


def build(extra: Path | None = None) -> list[Record]:
    out: list[Record] = []
    for path, (dataset, n) in FILES.items():
        rows = read_json_at(PIN, path, extra)
        for row in spread(rows, n):
            out.append(
                Record(
                    source=NAME,
                    id=f"{NAME}/{dataset}/{row['ID']}",
                    question=row["question"],
                    response=row["chain-of-thought"],
                    reference=number_text(row["answer"]),
                    source_label=bool(row["ans"]),
                    meta={"model": "text-davinci-003", "dataset": dataset, "file": path},
                )
            )
    return out
