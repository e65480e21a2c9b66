"""Per-problem metrics of N graded samples, and the dataset summary that aggregates them.

Pure functions of the per-response columns that ``rescore`` writes (``correct``, ``answer_group``,
``prm_score``, ...), so ``mathreward metrics`` recomputes them from an already rescored file without
verifying anything again.

- pass rate: the fraction of the N samples that are correct.
- pass@k: the unbiased estimator of Chen et al. 2021 (Codex), ``1 - C(n-c, k) / C(n, k)``: the chance
  that at least one of k samples drawn without replacement from the n is correct.
- maj@k: the majority answer of the first k samples is correct. Answers are grouped by
  :func:`verifier.group_answers` (``answer_group``: answers with one canonical key, and all correct
  answers, share a group id; the same grouping as ``prm.select_best``'s vote); samples with no answer
  do not vote; a tie goes to the group that appears first.
- PRM best-of-N: the sample with the highest PRM aggregate is correct (a tie goes to the first).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c are correct (needs 1 <= k <= n).

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k/i)``, equal to ``1 - C(n-c,k)/C(n,k)`` without big binomials.
    """
    if not 1 <= k <= n:
        raise ValueError(f"pass@k needs 1 <= k <= n, got k={k}, n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n, got c={c}, n={n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def majority_correct(groups: Sequence[int | None], correct: Sequence[bool], k: int) -> bool:
    """maj@k for one problem: is the most common answer group among the first k samples correct?"""
    if len(groups) != len(correct):
        raise ValueError("groups and correct must have the same length")
    first_k = list(zip(groups[:k], correct[:k], strict=True))
    votes = Counter(g for g, _ in first_k if g is not None)
    if not votes:
        return False
    top = max(votes.values())
    # the earliest group among those with the top count wins a tie
    winner = next(g for g, _ in first_k if g is not None and votes[g] == top)
    return any(c for g, c in first_k if g == winner)


def best_of_n_correct(prm_scores: Sequence[float | None], correct: Sequence[bool]) -> bool | None:
    """Is the sample with the highest PRM aggregate correct? None when no sample has a score."""
    best_i: int | None = None
    for i, s in enumerate(prm_scores):
        if s is None or (isinstance(s, float) and math.isnan(s)):
            continue
        if best_i is None or s > prm_scores[best_i]:  # type: ignore[operator]
            best_i = i
    if best_i is None:
        return None
    return bool(correct[best_i])


def metric_ks(ks: Sequence[int], n: int) -> list[int]:
    """The k values that apply to a problem with n samples (k <= n), sorted, without duplicates."""
    return sorted({k for k in ks if 1 <= k <= n})


def problem_metrics(
    correct: Sequence[bool],
    groups: Sequence[int | None],
    ks: Sequence[int],
    prm_scores: Sequence[float | None] | None = None,
) -> dict[str, Any]:
    """The per-problem columns: num_correct, pass_rate, pass@k and maj@k for each k <= n, prm_best_correct."""
    n = len(correct)
    c = sum(bool(x) for x in correct)
    out: dict[str, Any] = {"num_correct": c, "pass_rate": c / n if n else 0.0}
    for k in metric_ks(ks, n):
        out[f"pass@{k}"] = pass_at_k(n, c, k)
    for k in metric_ks(ks, n):
        out[f"maj@{k}"] = majority_correct(groups, correct, k)
    if prm_scores is not None:
        out["prm_best_correct"] = best_of_n_correct(prm_scores, correct)
    return out


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


@dataclass
class Summary:
    """Accumulates per-problem results into the dataset summary (table on stdout, JSON next to the output)."""

    ks: tuple[int, ...]
    problems: int = 0
    responses: int = 0
    correct: int = 0
    rejected: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    methods: Counter[str] = field(default_factory=Counter)
    judge_calls: int = 0  # responses on which the LLM second opinion was consulted
    judge_overturned: int = 0  # responses whose verdict the judge decided (method "judge")
    pass_rates: list[float] = field(default_factory=list)
    pass_at: dict[int, list[float]] = field(default_factory=dict)
    maj_at: dict[int, list[bool]] = field(default_factory=dict)
    prm_best: list[bool] = field(default_factory=list)
    prm_correct: list[float] = field(default_factory=list)  # PRM aggregates of correct responses
    prm_incorrect: list[float] = field(default_factory=list)
    by_source: dict[str, list[int]] = field(default_factory=dict)  # source -> [correct, responses]
    elapsed_s: float = 0.0
    kept_rows: int | None = None  # rows in the output after filters (None: no output written)
    kept_responses: int | None = None

    def add_problem(
        self,
        *,
        correct: Sequence[bool],
        groups: Sequence[int | None],
        statuses: Sequence[str],
        methods: Sequence[str],
        judged: Sequence[bool],
        prm_scores: Sequence[float | None] | None,
        source: str | None,
    ) -> dict[str, Any]:
        """Add one problem; returns its per-problem metrics (the columns written to the output)."""
        m = problem_metrics(correct, groups, self.ks, prm_scores)
        n = len(correct)
        self.problems += 1
        self.responses += n
        self.correct += m["num_correct"]
        self.statuses.update(statuses)
        self.methods.update(methods)
        self.judge_calls += sum(bool(j) for j in judged)
        self.judge_overturned += sum(1 for x in methods if x == "judge")
        self.pass_rates.append(m["pass_rate"])
        for k in metric_ks(self.ks, n):
            self.pass_at.setdefault(k, []).append(m[f"pass@{k}"])
            self.maj_at.setdefault(k, []).append(m[f"maj@{k}"])
        if prm_scores is not None:
            if m["prm_best_correct"] is not None:
                self.prm_best.append(m["prm_best_correct"])
            for s, c in zip(prm_scores, correct, strict=True):
                if s is not None:
                    (self.prm_correct if c else self.prm_incorrect).append(float(s))
        key = source if source is not None else "(none)"
        counts = self.by_source.setdefault(key, [0, 0])
        counts[0] += m["num_correct"]
        counts[1] += n
        return m

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "problems": self.problems,
            "responses": self.responses,
            "rejected_rows": self.rejected,
            "accuracy": self.correct / self.responses if self.responses else None,
            "mean_pass_rate": _mean(self.pass_rates),
            "pass@k": {
                str(k): {"value": _mean(v), "problems": len(v)} for k, v in sorted(self.pass_at.items())
            },
            "maj@k": {
                str(k): {"value": _mean([float(b) for b in v]), "problems": len(v)}
                for k, v in sorted(self.maj_at.items())
            },
            "statuses": dict(sorted(self.statuses.items())),
            "methods": dict(sorted(self.methods.items())),
            "judge_calls": self.judge_calls,
            "judge_overturned": self.judge_overturned,
            "accuracy_by_source": {
                s: {"accuracy": c / n if n else None, "responses": n}
                for s, (c, n) in sorted(self.by_source.items())
            },
            "elapsed_s": round(self.elapsed_s, 3),
            "responses_per_s": round(self.responses / self.elapsed_s, 2) if self.elapsed_s > 0 else None,
            "rows_per_s": round(self.problems / self.elapsed_s, 2) if self.elapsed_s > 0 else None,
        }
        if self.prm_best or self.prm_correct or self.prm_incorrect:
            out["prm"] = {
                "best_of_n_correct": _mean([float(b) for b in self.prm_best]),
                "problems": len(self.prm_best),
                "mean_score_correct": _mean(self.prm_correct),
                "mean_score_incorrect": _mean(self.prm_incorrect),
            }
        if self.kept_rows is not None:
            out["output"] = {"rows": self.kept_rows, "responses": self.kept_responses}
        return out

    def format_table(self) -> str:
        """The summary as an aligned two-column text table."""
        d = self.to_dict()

        def pct(x: float | None) -> str:
            return "-" if x is None else f"{100 * x:.1f}%"

        rows: list[tuple[str, str]] = [
            ("problems", str(d["problems"])),
            ("responses", str(d["responses"])),
            ("rejected rows", str(d["rejected_rows"])),
            ("accuracy", pct(d["accuracy"])),
        ]
        for k, v in d["pass@k"].items():
            rows.append((f"pass@{k}", f"{pct(v['value'])}  ({v['problems']} problems)"))
        for k, v in d["maj@k"].items():
            rows.append((f"maj@{k}", f"{pct(v['value'])}  ({v['problems']} problems)"))
        if "prm" in d:
            p = d["prm"]
            rows.append(("PRM best-of-N", f"{pct(p['best_of_n_correct'])}  ({p['problems']} problems)"))
            for name, key in (
                ("PRM mean, correct", "mean_score_correct"),
                ("PRM mean, incorrect", "mean_score_incorrect"),
            ):
                rows.append((name, "-" if p[key] is None else f"{p[key]:.3f}"))
        total = max(1, d["responses"])
        for s, c in d["statuses"].items():
            rows.append((f"status {s}", f"{c}  ({100 * c / total:.1f}%)"))
        for s, c in d["methods"].items():
            rows.append((f"method {s}", str(c)))
        rows.append(("judge calls", f"{d['judge_calls']}  ({d['judge_overturned']} decided by the judge)"))
        if len(d["accuracy_by_source"]) > 1:
            for s, v in d["accuracy_by_source"].items():
                rows.append((f"accuracy [{s}]", f"{pct(v['accuracy'])}  ({v['responses']} responses)"))
        if "output" in d:
            rows.append(("output", f"{d['output']['rows']} rows, {d['output']['responses']} responses"))
        if d["responses_per_s"] is not None:
            rows.append(("throughput", f"{d['responses_per_s']} responses/s, {d['rows_per_s']} rows/s"))
            rows.append(("elapsed", f"{d['elapsed_s']:.1f} s"))
        width = max(len(a) for a, _ in rows)
        return "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)
