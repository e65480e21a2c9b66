"""Canonical answer keys and the one grouping of answers that every majority vote uses.

``answer_key(answer)`` reads an extracted final answer the way :func:`verifier.verify` does
(normalise, then parse) and writes it in one canonical form, in process and without SymPy, in tens of
microseconds. Two answers with one key are the same answer to the rules (``1,027``/``1027``,
``\\frac12``/``0.5``, ``x=3``/``3``, ``\\{1,2\\}``/``2, 1``). The key is sound rather than complete:
answers only SymPy calls equal (``\\sqrt{8}`` and ``2\\sqrt{2}``) may keep two keys. One exception on
purpose: the name on the left of ``=`` is dropped (``x = 3`` and ``y = 3`` share a key, as answers to
one question name the same unknown), though verify keeps two names apart.

``group_answers(answers)`` groups by key. maj@k in ``mathreward rescore`` and the PRM-weighted vote of
:func:`prm.select_best` both call it, and the verl adapter's ``pred`` is :attr:`Verdict.answer_key`, so
their majorities agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from verifier.compare import key_of
from verifier.mathparse import ParseError, TooCostly
from verifier.normalize import normalize, unit_of
from verifier.parse import Answer, Unparseable, parse_answer

__all__ = ["answer_key", "group_answers", "read_answer"]

_ONLY_PUNCTUATION = re.compile(r"^[\W_]*$")
# the one unit a key leaves out: "\$5", "5 dollars" and "5" are one answer to a question about money.
# Any other unit stays in the key ("5 cm" is not "5 m"), since a key may join only answers the rules
# call equal, and they never call two different units equal
_UNIT_LEFT_OUT = "dollar"
# an answer longer than this is keyed by its text alone (verify calls it unparseable at the default
# max_answer_chars, and nothing longer is worth normalising to vote)
MAX_KEY_CHARS = 1000


def read_answer(answer: str) -> Answer | None:
    """The parsed kind of an extracted answer, as :func:`verifier.verify` reads it (normalised, then
    parsed), or None when the rules cannot read it (empty, punctuation, unparseable, over a cost guard).

    Use it to inspect what the rules read (a number, a relation, a set, a word of a closed vocabulary in
    :class:`verifier.parse.Text`'s ``vocab``, ...): this is the parser's own answer, not a re-recognition.
    """
    return _parsed(normalize(answer))


def _parsed(normalized: str) -> Answer | None:
    if _ONLY_PUNCTUATION.match(normalized):
        return None
    try:
        return parse_answer(normalized)
    except (Unparseable, TooCostly, ParseError, RecursionError):
        return None


def answer_key(answer: str | None) -> str | None:
    """The canonical key of one extracted answer; None when there is no answer (None, empty or only
    punctuation), so it does not vote.

    Equal keys mean the rules call the answers equal. What the rules cannot parse keys by its
    normalised text (``s:...``); a unit of measure other than dollars is part of the key.
    """
    if answer is None:
        return None
    text = answer.strip()
    if len(text) > MAX_KEY_CHARS:
        return "s:" + " ".join(text.split())
    normalized = normalize(text)
    if _ONLY_PUNCTUATION.match(normalized):
        return None
    parsed = None if normalized.endswith("?") else _parsed(normalized)
    key = "s:" + normalized if parsed is None else key_of(parsed)
    unit = unit_of(text)
    if unit is not None and unit != _UNIT_LEFT_OUT:
        key += f" [{unit}]"
    return key


def group_answers(
    answers: Sequence[str | None], *, correct: Sequence[bool] | None = None
) -> list[int | None]:
    """Each answer's group id: 0, 1, ... in order of first appearance; None for no answer (no vote).

    Answers share a group when they share an :func:`answer_key`. With ``correct`` (one verdict per
    answer against the problem's reference), every key held by a correct answer joins one group:
    they all equal the reference.
    """
    if correct is not None and len(correct) != len(answers):
        raise ValueError(f"correct has {len(correct)} entries for {len(answers)} answers")
    keys = [answer_key(a) for a in answers]
    right = {k for k, c in zip(keys, correct or (), strict=False) if c and k is not None}
    ids: dict[str, int] = {}
    out: list[int | None] = []
    for i, key in enumerate(keys):
        if correct is not None and correct[i]:
            key = "\x00correct" if key is None else key
        if key is None:
            out.append(None)
            continue
        root = "\x00correct" if key in right or key == "\x00correct" else key
        out.append(ids.setdefault(root, len(ids)))
    return out
