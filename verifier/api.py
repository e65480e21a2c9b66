"""``verify(pred, ref)``: extract -> normalise -> parse -> compare, then the optional second opinion.

Cheap checks (normalised strings, exact numbers, choice letters, text, structure) run in the caller's
process; only a comparison that needs SymPy is sent, whole, to a sandbox worker under
``config.timeout_s`` and ``config.memory_mb`` (:func:`verifier.sandbox.run_limited`).
"""

from __future__ import annotations

import functools
import re
import time
from dataclasses import replace

from verifier.compare import Context, NeedsSymbolic, Outcome, compare, symbolic_compare
from verifier.config import VerifyConfig
from verifier.extract import (
    CONVENTIONS,
    NO_STATEMENT,
    Reading,
    extract_reference,
    find_answer,
    question_options,
)
from verifier.group import answer_key
from verifier.guards import CHAT_TURN, addresses_grader, grader_injection
from verifier.kinds import read_kinds
from verifier.mathparse import TooCostly
from verifier.normalize import normalize, unit_of
from verifier.parse import Answer, Unparseable, parse_answer
from verifier.verdict import Method, Status, Verdict

_DEFAULT = VerifyConfig()

# a question asking for a rounded answer lets a decimal match the exact value it rounds
_ASKS_TO_ROUND = re.compile(
    r"\bround(?:ed|ing)?\s+(?:\w+\s+){0,3}?(?:to|off|down|up)\b|\bto\s+the\s+nearest\b"
    r"|\bdecimal\s+places?\b|\bsignificant\s+(?:figures|digits)\b|\bas\s+a\s+decimal\b"
    r"|\bapproximate(?:ly)?\b|\bestimate\b",
    re.IGNORECASE,
)
_ONLY_PUNCTUATION = re.compile(r"^[\W_]*$")
# the unit a question asks the answer in: "(Unit: m)", "in the unit of mW" (TheoremQA's phrasing)
_QUESTION_UNIT = re.compile(
    r"\(unit:\s*([A-Za-z]{1,6}(?:/[A-Za-z]{1,6})?)\s*\)|in the unit of\s+([A-Za-z]{1,6})\b", re.I
)


_ASKS_TRUE_FALSE = re.compile(r"\b(?:answer|return|output|reply)\s+(?:with\s+)?true\s+or\s+false\b", re.I)
_TRUTH_WORDS = {"true": "1", "false": "0"}


def _truth_value(pred_norm: str, ref: str, question: str | None) -> str:
    """``True``/``False`` as ``1``/``0`` when the question asks to answer True or False and the
    reference is written ``1`` or ``0`` (TheoremQA stores a boolean answer as a number)."""
    word = _TRUTH_WORDS.get(pred_norm.strip().strip("{}").lower())
    if word is None or ref.strip() not in ("0", "1") or not question or not _ASKS_TRUE_FALSE.search(question):
        return pred_norm
    return word


def _without_question_unit(answer: str, question: str | None) -> str:
    """The answer without the unit the question asked it in, after each number ("35.785 m" for a
    question that says "(Unit: m)", "[12mW, 8mW]" for "in the unit of mW"): a one-letter unit that the
    question names is not the variable m."""
    if not question or ("unit" not in question and "Unit" not in question):
        return answer
    m = _QUESTION_UNIT.search(question)
    if m is None:
        return answer
    unit = re.escape(m.group(1) or m.group(2))
    return re.sub(rf"(?<=\d)\s*{unit}(?![A-Za-z/^\u00b2\u00b3\u00b9\u2070-\u209f])", "", answer)


# normalising is a pure function of the text, and references (and many answers) repeat from call to
# call (k samples per prompt): remember the last few thousand, a few MB at most
_normalize = functools.lru_cache(maxsize=4096)(normalize)
_unit_of = functools.lru_cache(maxsize=4096)(unit_of)
# a plain integer as answers and references are most often written ("18", "-3"; no leading zero)
_PLAIN_INTEGER = re.compile(r"-?(?:0|[1-9]\d{0,17})")


def _plain_integers(pred: str, ref: str) -> Verdict | None:
    """Two plain integers are decided here, before normalising and parsing (the commonest pair)."""
    if _PLAIN_INTEGER.fullmatch(pred) is None or _PLAIN_INTEGER.fullmatch(ref) is None:
        return None
    if pred == ref:
        return Verdict(Status.CORRECT, Method.STRING, pred, ref, "identical after normalisation")
    if int(pred) == int(ref):  # "-0" and "0"
        return Verdict(Status.CORRECT, Method.NUMERIC, pred, ref, "equal numbers")
    kinds = ("number", "number")
    return Verdict(Status.INCORRECT, Method.NUMERIC, pred, ref, f"{pred} != {ref}", kinds=kinds)


def verify(
    pred: str, ref: str, *, question: str | None = None, config: VerifyConfig | None = None
) -> Verdict:
    """Grade ``pred`` (a whole response or a bare answer) against ``ref``. Never raises for str input.

    Non-str input gives an ERROR verdict naming the bad argument.
    """
    start = time.perf_counter()
    if config is None:
        config = _DEFAULT
    bad = _bad_argument(pred, ref, question, config)
    if bad is not None:
        return Verdict(Status.ERROR, Method.NONE, None, None, bad, time.perf_counter() - start)
    verdict = _verify_rules(pred, ref, question, config)
    verdict = replace(verdict, answer_key=answer_key(verdict.pred_answer))
    if config.judge is not None:
        from verifier import judge

        verdict = judge.second_opinion(verdict, question=question, config=config)
    return verdict.with_elapsed(time.perf_counter() - start)


def _bad_argument(pred: object, ref: object, question: object, config: object) -> str | None:
    for name, value in (("pred", pred), ("ref", ref)):
        if not isinstance(value, str):
            return f"bad argument: {name} must be a str, got {type(value).__name__}"
    if question is not None and not isinstance(question, str):
        return f"bad argument: question must be a str or None, got {type(question).__name__}"
    if not isinstance(config, VerifyConfig):
        return f"bad argument: config must be a VerifyConfig, got {type(config).__name__}"
    limits = (
        ("timeout_s", config.timeout_s > 0, "> 0"),
        ("memory_mb", config.memory_mb >= 0, ">= 0 (0: no limit)"),
        ("max_answer_chars", config.max_answer_chars > 0, "> 0"),
        ("max_response_chars", config.max_response_chars > 0, "> 0"),
        ("float_rel_tol", 0 <= config.float_rel_tol < 1, "in [0, 1)"),
        (
            "rounded_min_sig_digits",
            config.rounded_min_sig_digits is None or config.rounded_min_sig_digits >= 0,
            "None (off) or >= 0",
        ),
    )
    for name, ok, rule in limits:
        if not ok:
            return f"bad argument: config.{name} must be {rule}, got {getattr(config, name)!r}"
    return _bad_conventions(config.answer_conventions)


def _bad_conventions(conventions: object) -> str | None:
    if conventions is None:
        return None
    if isinstance(conventions, str) or not isinstance(conventions, (tuple, frozenset)):
        return (
            "bad argument: config.answer_conventions must be None or a tuple of convention names, "
            f"got {conventions!r}"
        )
    unknown = sorted(str(c) for c in conventions if c not in CONVENTIONS)
    if unknown or not conventions:
        return (
            f"bad argument: config.answer_conventions has unknown names {unknown} (known: "
            f"{', '.join(sorted(CONVENTIONS))})"
            if unknown
            else "bad argument: config.answer_conventions is empty (None means every convention)"
        )
    return None


def _verify_rules(pred: str, ref: str, question: str | None, config: VerifyConfig) -> Verdict:
    ref_x = extract_reference(ref, max_chars=config.max_response_chars)
    if ref_x is None:
        return Verdict(Status.ERROR, Method.NONE, None, None, "bad argument: the reference is empty")
    ref_answer = ref_x.answer.strip()
    tail = pred[-config.max_response_chars :]
    reading = find_answer(tail, max_chars=config.max_response_chars)
    injection = grader_injection(tail)
    if injection is None and reading.runon:
        injection = _turn_injection(reading)
    if injection is not None:
        return Verdict(
            Status.INCORRECT,
            Method.NONE,
            None,
            ref_answer,
            f"never correct: text aimed at the grader ({injection})",
        )
    if config.answer_conventions is not None:
        reading = find_answer(
            tail, max_chars=config.max_response_chars, conventions=config.answer_conventions
        )
    if reading.extraction is None:
        reason = reading.reason
        if config.answer_conventions is not None and reason == NO_STATEMENT:
            reason = f"the response states no final answer as {' or '.join(config.answer_conventions)}"
        return Verdict(Status.NO_ANSWER, Method.NONE, None, ref_answer, reason)
    pred_answer = reading.extraction.answer.strip()
    for side, text in (("answer", pred_answer), ("reference", ref_answer)):
        if len(text) > config.max_answer_chars:
            return Verdict(
                Status.UNPARSEABLE, Method.NONE, pred_answer, ref_answer,
                f"the {side} is longer than {config.max_answer_chars} characters",
            )  # fmt: skip
    plain = _plain_integers(pred_answer, ref_answer)
    if plain is not None:
        return plain
    pred_unit, ref_unit = _unit_of(pred_answer), _unit_of(ref_answer)
    if pred_unit is not None and ref_unit is not None and pred_unit != ref_unit:
        reason = f"different units: {pred_unit} for {ref_unit}"
        kinds = read_kinds(_normalize(pred_answer), _normalize(ref_answer), question)
        return Verdict(Status.INCORRECT, Method.STRING, pred_answer, ref_answer, reason, kinds=kinds)
    pred_norm = _normalize(_without_question_unit(pred_answer, question))
    pred_norm = _truth_value(pred_norm, ref_answer, question)
    ref_norm = _normalize(ref_answer).removesuffix("?").rstrip()  # a reference is never a hedge
    if _ONLY_PUNCTUATION.match(ref_norm):
        return Verdict(
            Status.ERROR, Method.NONE, pred_answer, ref_answer, "bad argument: the reference is empty"
        )
    if _ONLY_PUNCTUATION.match(pred_norm):
        return Verdict(
            Status.NO_ANSWER, Method.NONE, pred_answer, ref_answer, "the answer is empty or punctuation"
        )
    if pred_norm.endswith("?"):
        return Verdict(
            Status.INCORRECT, Method.NONE, pred_answer, ref_answer,
            "the answer ends in a question mark: a question or a hedge, not an answer",
        )  # fmt: skip
    if pred_norm == ref_norm:
        return Verdict(
            Status.CORRECT, Method.STRING, pred_answer, ref_answer, "identical after normalisation"
        )
    outcome = _decide(pred_norm, ref_norm, question, config)
    # what the parser read each side as, for the judge's gate (the parse is memoised: no second reading)
    read = None if outcome.status is Status.CORRECT else read_kinds(pred_norm, ref_norm, question)
    return Verdict(outcome.status, outcome.method, pred_answer, ref_answer, outcome.reason, kinds=read)


def _turn_injection(reading: Reading) -> str | None:
    """A chat-turn token in a response: a raw decode that ran on past its answer is fine; a turn that
    addresses the grader, or an answer placed only after a turn opened inside the response, is not."""
    if addresses_grader(reading.runon):
        return "a chat turn addresses the grader"
    before = reading.extraction
    if before is None or before.how == "bare":
        after = find_answer(CHAT_TURN.sub("\n", reading.runon)).extraction
        if after is not None and after.how != "bare":
            return "an answer after a chat turn opened inside the response"
    return None


def _decide(pred_norm: str, ref_norm: str, question: str | None, config: VerifyConfig) -> Outcome:
    parsed: list[Answer] = []
    for side, text in (("reference", ref_norm), ("answer", pred_norm)):
        try:
            parsed.append(parse_answer(text))
        except TooCostly as exc:
            return Outcome(Status.UNPARSEABLE, Method.NONE, f"cost guard on the {side}: {exc}")
        except Unparseable as exc:
            return Outcome(Status.UNPARSEABLE, Method.NONE, f"cannot read the {side} as math: {exc}")
    ref_a, pred_a = parsed
    rounding = config.allow_rounded_decimals or bool(question and _ASKS_TO_ROUND.search(question))
    options = tuple((letter, normalize(text)) for letter, text in question_options(question))
    try:
        return compare(pred_a, ref_a, Context(config, symbolic=False, rounding=rounding, options=options))
    except NeedsSymbolic:
        pass
    except TooCostly as exc:
        return Outcome(Status.UNPARSEABLE, Method.NONE, f"cost guard: {exc}")
    # the values SymPy's answer is certain for, decided here (verifier.algebra), so that a pair whose
    # expressions expand alike or differ at a sample point never waits for the SymPy pool
    try:
        ctx = Context(config, symbolic=False, rounding=rounding, options=options, algebra=True)
        return compare(pred_a, ref_a, ctx)
    except Exception:  # NeedsSymbolic, or anything else: the sandbox's answer, in its own words
        return _symbolic(pred_a, ref_a, config, rounding, options)


def _symbolic(
    pred: Answer, ref: Answer, config: VerifyConfig, rounding: bool, options: tuple[tuple[str, str], ...]
) -> Outcome:
    """The one step that runs SymPy: whole comparison in a sandbox worker under the limits."""
    from verifier.sandbox import SandboxCrash, SandboxTimeout, run_limited

    plain = replace(config, judge=None)
    try:
        args = (pred, ref, plain, rounding, options)
        return run_limited(symbolic_compare, *args, timeout_s=config.timeout_s, memory_mb=config.memory_mb)
    except SandboxTimeout:
        return Outcome(Status.TIMEOUT, Method.NONE, f"SymPy overran the {config.timeout_s:g} s limit")
    except SandboxCrash as exc:
        if exc.exc_type == "MemoryError":
            return Outcome(Status.TIMEOUT, Method.NONE, f"SymPy hit the {config.memory_mb} MiB memory limit")
        return Outcome(Status.ERROR, Method.NONE, f"the SymPy worker failed: {str(exc)[:160]}")
