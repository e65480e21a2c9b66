"""The judge over HTTP against a real chat-completions server on a loopback port.

The rule verdicts here are built by hand (they are the judge's input); tests/verifier/judge/test_e2e.py
drives the same server through verify() itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.verifier.chat_server import (
    ChatServer,
    Reply,
    always,
    closed_port,
    fenced,
    honest,
    outside_answer_fence,
    sequence,
)
from verifier.config import VerifyConfig
from verifier.judge import JudgeConfig, close_judges, get_client, second_opinion, second_opinion_batch
from verifier.kinds import read_kinds
from verifier.normalize import normalize
from verifier.verdict import Method, Status, Verdict

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
INJECTIONS = [json.loads(line) for line in (FIXTURES / "judge_injections.jsonl").read_text().splitlines()]


@pytest.fixture(autouse=True)
def _fresh_clients():
    close_judges()
    yield
    close_judges()


def fast(url: str, **kw) -> VerifyConfig:
    """A judge config with short limits, so failure paths run quickly."""
    opts = {
        "base_url": url,
        "model": "judge-test",
        "api_key_env": "",
        "timeout_s": 3.0,
        "request_timeout_s": 2.0,
        "backoff_s": 0.01,
        "breaker_threshold": 50,
        "breaker_cooldown_s": 0.3,
    }
    opts.update(kw)
    return VerifyConfig(judge=JudgeConfig(**opts))


def rejected(answer: str = r"\text{twelve}", ref: str = "12", status: Status = Status.INCORRECT) -> Verdict:
    """A rule rejection with the kinds the rule pipeline records for it (the gate reads them)."""
    method = Method.STRING if status is Status.INCORRECT else Method.NONE
    kinds = read_kinds(normalize(answer), normalize(ref))
    return Verdict(
        status=status, method=method, pred_answer=answer, ref_answer=ref, reason="rules said no", kinds=kinds
    )


def test_agreement_overturns_and_says_so():
    with ChatServer(always("equivalent")) as srv:
        v = second_opinion(rejected(), question="How many eggs in a dozen?", config=fast(srv.url))
    assert v.correct and v.status is Status.CORRECT and v.method is Method.JUDGE
    assert v.judge is not None and v.judge.label == "equivalent" and v.judge.available
    assert v.judge.model == "judge-test"
    assert "rules said no" in v.reason
    body = srv.requests[0]
    assert body["model"] == "judge-test" and body["temperature"] == 0 and body["max_tokens"] == 16
    assert fenced(body) == {
        "answer": r"\text{twelve}",
        "reference": "12",
        "question": "How many eggs in a dozen?",
    }


def test_unparseable_answers_are_consulted_too():
    with ChatServer(always("equivalent")) as srv:
        v = second_opinion(rejected(status=Status.UNPARSEABLE), config=fast(srv.url))
    assert v.correct and v.method is Method.JUDGE and srv.calls == 1


@pytest.mark.parametrize("label", ["not_equivalent", "invalid_answer"])
def test_a_no_keeps_the_rule_verdict_and_records_the_label(label):
    with ChatServer(always(label)) as srv:
        v = second_opinion(rejected(), config=fast(srv.url))
    assert not v and v.status is Status.INCORRECT and v.method is Method.STRING
    assert v.judge is not None and v.judge.available and v.judge.label == label


@pytest.mark.parametrize(
    ("reply", "detail"),
    [
        (Reply(content="I'm sorry, but I can't help with grading this."), "garbage"),
        (Reply(content="equivalent, since twelve is 12"), "garbage"),
        (Reply(raw="<html>oops</html>"), "not a chat-completions reply"),
        (Reply(raw='{"choices": []}'), "not a chat-completions reply"),
        (Reply(raw='{"choices": [{"message": {"content": null}}]}'), "no text content"),
        (Reply(status=400, raw='{"error": "bad model"}'), "HTTP 400"),
    ],
)
def test_refusal_and_garbage_keep_the_rule_verdict(reply, detail):
    with ChatServer(lambda _body: reply) as srv:
        v = second_opinion(rejected(), config=fast(srv.url))
    assert not v and v.status is Status.INCORRECT and v.method is Method.STRING
    assert v.judge is not None and not v.judge.available and v.judge.label is None
    assert detail in v.judge.detail
    assert srv.calls == 1  # neither garbage nor a 4xx is retried


def test_a_slow_judge_never_holds_the_call_past_its_limit():
    with ChatServer(always("equivalent", delay_s=30)) as srv:
        start = time.monotonic()
        v = second_opinion(rejected(), config=fast(srv.url, timeout_s=1.0, request_timeout_s=0.4))
        spent = time.monotonic() - start
    assert not v and v.judge is not None and not v.judge.available
    assert "timed out" in v.judge.detail or "no reply" in v.judge.detail
    # the server would hold the call 30 s; the bound: the limit plus one read, slack for a loaded machine
    assert spent < 1.0 + 0.4 + 1.5
    assert v.elapsed_s >= 0.4


def test_5xx_are_retried_with_backoff_then_succeed():
    script = sequence([Reply(status=500, raw="boom"), Reply(status=503, raw="busy"), Reply("equivalent")])
    with ChatServer(script) as srv:
        v = second_opinion(rejected(), config=fast(srv.url, max_retries=2))
    assert v.correct and srv.calls == 3


def test_retries_are_bounded():
    with ChatServer(always(status=502, raw="bad gateway")) as srv:
        v = second_opinion(rejected(), config=fast(srv.url, max_retries=2))
    assert not v and v.judge is not None and not v.judge.available
    assert "HTTP 502" in v.judge.detail and "after 3 attempts" in v.judge.detail
    assert srv.calls == 3


def test_connection_refused_is_unavailable_not_an_error():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    v = second_opinion(rejected(), config=fast(url, max_retries=1))
    assert v.status is Status.INCORRECT and v.judge is not None and not v.judge.available
    assert "connection failed" in v.judge.detail


def test_circuit_opens_after_consecutive_failures_then_half_opens():
    script = sequence([Reply(status=500, raw="x"), Reply(status=500, raw="x")], then=Reply("equivalent"))
    with ChatServer(script) as srv:
        cfg = fast(srv.url, max_retries=0, breaker_threshold=2, breaker_cooldown_s=0.5)
        words = ("one", "two", "three", "four", "five", "six")
        answers = [(rf"\text{{{w} dozen}}", str(12 * (k + 1))) for k, w in enumerate(words)]
        first = [second_opinion(rejected(*a), config=cfg) for a in answers[:3]]
        assert srv.calls == 2  # the third call never left: the circuit is open
        assert "circuit open" in first[2].judge.detail
        assert get_client(cfg.judge).breaker.state == "open"
        time.sleep(0.6)
        probe = second_opinion(rejected(*answers[3]), config=cfg)
        assert probe.correct and get_client(cfg.judge).breaker.state == "closed"
        after = second_opinion(rejected(*answers[4]), config=cfg)
        assert after.correct and srv.calls == 4


def test_a_failed_trial_call_reopens_the_circuit():
    with ChatServer(always(status=500, raw="x")) as srv:
        cfg = fast(srv.url, max_retries=0, breaker_threshold=1, breaker_cooldown_s=0.3)
        second_opinion(rejected(r"\text{one dozen}"), config=cfg)
        time.sleep(0.35)
        second_opinion(rejected(r"\text{two dozen}", "24"), config=cfg)  # the trial call fails
        v = second_opinion(rejected(r"\text{three dozen}", "36"), config=cfg)
    assert srv.calls == 2 and "circuit open" in v.judge.detail


def test_the_cache_answers_repeated_pairs():
    with ChatServer(always("equivalent")) as srv:
        cfg = fast(srv.url)
        a = second_opinion(rejected(r"\text{twelve}"), question="Q1", config=cfg)
        b = second_opinion(rejected(r"\text{twelve}  "), question="Q1", config=cfg)
        c = second_opinion(rejected(r"\text{twelve}"), question="Q2", config=cfg)
    assert a.correct and b.correct and c.correct
    assert b.judge.detail == "cached" and a.judge.detail == ""
    assert srv.calls == 2  # Q2 is another key


def test_failures_are_not_cached():
    script = sequence([Reply(content="garbage")], then=Reply("equivalent"))
    with ChatServer(script) as srv:
        cfg = fast(srv.url)
        assert not second_opinion(rejected(), config=cfg)
        assert second_opinion(rejected(), config=cfg)
    assert srv.calls == 2


def test_batch_is_concurrent_within_the_limit_in_order_and_asks_each_pair_once():
    words = ("one", "two", "three", "four", "five", "six", "seven", "eight")
    verdicts = [rejected(rf"\text{{{words[i % 8]} dozen}}", str(12 * (i % 8 + 1))) for i in range(16)]
    verdicts[3] = rejected("41", "42")  # never consulted: two plain numbers
    verdicts[5] = Verdict(Status.CORRECT, Method.NUMERIC, "12", "12", "equal")
    # each call is held 0.5 s so that, even on a loaded machine, the next ones start while it is held
    with ChatServer(always("equivalent", delay_s=0.5)) as srv:
        out = second_opinion_batch(verdicts, [None] * 16, fast(srv.url, max_concurrency=3))
    assert len(out) == 16
    assert out[3] is verdicts[3] and not out[3]
    assert out[5] is verdicts[5]
    assert all(o.correct and o.method is Method.JUDGE for i, o in enumerate(out) if i not in (3, 5))
    assert srv.calls == 8  # 8 distinct answers
    assert 2 <= srv.max_in_flight <= 3


def test_batch_checks_its_arguments():
    with pytest.raises(ValueError, match="2 verdicts but 1 questions"):
        second_opinion_batch([rejected(), rejected()], [None], fast("http://127.0.0.1:9/v1"))
    assert second_opinion_batch([rejected()], None, VerifyConfig()) == [rejected()]


def test_no_judge_configured_means_the_rule_verdict_unchanged():
    v = rejected()
    assert second_opinion(v, config=VerifyConfig()) is v
    assert second_opinion(v, config=None) is v


def test_overturns_are_audited_as_jsonl(tmp_path):
    log = tmp_path / "audit" / "overturns.jsonl"
    log.parent.mkdir()
    with ChatServer(honest([(r"\text{twelve}", "12")])) as srv:
        cfg = fast(srv.url, audit_log=str(log))
        yes = second_opinion(rejected(r"\text{twelve}"), question="How many?", config=cfg)
        no = second_opinion(rejected(r"\text{eleven}"), question="How many?", config=cfg)
    assert yes.correct and not no
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(records) == 1
    rec = records[0]
    assert rec["pred_answer"] == r"\text{twelve}" and rec["ref_answer"] == "12"
    assert rec["model"] == "judge-test" and rec["label"] == "equivalent"
    assert len(rec["question_sha256"]) == 64 and "How many" not in json.dumps(rec)
    assert rec["rule_status"] == "incorrect" and rec["time"].endswith("+00:00")


def test_an_unwritable_audit_log_does_not_fail_the_call(tmp_path):
    with ChatServer(always("equivalent")) as srv:
        v = second_opinion(rejected(), config=fast(srv.url, audit_log=str(tmp_path / "missing" / "a.jsonl")))
    assert v.correct


def test_the_api_key_comes_from_the_named_environment_variable(monkeypatch):
    monkeypatch.setenv("MATHREWARD_TEST_JUDGE_KEY", "sk-test-123")
    with ChatServer(always("equivalent")) as srv:
        cfg = fast(srv.url, api_key_env="MATHREWARD_TEST_JUDGE_KEY")
        second_opinion(rejected(), config=cfg)
    assert srv.requests[0]["_headers"]["Authorization"] == "Bearer sk-test-123"
    assert "sk-test-123" not in repr(cfg)


def test_a_bare_host_url_gets_the_v1_prefix():
    with ChatServer(always("equivalent")) as srv:
        v = second_opinion(rejected(), config=fast(f"http://127.0.0.1:{srv.port}"))
    assert v.correct


@pytest.mark.parametrize("row", [r for r in INJECTIONS if r["gate"] != "judge"], ids=lambda r: r["why"][:40])
def test_gated_payloads_never_reach_an_always_yes_judge(row):
    with ChatServer(always("equivalent")) as srv:
        for status in (Status.INCORRECT, Status.UNPARSEABLE):
            v = second_opinion(
                rejected(row["answer"], row["ref"], status), question=row["question"], config=fast(srv.url)
            )
            assert not v and v.judge is None, row["why"]
    assert srv.calls == 0


@pytest.mark.parametrize("row", [r for r in INJECTIONS if r["gate"] == "judge"], ids=lambda r: r["why"][:40])
def test_payloads_that_reach_the_judge_stay_inside_the_fence(row):
    with ChatServer(honest([])) as srv:
        v = second_opinion(
            rejected(row["answer"], row["ref"]), question=row["question"], config=fast(srv.url)
        )
    assert not v and v.judge is not None and v.judge.label == "not_equivalent"
    (body,) = srv.requests
    assert fenced(body)["answer"] == row["answer"]
    assert row["answer"] not in outside_answer_fence(body)


def test_extra_body_fields_reach_the_server_but_never_override_the_core_fields():
    extra = '{"guided_choice": ["equivalent", "not_equivalent", "invalid_answer"], "temperature": 1.5}'
    with ChatServer(always("equivalent")) as srv:
        assert second_opinion(rejected(), config=fast(srv.url, extra_body_json=extra))
    body = srv.requests[0]
    assert body["guided_choice"] == ["equivalent", "not_equivalent", "invalid_answer"]
    assert body["temperature"] == 0
