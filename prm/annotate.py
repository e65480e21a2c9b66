"""Math-Shepherd process annotation: each step's label from rollouts continued after it.

For a solution with steps s1..sK, the prefix for step k holds s1..sk. From each prefix k < K the
policy samples ``n`` continuations; each continuation, appended to its prefix, is a whole solution that
the verifier grades against the reference. Step k's *soft* label is the share of right rollouts, its
*hard* label whether any is right (Math-Shepherd's hard estimation). Step K's label is the solution's
own final answer, verified (no rollouts: its prefix is the whole solution).

All prefixes of all solutions go to the generator at once (it bounds the concurrency, sends ``n``
samples per request and never asks twice for the same request); rollouts are verified in batches as
they arrive, so the verifier works while the generator waits on the policy.

    from prm.annotate import Solution, RolloutConfig, annotate
    result = annotate([Solution(question, reference, steps)], generator, RolloutConfig(params))[0]
    result.labels, result.soft_labels, result.rollouts
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prm.generate import Generator, Request, SamplingParams

if TYPE_CHECKING:
    from verifier import Verdict

# (pairs of (whole response, reference), questions) -> one Verdict per pair, in order
VerifyBatch = Callable[[Sequence[tuple[str, str]], Sequence[str | None] | None], list["Verdict"]]

DEFAULT_TEMPLATE = "{question}\n\n"  # what the policy sees before the solution's steps
STEP_TAG = "ки"  # Math-Shepherd's step tag


def local_verify_batch(
    pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None = None
) -> list[Verdict]:
    """:func:`verifier.verify_batch` with the default config (the in-process verifier)."""
    from verifier import verify_batch

    return verify_batch(pairs, questions=questions)


def render_prompt(template: str, question: str) -> str:
    """The template with ``{question}`` replaced (plain replacement: LaTeX braces stay as they are)."""
    return template.replace("{question}", question)


@dataclass(frozen=True)
class RolloutConfig:
    params: SamplingParams = field(default_factory=SamplingParams)
    template: str = DEFAULT_TEMPLATE  # must contain {question}
    step_sep: str = "\n\n"  # between steps, and after the last step of a prefix
    verify_every: int = 256  # rollouts verified together as they arrive

    def __post_init__(self) -> None:
        if "{question}" not in self.template:
            raise ValueError("the prompt template must contain {question}")
        if self.verify_every < 1:
            raise ValueError("verify_every must be >= 1")


@dataclass
class Timing:
    """Where the time went: waiting on the generator vs verifying, and how much work was done."""

    generate_s: float = 0.0  # waiting for rollouts (what the generator did not overlap with verifying)
    verify_s: float = 0.0  # inside the verifier
    rollouts: int = 0  # samples graded (cached ones included)
    verified: int = 0  # distinct (rollout, reference) pairs sent to the verifier for them
    requests: int = 0  # requests asked of the generator (cached and de-duplicated ones included)
    verify_failures: int = 0  # rollouts whose verdict was ERROR or TIMEOUT (counted as wrong)

    def add(self, other: Timing) -> None:
        for name in ("generate_s", "verify_s", "rollouts", "verified", "requests", "verify_failures"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class Probe:
    """One success probability to estimate: the policy continues ``prompt``; each rollout is graded as
    ``prefix + continuation`` (the whole solution) against ``reference``."""

    prompt: str
    prefix: str
    reference: str
    question: str | None = None


def verify_counted(
    verify_batch: VerifyBatch, pairs: list[tuple[str, str]], questions: list[str | None], timing: Timing
) -> list[bool]:
    """Each pair's verdict as a bool (ERROR and TIMEOUT are wrong, and counted), timed into ``timing``."""
    return [ok for ok, _ in verify_flagged(verify_batch, pairs, questions, timing)]


def verify_flagged(
    verify_batch: VerifyBatch, pairs: list[tuple[str, str]], questions: list[str | None], timing: Timing
) -> list[tuple[bool, bool]]:
    """Each pair's (right, failed): failed is a verdict of ERROR or TIMEOUT (counted wrong, and into
    ``timing.verify_failures``)."""
    from verifier import Status

    t0 = time.perf_counter()
    verdicts = verify_batch(pairs, questions)
    timing.verify_s += time.perf_counter() - t0
    if len(verdicts) != len(pairs):
        raise RuntimeError(f"the verifier returned {len(verdicts)} verdicts for {len(pairs)} pairs")
    failed = [v.status in (Status.ERROR, Status.TIMEOUT) for v in verdicts]
    timing.verify_failures += sum(failed)
    return [(bool(v), f) for v, f in zip(verdicts, failed, strict=True)]


def success_counts(
    probes: Sequence[Probe],
    generator: Generator,
    verify_batch: VerifyBatch,
    params: SamplingParams,
    timing: Timing,
    *,
    verify_every: int = 256,
    on_request: Callable[[], None] | None = None,
    errors: list[int] | None = None,
) -> list[int]:
    """How many of each probe's ``params.n`` rollouts are right; every probe in flight at once.
    ``errors``, when given (one zero per probe), gets each probe's count of rollouts whose verdict was
    ERROR or TIMEOUT (counted wrong).

    Rollouts are verified in batches of ``verify_every`` on a thread of their own, so a backend that
    generates in this thread (transformers, vLLM offline) keeps generating while a batch is verified.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    def check(batch: list[tuple[int, str]]) -> list[tuple[int, bool, bool]]:
        # identical rollouts of one probe (greedy, or a short last step) are verified once
        unique: dict[tuple[str, str, str | None], int] = {}
        slots = []
        for i, text in batch:
            item = (probes[i].prefix + text, probes[i].reference, probes[i].question)
            slots.append(unique.setdefault(item, len(unique)))
        items = list(unique)
        pairs = [(text, ref) for text, ref, _ in items]
        verdicts = verify_flagged(verify_batch, pairs, [q for _, _, q in items], timing)
        timing.verified += len(items)
        return [(i, *verdicts[slot]) for (i, _), slot in zip(batch, slots, strict=True)]

    right = [0] * len(probes)
    pending: list[tuple[int, str]] = []
    checks: list[Future[list[tuple[int, bool, bool]]]] = []
    verifying = ThreadPoolExecutor(max_workers=1, thread_name_prefix="verify-rollouts")
    try:
        stream = generator.stream([Request(p.prompt, params) for p in probes])
        timing.requests += len(probes)
        while True:
            t0 = time.perf_counter()
            try:
                i, texts = next(stream)
            except StopIteration:
                timing.generate_s += time.perf_counter() - t0
                break
            timing.generate_s += time.perf_counter() - t0
            pending.extend((i, t) for t in texts)
            timing.rollouts += len(texts)
            if on_request is not None:
                on_request()
            if len(pending) >= verify_every:
                checks.append(verifying.submit(check, pending))
                pending = []
        if pending:
            checks.append(verifying.submit(check, pending))
        for f in checks:
            for i, ok, failed in f.result():
                right[i] += ok
                if errors is not None:
                    errors[i] += failed
    finally:
        verifying.shutdown(wait=False, cancel_futures=True)
    return right


@dataclass(frozen=True)
class Solution:
    question: str
    reference: str
    steps: tuple[str, ...]


@dataclass(frozen=True)
class StepLabels:
    """One solution's annotation; lists have one entry per step."""

    labels: list[bool]  # hard estimation: some rollout from this prefix is right (last: the answer is)
    soft_labels: list[float]  # soft estimation: the share of right rollouts (last: 1.0 or 0.0)
    rollouts: list[int]  # rollouts per step (0 for the last step, which is verified as it stands)
    correct_rollouts: list[int]
    verify_errors: list[int]  # rollouts whose verdict was ERROR or TIMEOUT (last: the solution's, 1 or 0)


def prefix_text(steps: Sequence[str], k: int, sep: str) -> str:
    """Steps 1..k joined by ``sep``, followed by ``sep`` (where the policy starts the next step)."""
    return sep.join(steps[:k]) + sep


def annotate(
    solutions: Sequence[Solution],
    generator: Generator,
    config: RolloutConfig,
    verify_batch: VerifyBatch = local_verify_batch,
    timing: Timing | None = None,
    on_request: Callable[[], None] | None = None,
) -> list[StepLabels]:
    """Label every step of every solution (see the module docstring); solutions need >= 1 step."""
    timing = timing if timing is not None else Timing()
    for s in solutions:
        if not s.steps:
            raise ValueError("a solution needs at least one step")
    probes: list[Probe] = []
    owner: list[tuple[int, int]] = []
    for si, s in enumerate(solutions):
        head = render_prompt(config.template, s.question)
        for k in range(1, len(s.steps)):
            prefix = prefix_text(s.steps, k, config.step_sep)
            probes.append(Probe(head + prefix, prefix, s.reference, s.question))
            owner.append((si, k))
    finals = verify_flagged(
        verify_batch,
        [(config.step_sep.join(s.steps), s.reference) for s in solutions],
        [s.question for s in solutions],
        timing,
    )
    errors = [0] * len(probes)
    counts = success_counts(
        probes,
        generator,
        verify_batch,
        config.params,
        timing,
        verify_every=config.verify_every,
        on_request=on_request,
        errors=errors,
    )
    n = config.params.n
    right: list[list[int]] = [[0] * (len(s.steps) - 1) for s in solutions]
    failed: list[list[int]] = [[0] * (len(s.steps) - 1) for s in solutions]
    for (si, k), c, bad in zip(owner, counts, errors, strict=True):
        right[si][k - 1] = c
        failed[si][k - 1] = bad
    out: list[StepLabels] = []
    for r, fails, (final, final_failed) in zip(right, failed, finals, strict=True):
        out.append(
            StepLabels(
                labels=[c > 0 for c in r] + [final],
                soft_labels=[c / n for c in r] + [1.0 if final else 0.0],
                rollouts=[n] * len(r) + [0],
                correct_rollouts=[*r, 1 if final else 0],
                verify_errors=[*fails, 1 if final_failed else 0],
            )
        )
    return out


def math_shepherd_text(question: str, steps: Sequence[str], labels: Sequence[bool] | None = None) -> str:
    """Math-Shepherd's training text: the question, then each step followed by ``ки`` (the input), or by
    ``+``/``-`` when ``labels`` are given (the label text)."""
    if labels is not None and len(labels) != len(steps):
        raise ValueError(f"{len(labels)} labels for {len(steps)} steps")
    tags = [STEP_TAG] * len(steps) if labels is None else ["+" if x else "-" for x in labels]
    return question + " " + "\n".join(f"{s} {t}" for s, t in zip(steps, tags, strict=True))


def stepwise_row(solution: Solution, result: StepLabels) -> dict[str, Any]:
    """TRL's stepwise-supervision row (prompt, completions, labels) plus the soft labels, the rollout
    counts, the verifier's errors per step and the Math-Shepherd texts."""
    return {
        "prompt": solution.question,
        "completions": list(solution.steps),
        "labels": list(result.labels),
        "soft_labels": list(result.soft_labels),
        "rollouts": list(result.rollouts),
        "correct_rollouts": list(result.correct_rollouts),
        "verify_errors": list(result.verify_errors),
        "math_shepherd_input": math_shepherd_text(solution.question, solution.steps),
        "math_shepherd_label": math_shepherd_text(solution.question, solution.steps, result.labels),
    }
