"""LLM second opinion: recover the rule verifier's false negatives without opening a door to reward hacking.

``verify(pred, ref, config=VerifyConfig(judge=JudgeConfig(...)))`` ends with
:func:`second_opinion`, and ``verify_batch`` with :func:`second_opinion_batch`. Both take the rule
verdicts and return them unchanged unless the policy (:func:`verifier.judge.policy.consult_refusal`)
lets the judge revisit one:

- the gate reads the kinds the rule pipeline recorded on the verdict (``Verdict.kinds``, named by
  :mod:`verifier.kinds`): consulted only when a side could not be read, or the two sides are kinds the
  rules cannot compare (words against a value, free text against free text, an option's content
  against a letter whose options are not known);
- never when both sides were read into comparable kinds and compared (numbers, relations, equations,
  chains, intervals, sets, tuples, matrices, units of one quantity, closed vocabularies, different
  letters): the gate is asked again before any overturn, so no judge reply can turn such a pair
  correct; never for master-key answers (empty, punctuation, "Solution", "Let me think", text
  addressing a grader, prompt markup, answers over the length cap);
- the judge reads the question, the reference and the extracted answer only, the answer fenced by a
  per-call random code; its reply must be exactly one label, anything else keeps the rule verdict.

A consulted verdict carries ``judge=JudgeInfo(model, label, available, detail)``. Only "equivalent"
changes it (status CORRECT, method JUDGE), and each such overturn is appended to ``audit_log``.
A judge that is down, slow or answering garbage never fails a call and never holds it past
``timeout_s``: the rule verdict stands with ``JudgeInfo(available=False, detail=why)``.

One :class:`JudgeClient` per distinct :class:`JudgeConfig` per process (a registry, like a
connection pool) holds the backend, the LRU cache, the concurrency limit and the circuit breaker.

Modules: :mod:`~verifier.judge.config` (``JudgeConfig``), :mod:`~verifier.judge.policy` (when the judge
may be consulted, the prompt, the label parser), :mod:`~verifier.judge.backends` (HTTP and in-process
chat backends), :mod:`~verifier.judge.client` (cache, breaker, concurrency, ``second_opinion``).
"""

from __future__ import annotations

from verifier.judge.backends import JudgeUnavailable
from verifier.judge.client import (
    CircuitBreaker,
    JudgeClient,
    close_judges,
    get_client,
    second_opinion,
    second_opinion_batch,
    should_consult,
)
from verifier.judge.config import JudgeConfig
from verifier.judge.policy import LABELS

__all__ = [
    "LABELS",
    "CircuitBreaker",
    "JudgeClient",
    "JudgeConfig",
    "JudgeUnavailable",
    "close_judges",
    "get_client",
    "second_opinion",
    "second_opinion_batch",
    "should_consult",
]
