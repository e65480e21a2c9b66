"""``rescore --export sft|dpo``: graded rollouts as the datasets TRL's trainers load.

- ``sft`` (rejection sampling): one ``{"prompt", "completion"}`` row per response graded right;
- ``dpo`` (rollout preference data): ``{"prompt", "chosen", "rejected"}`` rows from one problem's
  right and wrong responses: each right response, in input order and at most ``pairs_per_problem``
  of them, paired with a wrong one drawn with a fixed seed (``random.Random(f"{seed}:{row}")``, so a
  rerun writes the same pairs).

Conversational when the prompt is a chat: a row whose ``prompt`` field (verl's layout) or question
column is a list of messages gives ``prompt`` as those messages and each completion, ``chosen`` and
``rejected`` as ``[{"role": "assistant", "content": ...}]``; otherwise all are strings. These are
TRL's "prompt-completion" and "preference" dataset types (standard or conversational).

The problem filters apply first (the pass-rate and right-count range, the majority-vote filter),
then responses are chosen: a response flagged ``repetition`` (stuck in a loop) or not text is
never exported. The export summary counts what each step removed. The file is written beside the
output (``OUT.sft.jsonl`` / ``OUT.dpo.jsonl`` unless named) through a temporary file, atomically.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from mathreward.rescore import io as rio
from mathreward.rescore.columns import Columns
from mathreward.rescore.filters import FilterOptions, all_agree_or_all_disagree, in_pass_rate_range

__all__ = ["EXPORT_KINDS", "ExportOptions", "Exporter", "default_export_path", "export_prompt"]

EXPORT_KINDS = ("sft", "dpo")


@dataclass(frozen=True)
class ExportOptions:
    kind: str  # sft | dpo
    path: Path  # the JSONL file written
    pairs_per_problem: int = 4  # dpo: at most this many pairs per problem
    seed: int = 0  # dpo: the seed of the wrong-response draw

    def __post_init__(self) -> None:
        if self.kind not in EXPORT_KINDS:
            raise ValueError(f"export kind must be one of {EXPORT_KINDS}, got {self.kind!r}")
        if self.pairs_per_problem < 1:
            raise ValueError(f"pairs_per_problem must be >= 1, got {self.pairs_per_problem}")


def default_export_path(output: Path, kind: str) -> Path:
    """``OUT.sft.jsonl`` / ``OUT.dpo.jsonl`` beside the output (its suffix replaced)."""
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return output.with_name(f"{stem}.{kind}.jsonl")


def _is_chat(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in value)
    )


def export_prompt(row: Mapping[str, Any], cols: Columns) -> str | list[dict[str, Any]] | None:
    """The prompt to train on: the row's chat (``prompt`` field or question column) as messages, else
    the question text; None when the row has neither."""
    candidates = [rio.get_path(row, "prompt")]
    if cols.question is not None:
        candidates.append(rio.get_path(row, cols.question))
    for value in candidates:
        if _is_chat(value):
            return [{"role": str(m.get("role", "user")), "content": m["content"]} for m in value]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value
    return None


# the statuses of a response graded wrong: it stated a different answer, or none at all
GRADED_WRONG = frozenset({"incorrect", "no_answer"})


class Exporter:
    """Receives every graded problem (before the output's response filters) and writes the export."""

    def __init__(self, opts: ExportOptions, filters: FilterOptions, cols: Columns) -> None:
        self.opts = opts
        self.filters = filters
        self.cols = cols
        self.tally: Counter[str] = Counter()
        self._writer = rio.OutputWriter(opts.path, "jsonl")
        self._row = 0

    def add(
        self,
        row: Mapping[str, Any],
        correct: Sequence[bool],
        repetition: Sequence[bool],
        groups: Sequence[int | None],
        statuses: Sequence[str] | None = None,
    ) -> None:
        index, self._row = self._row, self._row + 1
        n, num_correct = len(correct), sum(correct)
        self.tally["problems"] += 1
        if n == 0 or not in_pass_rate_range(Fraction(num_correct, n), self.filters, num_correct):
            self.tally["problems_removed_by_pass_rate_range"] += 1
            return
        if self.filters.majority_filter and all_agree_or_all_disagree(groups):
            self.tally["problems_removed_by_majority_filter"] += 1
            return
        prompt = export_prompt(row, self.cols)
        if prompt is None:
            self.tally["problems_without_a_prompt"] += 1
            return
        responses = rio.get_path(row, self.cols.responses)
        texts = [responses] if isinstance(responses, str) else list(responses or [])
        if len(texts) != n:
            self.tally["problems_without_responses"] += 1
            return
        usable = []
        for i in range(n):
            if repetition[i]:
                self.tally["responses_removed_as_repetitive"] += 1
            elif not isinstance(texts[i], str):
                self.tally["responses_removed_not_text"] += 1
            else:
                usable.append(i)
        right = [i for i in usable if correct[i]]
        # a rejected response must have been graded wrong: a timeout, an error or an answer the rules
        # could not read is no verdict about the response (it may be right), so it is never rejected
        wrong = []
        for i in usable:
            if correct[i]:
                continue
            if statuses is not None and statuses[i] not in GRADED_WRONG:
                self.tally["responses_not_graded_wrong"] += 1
            else:
                wrong.append(i)
        if not right:
            self.tally["problems_without_a_right_response"] += 1
            return
        chat = isinstance(prompt, list)
        if self.opts.kind == "sft":
            self._writer.write([{"prompt": prompt, "completion": _turn(texts[i], chat)} for i in right])
            self.tally["problems_exported"] += 1
            return
        if not wrong:
            self.tally["problems_without_a_wrong_response"] += 1
            return
        chosen = right[: self.opts.pairs_per_problem]
        self.tally["right_responses_over_pairs_per_problem"] += len(right) - len(chosen)
        rng = random.Random(f"{self.opts.seed}:{index}")
        rows = []
        for i in chosen:
            rejected = texts[rng.choice(wrong)]
            rows.append(
                {"prompt": prompt, "chosen": _turn(texts[i], chat), "rejected": _turn(rejected, chat)}
            )
        self._writer.write(rows)
        self.tally["problems_exported"] += 1

    def commit(self) -> dict[str, Any]:
        """Publish the file; returns the export summary."""
        self._writer.commit()
        out: dict[str, Any] = {"kind": self.opts.kind, "path": str(self.opts.path), "rows": self._writer.rows}
        if self.opts.kind == "dpo":
            out.update(pairs_per_problem=self.opts.pairs_per_problem, seed=self.opts.seed)
        out["counts"] = dict(sorted(self.tally.items()))
        return out

    def abort(self) -> None:
        self._writer.abort()


def _turn(text: str, chat: bool) -> str | list[dict[str, str]]:
    return [{"role": "assistant", "content": text}] if chat else text
