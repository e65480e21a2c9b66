"""The gate reads what the rules read: readable mismatches stay final whatever a judge says.

fixtures/judge_gate.jsonl has, for each family of issue 17 (equations found not equivalent, opposite
relations, false chains, unclosed LaTeX around a plain value, a sentence stating another number,
JSON or template text, closed vocabularies, units of one quantity, a letter with no options known,
an unreadable reference, clock times; and the gate's own readings: numbers in words, a sentence's
several numbers against the question's givens, operator words, clock words, truth values for 1/0,
hedge words in a sentence's subject, a letter followed by words), wrong answers that an always-yes
judge must not flip and right answers that the rules read or an honest judge recovers. Real loopback
chat servers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from tests.verifier.chat_server import ChatServer, always, honest
from verifier import Method, VerifyConfig, verify, verify_batch
from verifier.judge import JudgeConfig, close_judges

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
TABLE = [json.loads(line) for line in (FIXTURES / "judge_gate.jsonl").read_text().splitlines()]
FAMILIES = {
    "equation", "relation", "chain", "unclosed_latex", "sentence_number", "json_template",
    "closed_vocabulary", "units", "letter_without_options", "unreadable_reference", "clock_time",
    "same_letter", "number_words", "several_numbers", "operator_words", "clock_words", "truth_value",
    "hedge_subject", "letter_then_words",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_clients():
    close_judges()
    yield
    close_judges()


def judged(url: str) -> VerifyConfig:
    return VerifyConfig(
        judge=JudgeConfig(base_url=url, model="gate-test", api_key_env="", timeout_s=3.0, backoff_s=0.01)
    )


def test_every_family_has_rows_in_both_directions():
    seen: dict[str, set[bool]] = defaultdict(set)
    for row in TABLE:
        assert row["why"], row
        seen[row["family"]].add(row["equivalent"])
    assert set(seen) == FAMILIES
    assert all(directions == {True, False} for directions in seen.values()), seen


def test_an_always_yes_judge_turns_no_wrong_answer_of_the_table_correct():
    with ChatServer(always("equivalent")) as srv:
        cfg = judged(srv.url)
        for row in TABLE:
            v = verify(row["pred"], row["ref"], question=row["question"], config=cfg)
            if not row["equivalent"]:
                assert not v, (row["why"], v.kinds, v.reason)
                assert v.judge is None, row["why"]  # refused by the gate: never sent


def test_an_honest_judge_recovers_the_right_answers_the_rules_cannot_read():
    plain = [verify(r["pred"], r["ref"], question=r["question"]) for r in TABLE]
    truth = [(v.pred_answer, v.ref_answer) for v, r in zip(plain, TABLE, strict=True) if r["equivalent"]]
    with ChatServer(honest(truth)) as srv:
        cfg = judged(srv.url)
        for row, rules in zip(TABLE, plain, strict=True):
            v = verify(row["pred"], row["ref"], question=row["question"], config=cfg)
            assert v.correct is row["equivalent"], (row["why"], v.kinds, v.reason)
            if row["equivalent"] and not rules:
                assert v.method is Method.JUDGE, row["why"]
    recovered = sum(r["equivalent"] and not v for r, v in zip(TABLE, plain, strict=True))
    assert recovered >= 6  # the table keeps right answers only a judge reads


def test_verify_batch_gates_the_same_way():
    pairs = [(r["pred"], r["ref"]) for r in TABLE]
    questions = [r["question"] for r in TABLE]
    with ChatServer(always("equivalent")) as srv:
        out = verify_batch(pairs, questions=questions, config=judged(srv.url), workers=2)
    for v, row in zip(out, TABLE, strict=True):
        assert v.correct is row["equivalent"], row["why"]  # right ones: read by rules or consulted
