"""``rescore --export sft|dpo`` and ``annotate --export prm``: the datasets TRL's trainers load.

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

- ``prm`` (stepwise supervision, from ``mathreward annotate`` output): one ``{"prompt",
  "completions", "labels"}`` row per annotated solution, labels as bools: the hard labels, or with
  ``labels="soft"`` each step's exact share of right rollouts compared with a threshold
  (``correct_rollouts / rollouts >= threshold``; the last step, which has no rollouts, keeps the
  solution's own verdict). A row whose annotation rests on a verifier error or timeout (any
  ``verify_errors``) is left out, as is a row without a whole annotation; both are counted.
  :func:`prm_rows` does it for rows in memory; :class:`PRMExporter` writes the file.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from mathreward.rescore import io as rio
from mathreward.rescore.columns import Columns
from mathreward.rescore.filters import FilterOptions, all_agree_or_all_disagree, in_pass_rate_range
from mathreward.rescore.pass_range import parse_rate

__all__ = [
    "EXPORT_KINDS",
    "PRM_LABELS",
    "ExportOptions",
    "Exporter",
    "PRMExporter",
    "default_export_path",
    "export_prompt",
    "prm_row",
    "prm_rows",
    "soft_threshold",
]

EXPORT_KINDS = ("sft", "dpo", "prm")  # prm: from annotate output, the others from rescore
PRM_LABELS = ("hard", "soft")


@dataclass(frozen=True)
class ExportOptions:
    kind: str  # sft | dpo | prm
    path: Path  # the JSONL file written
    pairs_per_problem: int = 4  # dpo: at most this many pairs per problem
    seed: int = 0  # dpo: the seed of the wrong-response draw
    prm_labels: str = "hard"  # prm: hard labels, or soft labels compared with soft_threshold
    soft_threshold: Fraction = Fraction(1, 2)  # prm, soft: a step is + when its right share >= this

    def __post_init__(self) -> None:
        if self.kind not in EXPORT_KINDS:
            raise ValueError(f"export kind must be one of {EXPORT_KINDS}, got {self.kind!r}")
        if self.pairs_per_problem < 1:
            raise ValueError(f"pairs_per_problem must be >= 1, got {self.pairs_per_problem}")
        if self.prm_labels not in PRM_LABELS:
            raise ValueError(f"prm labels must be one of {PRM_LABELS}, got {self.prm_labels!r}")
        soft_threshold(self.soft_threshold)  # in (0, 1]


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
        if opts.kind not in ("sft", "dpo"):
            raise ValueError(f"rescore exports sft or dpo; {opts.kind} comes from annotate output")
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
        extra = {"pairs_per_problem": self.opts.pairs_per_problem, "seed": self.opts.seed}
        return _summary(self.opts, self._writer.rows, self.tally, extra if self.opts.kind == "dpo" else {})

    def abort(self) -> None:
        self._writer.abort()


def _summary(opts: ExportOptions, rows: int, tally: Counter[str], extra: dict[str, Any]) -> dict[str, Any]:
    """The export entry of a run's summary: the file, its rows, the settings, what each step removed."""
    return {
        "kind": opts.kind,
        "path": str(opts.path),
        "rows": rows,
        **extra,
        "counts": dict(sorted(tally.items())),
    }


# ------------------------------------------------------------------------- prm: stepwise supervision


def soft_threshold(value: Fraction | float | str) -> Fraction:
    """A soft-label threshold in (0, 1], exactly: ``0.5``, ``1/2`` and ``50%`` are one half (a float
    is read from its shortest text, so 0.1 is 1/10); ValueError otherwise."""
    t = value if isinstance(value, Fraction) else parse_rate(str(value))
    if not 0 < t <= 1:
        raise ValueError(f"the soft-label threshold must be in (0, 1], got {value}")
    return t


def _int_list(value: Any, n: int) -> list[int] | None:
    if not isinstance(value, list) or len(value) != n:
        return None
    if not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in value):
        return None
    return value


def prm_row(
    row: Mapping[str, Any], labels: str = "hard", threshold: Fraction | float | str = Fraction(1, 2)
) -> dict[str, Any] | str:
    """One annotate output row as TRL's stepwise-supervision row ``{"prompt", "completions",
    "labels"}`` (labels as bools), or the name of the count that says why it is left out:
    ``rows_with_verifier_errors`` (some step's label rests on a verifier error or timeout) or
    ``rows_not_annotated`` (no whole annotation: a prompt, the steps, one label per step, and for soft
    labels the rollout counts)."""
    if labels not in PRM_LABELS:
        raise ValueError(f"prm labels must be one of {PRM_LABELS}, got {labels!r}")
    t = soft_threshold(threshold)
    prompt, steps, hard = row.get("prompt"), row.get("completions"), row.get("labels")
    if not isinstance(prompt, str) or not prompt.strip():
        return "rows_not_annotated"
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
        return "rows_not_annotated"
    n = len(steps)
    if not isinstance(hard, list) or len(hard) != n or not all(isinstance(x, bool) for x in hard):
        return "rows_not_annotated"
    errors = row.get("verify_errors")
    if errors is not None:  # written by annotate since the column exists; older outputs lack it
        checked = _int_list(errors, n)
        if checked is None:
            return "rows_not_annotated"
        if any(checked):
            return "rows_with_verifier_errors"
    if labels == "hard":
        return {"prompt": prompt, "completions": list(steps), "labels": list(hard)}
    rollouts, right = _int_list(row.get("rollouts"), n), _int_list(row.get("correct_rollouts"), n)
    if rollouts is None or right is None:
        return "rows_not_annotated"
    soft = []
    for r, c in zip(rollouts, right, strict=True):
        if c > max(r, 1):  # the last step: no rollouts, its verdict as 1 or 0
            return "rows_not_annotated"
        soft.append(Fraction(c, r) >= t if r else c == 1)
    return {"prompt": prompt, "completions": list(steps), "labels": soft}


def prm_rows(
    rows: Iterable[Mapping[str, Any]],
    labels: str = "hard",
    threshold: Fraction | float | str = Fraction(1, 2),
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """:func:`prm_row` over ``rows``: the stepwise rows, and the counts the export summary holds."""
    tally: Counter[str] = Counter()
    out = []
    for row in rows:
        got = _prm_tally(prm_row(row, labels, threshold), tally)
        if got is not None:
            out.append(got)
    return out, dict(sorted(tally.items()))


def _prm_tally(got: dict[str, Any] | str, tally: Counter[str]) -> dict[str, Any] | None:
    tally["rows"] += 1
    if isinstance(got, str):
        tally[got] += 1
        return None
    tally["rows_exported"] += 1
    tally["steps_exported"] += len(got["labels"])
    tally["steps_labelled_positive"] += sum(got["labels"])
    return got


class PRMExporter:
    """Receives annotate output rows and writes the ``prm`` export (see :func:`prm_row`)."""

    def __init__(self, opts: ExportOptions) -> None:
        if opts.kind != "prm":
            raise ValueError(f"PRMExporter writes prm exports, not {opts.kind}")
        self.opts = opts
        self.tally: Counter[str] = Counter()
        self._writer = rio.OutputWriter(opts.path, "jsonl")

    def add(self, row: Mapping[str, Any]) -> None:
        got = _prm_tally(prm_row(row, self.opts.prm_labels, self.opts.soft_threshold), self.tally)
        if got is not None:
            self._writer.write([got])

    def commit(self) -> dict[str, Any]:
        """Publish the file; returns the export summary."""
        self._writer.commit()
        extra: dict[str, Any] = {"labels": self.opts.prm_labels}
        if self.opts.prm_labels == "soft":
            extra["soft_threshold"] = str(self.opts.soft_threshold)
        return _summary(self.opts, self._writer.rows, self.tally, extra)

    def abort(self) -> None:
        self._writer.abort()


def _turn(text: str, chat: bool) -> str | list[dict[str, str]]:
    return [{"role": "assistant", "content": text}] if chat else text
