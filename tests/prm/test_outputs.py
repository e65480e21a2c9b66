"""Per-token rewards on request, and outcome reward models through the same API."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from prm import StepScores  # noqa: E402
from tests.prm.conftest import load_builder  # noqa: E402
from tests.prm.reference import ragged_items  # noqa: E402

MODELS = sorted(load_builder().FORMAT_OF)
ITEMS = ragged_items(5, seed=5)


@pytest.mark.parametrize("name", MODELS)
def test_token_scores_hold_the_step_scores_and_agree_batched(name, loaded):
    model = loaded[name]
    got = model.score_batch(ITEMS, token_scores=True)
    plain = model.score_batch(ITEMS)
    for (q, steps), g, p in zip(ITEMS, got, plain, strict=True):
        assert g.scores == pytest.approx(p.scores, abs=1e-5)
        enc = model.encode(q, steps)
        assert g.token_ids == tuple(enc.ids[enc.prefix_len :])
        assert len(g.token_scores) == len(g.token_ids)
        for pos, score in zip(enc.positions, g.scores, strict=True):  # the head at the tag is the step score
            assert g.token_scores[pos - enc.prefix_len] == pytest.approx(score, abs=1e-5)
        one = model.score(q, steps, token_scores=True)
        assert one.token_scores == pytest.approx(g.token_scores, abs=1e-5)
    assert all(p.token_ids is None and p.token_scores is None for p in plain)
    assert "token_scores" in got[0].to_dict() and "token_scores" not in plain[0].to_dict()


def test_token_scores_equal_the_full_logits_at_every_token(tiny_models, loaded):
    """Math-Shepherd: P(+) over the +/- logits at every response token, as a full-logits forward gives."""
    from transformers import AutoModelForCausalLM

    model = loaded["math-shepherd"]
    lm = AutoModelForCausalLM.from_pretrained(str(tiny_models["math-shepherd"]), dtype=torch.float32).eval()
    q, steps = ITEMS[0]
    enc = model.encode(q, steps)
    with torch.no_grad():
        logits = lm(torch.tensor([enc.ids])).logits[0, :, model._fmt.label_ids]
    want = logits.softmax(-1)[enc.prefix_len :, 0].tolist()
    assert model.score(q, steps, token_scores=True).token_scores == pytest.approx(want, abs=1e-5)


def test_outcome_model_takes_steps_or_one_response_string(loaded):
    model = loaded["qwen2.5-math-rm"]
    assert model.kind == "outcome"
    steps = ["x = 3", "so the answer is 3"]
    by_steps = model.score("Find x.", steps)
    by_text = model.score("Find x.", "x = 3\n\nso the answer is 3")
    assert isinstance(by_steps, StepScores) and by_steps.kind == "outcome"
    assert by_steps.scores == pytest.approx(by_text.scores, abs=1e-6) and len(by_steps.scores) == 1
    assert (
        by_steps.spans == ((0, len(by_steps.solution)),)
        and by_steps.solution == "x = 3\n\nso the answer is 3"
    )
    assert by_steps.aggregate("last") == by_steps.scores[0]
    assert by_steps.to_dict()["kind"] == "outcome"
    batch = model.score_batch(
        [("Find x.", steps), ("Find x.", "x = 3\n\nso the answer is 3"), ("q", [])], return_errors=True
    )
    assert batch[0].scores == pytest.approx(batch[1].scores, abs=1e-6)
    assert "empty" in str(batch[2])


def test_a_process_model_still_refuses_one_string(loaded):
    from prm import PRMInputError

    with pytest.raises(PRMInputError, match="not one string"):
        loaded["qwen2.5-math-prm"].score("q", "step one\n\nstep two")


def test_step_tag_loads_from_its_declaration(tiny_models, tmp_path):
    """A new Math-Shepherd-style PRM loads with configuration only: prm_format.json, format="auto"."""
    import json
    import shutil

    from prm import PRMFormatError, ProcessRewardModel

    builder = load_builder()
    path = tmp_path / "declared"
    shutil.copytree(tiny_models["step-tag"], path)
    options = builder.load_options("step-tag", path)
    builder.declare(
        path, **options
    )  # {"format": "step-tag", "step_tag_id": ..., "returned_token_ids": [...]}
    assert json.loads((path / "prm_format.json").read_text())["format"] == "step-tag"
    declared = ProcessRewardModel.from_pretrained(path, device="cpu")
    again = {**options, "returned_token_ids": tuple(options["returned_token_ids"])}  # same ids, as a tuple
    assert ProcessRewardModel.from_pretrained(path, device="cpu", **again).format == "step-tag"
    with pytest.raises(PRMFormatError, match="step_tag_id passed differ"):
        ProcessRewardModel.from_pretrained(path, device="cpu", step_tag_id=options["step_tag_id"] + 1)
    configured = ProcessRewardModel.from_pretrained(tiny_models["step-tag"], device="cpu", **options)
    for a, b in zip(declared.score_batch(ITEMS), configured.score_batch(ITEMS), strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-6)
