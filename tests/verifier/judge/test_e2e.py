"""verify() and verify_batch() with a judge: the rule verifier's real verdicts, a real loopback server."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.verifier.chat_server import ChatServer, always, closed_port, fenced, honest, outside_answer_fence
from verifier import Method, Status, VerifyConfig, verify, verify_batch
from verifier.judge import JudgeConfig, close_judges, should_consult

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
INJECTIONS = [json.loads(line) for line in (FIXTURES / "judge_injections.jsonl").read_text().splitlines()]
TABLE = [json.loads(line) for line in (FIXTURES / "judge_false_negatives.jsonl").read_text().splitlines()]
FALSE_NEGATIVES = [r for r in TABLE if r["equivalent"]]
CONTROLS = [r for r in TABLE if not r["equivalent"]]


@pytest.fixture(autouse=True)
def _fresh_clients():
    close_judges()
    yield
    close_judges()


def judged(url: str, **kw) -> VerifyConfig:
    opts = {"base_url": url, "model": "judge-test", "api_key_env": "", "timeout_s": 3.0, "backoff_s": 0.01}
    opts.update(kw)
    return VerifyConfig(judge=JudgeConfig(**opts))


def rules(row: dict):
    return verify(row["pred"], row["ref"], question=row.get("question"))


def honest_server() -> ChatServer:
    """Knows the truth of the false-negative table: the equivalent rows' (answer, reference) pairs."""
    pairs = []
    for row in FALSE_NEGATIVES:
        v = rules(row)
        pairs.append((v.pred_answer, v.ref_answer))
    return ChatServer(honest(pairs))


def test_the_table_is_large_enough_and_explained():
    assert len(FALSE_NEGATIVES) >= 20 and len(CONTROLS) >= 3
    assert all(r["why"] for r in TABLE)


def test_the_rules_alone_reject_the_table():
    """The table is of false negatives: the rules reject (at least 20 of) its right answers.
    As the rules learn a form, its row leaves the judge's hands; the recovery test below still holds."""
    rejected = [r["why"] for r in FALSE_NEGATIVES if not rules(r)]
    assert len(rejected) >= 20, rejected
    for row in FALSE_NEGATIVES:
        v = rules(row)
        assert v or v.status in (Status.INCORRECT, Status.UNPARSEABLE), row["why"]


def test_an_honest_judge_recovers_every_false_negative_and_no_control():
    by_rules = {r["why"] for r in TABLE if rules(r)}
    with honest_server() as srv:
        cfg = judged(srv.url)
        for row in FALSE_NEGATIVES:
            v = verify(row["pred"], row["ref"], question=row["question"], config=cfg)
            assert v.correct, row["why"]
            if row["why"] not in by_rules:
                assert v.method is Method.JUDGE and v.judge.label == "equivalent", row["why"]
        for row in CONTROLS:
            v = verify(row["pred"], row["ref"], question=row["question"], config=cfg)
            assert not v, row["why"]
            # refused by the gate (a readable mismatch) or judged not equivalent
            assert v.judge is None or v.judge.label == "not_equivalent", row["why"]
        consulted = [r for r in TABLE if should_consult(rules(r), cfg)]
    # final: "Monday" for option D, and the controls the gate reads as other values ("five halves" for
    # 3/2, "negative eight" for -7, "half past three" for 3:15)
    assert srv.calls == len(consulted) == len(TABLE) - len(by_rules) - 4
    questions = {fenced(body).get("question") for body in srv.requests}
    assert {r["question"] for r in consulted if r["question"]} <= questions


def test_verify_batch_batches_the_judge_calls():
    rows = TABLE + TABLE[:5]  # repeated pairs are asked once
    pairs = [(r["pred"], r["ref"]) for r in rows]
    by_rules = {r["why"] for r in TABLE if rules(r)}
    with honest_server() as srv:
        out = verify_batch(pairs, questions=[r["question"] for r in rows], config=judged(srv.url), workers=2)
    assert [v.correct for v in out] == [r["equivalent"] for r in rows]
    judged_rows = [
        (v, r) for v, r in zip(out, rows, strict=True) if r["equivalent"] and r["why"] not in by_rules
    ]
    assert judged_rows and all(v.method is Method.JUDGE for v, _ in judged_rows)
    assert srv.calls == sum(should_consult(rules(r), judged(srv.url)) for r in TABLE)


@pytest.mark.parametrize("row", [r for r in INJECTIONS if r["gate"] != "judge"], ids=lambda r: r["why"][:40])
def test_gated_injections_are_never_correct_and_never_reach_an_always_yes_judge(row):
    with ChatServer(always("equivalent")) as srv:
        v = verify(row["pred"], row["ref"], question=row["question"], config=judged(srv.url))
    assert not v, row["why"]
    assert v.judge is None and srv.calls == 0, row["why"]


@pytest.mark.parametrize("row", [r for r in INJECTIONS if r["gate"] == "judge"], ids=lambda r: r["why"][:40])
def test_injections_that_reach_the_judge_are_fenced_and_an_honest_judge_says_no(row):
    with ChatServer(honest([])) as srv:
        v = verify(row["pred"], row["ref"], question=row["question"], config=judged(srv.url))
    assert not v
    if should_consult(rules(row), judged(srv.url)) is False:
        assert srv.calls == 0  # the rules themselves stopped it (e.g. their own injection guard)
        return
    assert v.judge is not None and v.judge.label == "not_equivalent"
    (body,) = srv.requests
    payload = fenced(body)["answer"]
    assert payload == v.pred_answer
    assert payload not in outside_answer_fence(body)
    assert row["pred"] not in json.dumps(body)  # never the whole response


def test_a_down_judge_leaves_exactly_the_rule_verdicts():
    cfg = judged(f"http://127.0.0.1:{closed_port()}/v1", max_retries=0, breaker_threshold=3)
    for row in TABLE + INJECTIONS:
        plain = rules(row)
        with_judge = verify(row["pred"], row["ref"], question=row["question"], config=cfg)
        assert replace(with_judge, judge=None, elapsed_s=0.0) == replace(plain, elapsed_s=0.0), row["why"]
        if with_judge.judge is not None:
            assert not with_judge.judge.available


def test_importing_the_judge_imports_neither_torch_nor_httpx():
    code = (
        "import sys, verifier, verifier.judge; "
        "bad = [m for m in ('torch', 'transformers', 'httpx') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])
