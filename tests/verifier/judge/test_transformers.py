"""The in-process transformers judge against tiny chat models built by tests/verifier/tiny_judge.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.verifier.tiny_judge import build
from verifier import Method, Status, VerifyConfig, verify, verify_batch
from verifier.judge import JudgeConfig, close_judges, second_opinion
from verifier.kinds import read_kinds
from verifier.normalize import normalize
from verifier.verdict import Verdict

pytest.importorskip("torch")
pytest.importorskip("transformers")

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
INJECTIONS = [json.loads(line) for line in (FIXTURES / "judge_injections.jsonl").read_text().splitlines()]
TABLE = [json.loads(line) for line in (FIXTURES / "judge_false_negatives.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("tiny_judges")
    return {kind: build(out, kind) for kind in ("random", "yes", "yes-no-system")}


@pytest.fixture(autouse=True)
def _fresh_clients():
    close_judges()
    yield
    close_judges()


def local(path: Path, **kw) -> VerifyConfig:
    return VerifyConfig(judge=JudgeConfig(backend="transformers", model_path=str(path), device="cpu", **kw))


def rejected(answer: str = r"\text{twelve}", ref: str = "12") -> Verdict:
    kinds = read_kinds(normalize(answer), normalize(ref))  # as the rule pipeline records them
    return Verdict(Status.INCORRECT, Method.STRUCTURAL, answer, ref, "a text is not a number", kinds=kinds)


def test_a_random_model_answers_garbage_and_the_rule_verdict_stands(models):
    cfg = local(models["random"], timeout_s=60)
    v = second_opinion(rejected(), question="How many eggs in a dozen?", config=cfg)
    assert v.status is Status.INCORRECT and v.method is Method.STRUCTURAL
    assert v.judge is not None and not v.judge.available and v.judge.label is None
    assert v.judge.detail.startswith("garbage reply") and v.judge.model == "random"
    assert v.elapsed_s < cfg.judge.timeout_s


def test_a_yes_model_overturns_through_the_whole_path(models):
    cfg = local(models["yes"], timeout_s=60)
    v = verify(r"It comes at $\boxed{\text{a quarter past three}}$.", "3:15", question="When?", config=cfg)
    assert v.correct and v.method is Method.JUDGE
    assert v.judge.label == "equivalent" and v.judge.available and v.judge.model == "yes"


def test_a_template_without_a_system_role_gets_the_instructions_in_the_user_turn(models):
    cfg = local(models["yes-no-system"], timeout_s=60)
    v = second_opinion(rejected(), question="How many eggs?", config=cfg)
    assert v.correct and v.judge.label == "equivalent"


def test_an_always_yes_local_model_never_passes_a_gated_injection(models):
    cfg = local(models["yes"], timeout_s=60)
    for row in INJECTIONS:
        v = verify(row["pred"], row["ref"], question=row["question"], config=cfg)
        if row["gate"] != "judge":
            assert not v and v.judge is None, row["why"]


def test_verify_batch_with_the_local_model(models):
    rows = [r for r in TABLE if r["equivalent"] and not verify(r["pred"], r["ref"], question=r["question"])][
        :8
    ]
    pairs = [(r["pred"], r["ref"]) for r in rows]
    out = verify_batch(
        pairs, questions=[r["question"] for r in rows], config=local(models["yes"], timeout_s=60)
    )
    assert len(out) == 8 and all(v.correct and v.method is Method.JUDGE for v in out)


def test_a_missing_model_is_unavailable_not_an_error(tmp_path):
    v = second_opinion(rejected(), config=local(tmp_path / "no-such-model", timeout_s=30))
    assert v.status is Status.INCORRECT and v.judge is not None and not v.judge.available
    assert "cannot load judge model" in v.judge.detail


@pytest.mark.gpu
def test_the_local_judge_runs_on_the_gpu(models):
    cfg = VerifyConfig(
        judge=JudgeConfig(backend="transformers", model_path=str(models["yes"]), device="cuda", timeout_s=120)
    )
    v = second_opinion(rejected(), question="How many eggs?", config=cfg)
    assert v.correct and v.judge.label == "equivalent" and v.judge.available
