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

OVERRIDES: dict[str, tuple[bool, str]] = {
    # the source's label is its second, answer-extraction prompt; where that prompt computed the answer
    # the response itself never states, the response is not right
    "plan_and_solve/gsm8k/temp_65": (
        False,
        "asks the hours of TV and reading together (36); states only 24 and 12 apart",
    ),
    "plan_and_solve/gsm8k/temp_309": (False, "asks the new limbs (8); states only 5 arms and 3 legs apart"),
    "plan_and_solve/gsm8k/temp_480": (
        False,
        "asks the tubes of paint Jasper has (11); states only 2 blue and 9 yellow apart",
    ),
    "plan_and_solve/gsm8k/temp_691": (False, "the response is cut off mid-sentence before any answer"),
    "plan_and_solve/gsm8k/temp_1054": (False, "the response is cut off mid-sentence before any answer"),
    "plan_and_solve/aqua/temp_12": (False, "the response is cut off mid-word before any answer"),
    "plan_and_solve/gsm8k/temp_375": (
        False,
        "cut off at 'Therefore' before stating the answer (48 is only an intermediate line)",
    ),
    "plan_and_solve/gsm8k/temp_520": (False, "cut off at 'Therefore, Martha' before stating the answer"),
    "plan_and_solve/gsm8k/temp_1193": (False, "cut off at 'Answer' before stating the answer"),
    "plan_and_solve/aqua/temp_144": (False, "answers 3π:4r3, which is no option (the reference is (D) 6:π)"),
    # the source's extraction failed on an answer the response states
    "plan_and_solve/aqua/temp_156": (True, "states Answer: (D) 25; the reference is D"),
}


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
