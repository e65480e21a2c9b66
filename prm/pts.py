"""Pivotal token search (Phi-4 technical report, section 4.3): the single tokens where the policy's
chance of reaching the right answer jumps, as DPO pairs.

A solution is tokenized with the policy's tokenizer, t1..tL. p(i) is the success probability after
the first i tokens: estimated from ``n`` rollouts for i < L, and the solution's own verdict (1 or 0)
for i = L. The interval [0, L] is bisected recursively: an interval [lo, hi] whose ends differ by at
least ``threshold`` is split at its middle, down to single tokens; a single token t(lo+1) with
|p(lo+1) - p(lo)| >= threshold is pivotal. (Like the original, bisection does not look inside an
interval whose ends agree: a rise and a fall that cancel there are not found.) All intervals of one
depth, over all solutions, are estimated together; a p is never estimated twice.

For each pivotal token the policy samples alternative next tokens after the same prefix (one token
each), and p is estimated after each distinct alternative. The pair is the original token and the
alternative furthest on the other side: chosen raises p, rejected lowers it; a pair is kept when the
two differ by at least ``threshold``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from prm.annotate import (
    Probe,
    RolloutConfig,
    Timing,
    VerifyBatch,
    local_verify_batch,
    render_prompt,
    success_counts,
    verify_counted,
)
from prm.generate import Generator, Request, SamplingParams


@dataclass(frozen=True)
class PTSConfig:
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    threshold: float = 0.2  # the least change in p that makes a token pivotal (and a pair worth keeping)
    alternatives: int = 8  # next-token samples drawn per pivotal token
    max_alternatives: int = 4  # distinct alternatives whose p is estimated
    alt_temperature: float = 1.0  # temperature of the next-token samples

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.alternatives < 1 or self.max_alternatives < 1:
            raise ValueError("alternatives and max_alternatives must be >= 1")


@dataclass(frozen=True)
class PTSItem:
    question: str
    reference: str
    solution: str


@dataclass(frozen=True)
class PivotalToken:
    position: int  # 0-based index of the pivotal token in the solution's tokens
    token_id: int
    prefix: str  # the solution's text before the token
    token: str  # the token's text (as it continues the prefix)
    p_before: float  # p after the prefix
    p_after: float  # p after the prefix and the token
    alternatives: dict[str, float]  # each distinct sampled alternative's text -> p after it
    pair: tuple[str, float, str, float] | None  # (chosen, p, rejected, p), or None: no contrast found


class _Tokens:
    """A solution's token ids and the text of each prefix (decoded once, on demand)."""

    def __init__(self, tokenizer: Any, text: str) -> None:
        self.tok = tokenizer
        self.ids: list[int] = list(tokenizer.encode(text, add_special_tokens=False))
        self.text = lru_cache(maxsize=None)(self._decode)

    def _decode(self, i: int) -> str:
        return str(self.tok.decode(self.ids[:i], skip_special_tokens=False))

    def token_text(self, i: int) -> str | None:
        """Token i's text as it continues prefix i, or None when decoding does not extend the prefix
        (a token that is part of a character)."""
        before, after = self.text(i), self.text(i + 1)
        return after[len(before) :] if after.startswith(before) and len(after) > len(before) else None


def search(
    items: Sequence[PTSItem],
    tokenizer: Any,
    generator: Generator,
    config: PTSConfig,
    verify_batch: VerifyBatch = local_verify_batch,
    timing: Timing | None = None,
    on_request: Callable[[], None] | None = None,
) -> list[list[PivotalToken]]:
    """The pivotal tokens of each item, in token order."""
    timing = timing if timing is not None else Timing()
    rc = config.rollout
    heads = [render_prompt(rc.template, it.question) for it in items]
    toks = [_Tokens(tokenizer, it.solution) for it in items]
    finals = verify_counted(
        verify_batch, [(it.solution, it.reference) for it in items], [it.question for it in items], timing
    )
    p: dict[tuple[int, int], float] = {}
    for s, (tk, ok) in enumerate(zip(toks, finals, strict=True)):
        p[(s, len(tk.ids))] = 1.0 if ok else 0.0

    def estimate(points: list[tuple[int, int]]) -> None:
        probes = [
            Probe(heads[s] + toks[s].text(i), toks[s].text(i), items[s].reference, items[s].question)
            for s, i in points
        ]
        counts = success_counts(
            probes,
            generator,
            verify_batch,
            rc.params,
            timing,
            verify_every=rc.verify_every,
            on_request=on_request,
        )
        for pt, c in zip(points, counts, strict=True):
            p[pt] = c / rc.params.n

    thr = config.threshold - 1e-9
    intervals = [(s, 0, len(t.ids)) for s, t in enumerate(toks) if t.ids]
    pivots: list[tuple[int, int]] = []
    while intervals:
        need = sorted({(s, i) for s, lo, hi in intervals for i in (lo, hi) if (s, i) not in p})
        if need:
            estimate(need)
        nxt: list[tuple[int, int, int]] = []
        for s, lo, hi in intervals:
            if abs(p[(s, hi)] - p[(s, lo)]) < thr:
                continue
            if hi - lo == 1:
                pivots.append((s, lo))
            else:
                mid = (lo + hi) // 2
                nxt += [(s, lo, mid), (s, mid, hi)]
        intervals = nxt
    pivots = [(s, i) for s, i in sorted(pivots) if toks[s].token_text(i) is not None]

    # alternatives: one-token samples after each pivotal prefix, then p after each distinct one
    alt_params = SamplingParams(
        n=config.alternatives,
        temperature=config.alt_temperature,
        top_p=rc.params.top_p,
        max_tokens=1,
        seed=rc.params.seed,
    )
    alt_texts: list[list[str]] = [[] for _ in pivots]
    reqs = [Request(heads[s] + toks[s].text(i), alt_params) for s, i in pivots]
    t0 = time.perf_counter()
    for j, texts in generator.stream(reqs):
        own = (toks[pivots[j][0]].token_text(pivots[j][1]) or "").strip()
        seen: list[str] = []
        for t in texts:
            if t.strip() and t.strip() != own and t not in seen and len(seen) < config.max_alternatives:
                seen.append(t)
        alt_texts[j] = seen
        if on_request is not None:
            on_request()
    timing.generate_s += time.perf_counter() - t0
    timing.requests += len(reqs)
    alt_probes: list[Probe] = []
    for (s, i), alts in zip(pivots, alt_texts, strict=True):
        for a in alts:
            prefix = toks[s].text(i) + a
            alt_probes.append(Probe(heads[s] + prefix, prefix, items[s].reference, items[s].question))
    alt_counts = success_counts(
        alt_probes,
        generator,
        verify_batch,
        rc.params,
        timing,
        verify_every=rc.verify_every,
        on_request=on_request,
    )

    out: list[list[PivotalToken]] = [[] for _ in items]
    pos = 0
    for (s, i), alts in zip(pivots, alt_texts, strict=True):
        alt_p = {a: c / rc.params.n for a, c in zip(alts, alt_counts[pos : pos + len(alts)], strict=True)}
        pos += len(alts)
        token = toks[s].token_text(i) or ""
        before, after = p[(s, i)], p[(s, i + 1)]
        pair: tuple[str, float, str, float] | None = None
        if alt_p:
            if after > before:  # the token raises p: it is chosen against the lowest alternative
                alt = min(alt_p, key=lambda a: alt_p[a])
                if after - alt_p[alt] >= thr:
                    pair = (token, after, alt, alt_p[alt])
            else:  # the token lowers p: the highest alternative is chosen against it
                alt = max(alt_p, key=lambda a: alt_p[a])
                if alt_p[alt] - after >= thr:
                    pair = (alt, alt_p[alt], token, after)
        out[s].append(
            PivotalToken(
                position=i,
                token_id=toks[s].ids[i],
                prefix=toks[s].text(i),
                token=token,
                p_before=before,
                p_after=after,
                alternatives=alt_p,
                pair=pair,
            )
        )
    return out


def dpo_rows(item: PTSItem, pivots: Sequence[PivotalToken], template: str) -> list[dict[str, Any]]:
    """One DPO row per pivotal token with a pair: prompt = the templated question + the prefix,
    chosen/rejected = one token each, with their success probabilities."""
    head = render_prompt(template, item.question)
    rows = []
    for pv in pivots:
        if pv.pair is None:
            continue
        chosen, chosen_p, rejected, rejected_p = pv.pair
        rows.append(
            {
                "prompt": head + pv.prefix,
                "chosen": chosen,
                "rejected": rejected,
                "chosen_p": chosen_p,
                "rejected_p": rejected_p,
                "p_before": pv.p_before,
                "position": pv.position,
                "token_id": pv.token_id,
                "original_is_chosen": chosen == pv.token,
            }
        )
    return rows
