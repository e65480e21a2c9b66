"""suzgunmirac/BIG-Bench-Hard (Suzgun et al., 2022): code-davinci-002 outputs on the two BBH tasks
whose answers are numbers, ``multistep_arithmetic_two`` (integer arithmetic, negative results) and
``object_counting``. The chain-of-thought outputs are few-shot transcripts ending "So the answer is
N."; the direct outputs are a bare answer. The repository keeps per-item outputs and per-task
accuracies but no per-item label, so the source label is the paper's own scoring rule re-applied:
the text after the last "the answer is" (the whole output for direct prompting), the final period
dropped, compared to the target exactly. Licence: MIT (LICENSE).
"""

from __future__ import annotations

from pathlib import Path

from bench.corpus.common import Pin, Record, read_json_at, spread

NAME = "bbh"
PIN = Pin("suzgunmirac/BIG-Bench-Hard", "9ee07bd481feebf959a6b59d61ea57bdcf30964d")
TASKS = ("multistep_arithmetic_two", "object_counting")
PER_GROUP = {"cot": 180, "direct": 60}  # per task: 2 x (180 + 60) = 480
PATH = "code-davinci-002-outputs/code-davinci-002-{mode}/{task}_few_shot_template_0-255000.json"

OVERRIDES: dict[str, tuple[bool, str]] = {}


def source_score(prediction: str, target: str) -> bool:
    """BBH's exact-match rule: the text after the last "the answer is", without the final period."""
    answer = prediction
    marker = "the answer is "
    at = prediction.rfind(marker)
    if at >= 0:
        answer = prediction[at + len(marker) :]
    answer = answer.strip()
    if answer.endswith("."):
        answer = answer[:-1].strip()
    return answer == target.strip()


def question_of(prompt: str) -> str:
    """The last "Q: ..." of the few-shot prompt."""
    q = prompt[prompt.rfind("\nQ: ") + 4 :]
    return q.split("\nA:", 1)[0].strip()


def build(extra: Path | None = None) -> list[Record]:
    out: list[Record] = []
    for task in TASKS:
        for mode, n in PER_GROUP.items():
            rows = read_json_at(PIN, PATH.format(mode=mode, task=task), extra)["outputs"]
            for i, row in spread(list(enumerate(rows)), n):
                out.append(
                    Record(
                        source=NAME,
                        id=f"{NAME}/{task}/{mode}/{i}",
                        question=question_of(row["input"]),
                        response=row["prediction"],
                        reference=row["target"],
                        source_label=source_score(row["prediction"], row["target"]),
                        meta={"model": "code-davinci-002", "prompt": mode, "dataset": task},
                    )
                )
    return out
