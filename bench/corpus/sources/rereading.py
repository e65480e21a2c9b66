"""Tebmer/Rereading-LLM-Reasoning ("Re-Reading Improves Reasoning in LLMs", Xu et al.): GSM8K test
answers of text-davinci-003, gpt-3.5-turbo and gpt-4o-mini, each with and without "Let's think step
by step", prompted to put the answer in \\boxed{}; each response carries the repository's own score
(1/0, its ``utils/scorer.py`` on the ``\\boxed`` extraction). Licence: Apache-2.0 (LICENSE.txt).

Per file and prompt, responses are taken evenly spread over the 1,319 test questions.
"""

from __future__ import annotations

from pathlib import Path

from bench.corpus.common import Pin, Record, number_text, read_jsonl_at, spread

NAME = "rereading"
PIN = Pin("Tebmer/Rereading-LLM-Reasoning", "0dbad50be663c2ea8c46334c2f9a086980d3e318")
FILES = {  # file -> model (results/README.md names them)
    "results/gsm_topp1.0_temp0.0_majority1_20230828_141934.jsonl": "text-davinci-003",
    "results/gsm_topp1.0_temp0.0_majority1_20230828_142302.jsonl": "text-davinci-003+re2",
    "results/gsm_topp1.0_temp0.0_majority1_20230828_1157.jsonl": "gpt-3.5-turbo",
    "results/gsm_topp1.0_temp0.0_majority1_20230828_1200.jsonl": "gpt-3.5-turbo+re2",
    "results/gsm_gpt-4o-mini-2024-07-18_topp1.0_temp0.0_majority1_readtimes1_20240926_221724.jsonl": (
        "gpt-4o-mini"
    ),
    "results/gsm_gpt-4o-mini-2024-07-18_topp1.0_temp0.0_majority1_readtimes2_20240926_222057.jsonl": (
        "gpt-4o-mini+re2"
    ),
}
PER_GROUP = 45  # per file and prompt (vanilla, cot): 6 x 2 x 45 = 540

# id -> (adjudicated label, why). Filled from reading bench.corpus.measure's disagreements.
OVERRIDES: dict[str, tuple[bool, str]] = {
    # the repository's scorer marks negative answers wrong: "\\boxed{-3}" for the reference -3
    "rereading/text-davinci-003/vanilla/1113": (
        True,
        "states \\boxed{-3}; the reference is -3 (source scorer drops the sign)",
    ),
    "rereading/text-davinci-003+re2/cot/1113": (True, "states \\boxed{-3} degrees; the reference is -3"),
    "rereading/gpt-3.5-turbo/vanilla/1113": (True, "states \\boxed{-3} degrees Celsius; the reference is -3"),
    # right answers stated without the box the source scorer looks for
    "rereading/gpt-3.5-turbo+re2/vanilla/689": (
        True,
        "last sentence: will cost Manolo $7.00; the reference is 7",
    ),
    "rereading/gpt-3.5-turbo+re2/cot/689": (
        True,
        "last sentence: will cost Manolo $7.00; the reference is 7",
    ),
    "rereading/gpt-3.5-turbo+re2/cot/119": (
        True,
        "last sentence: the total salary ... is $95,200; the reference is 95200",
    ),
    "rereading/gpt-3.5-turbo+re2/cot/719": (
        True,
        "last sentence: Goldy gave a total of 75 + 100 = 175 kilograms; the reference is 175",
    ),
}


def build(extra: Path | None = None) -> list[Record]:
    out: list[Record] = []
    for path, model in FILES.items():
        rows = read_jsonl_at(PIN, path, extra)
        rows.sort(key=lambda r: int(r["id"]))
        for prompt in ("vanilla", "cot"):
            usable = [r for r in rows if (r.get(prompt) or {}).get("generation")]  # a few calls failed
            for row in spread(usable, PER_GROUP):
                gen = row[prompt]
                out.append(
                    Record(
                        source=NAME,
                        id=f"{NAME}/{model}/{prompt}/{row['id']}",
                        question=row["input"],
                        response=gen["generation"][0],
                        reference=number_text(row["target"]),
                        source_label=bool(gen["score"]),
                        meta={"model": model, "prompt": prompt, "file": path, "dataset": "gsm8k"},
                    )
                )
    return out
