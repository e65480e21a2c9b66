"""The engine's batched, head-only scores equal a one-at-a-time full-logits forward (fp32, 1e-5)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from prm import ProcessRewardModel  # noqa: E402
from tests.prm.reference import REFERENCES, ragged_items  # noqa: E402

FORMATS = sorted(REFERENCES)
ITEMS = [*ragged_items(11, seed=7), ("What is 1+1?", ["2"])]


@pytest.fixture(scope="module")
def references(tiny_models):
    return {name: REFERENCES[name](tiny_models[name], ITEMS) for name in FORMATS}


def test_items_are_ragged():
    lengths = sorted(len(" ".join([q, *s])) for q, s in ITEMS)
    assert lengths[-1] > 4 * lengths[0]
    assert {len(s) for _, s in ITEMS} >= {1, 2} and max(len(s) for _, s in ITEMS) >= 7


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("max_batch_tokens", [100_000, 600, 1])
def test_batched_scores_equal_reference(name, max_batch_tokens, tiny_models, references):
    """One big padded batch, several length-sorted batches, and one item per batch all agree."""
    model = ProcessRewardModel.from_pretrained(
        tiny_models[name], device="cpu", dtype="float32", max_batch_tokens=max_batch_tokens
    )
    assert model.format == name
    got = model.score_batch(ITEMS)
    ref = references[name]
    assert [len(g.scores) for g in got] == [len(s) for _, s in ITEMS]
    assert [len(r) for r in ref] == [len(s) for _, s in ITEMS]
    for g, r in zip(got, ref, strict=True):
        assert g.scores == pytest.approx(r, abs=1e-5, rel=0)


@pytest.mark.parametrize("name", FORMATS)
def test_scores_are_spread_not_constant(name, references):
    """Guard against a degenerate tiny model (every score 0.5 would make the equality test weak)."""
    flat = [x for r in references[name] for x in r]
    assert max(flat) - min(flat) > 0.3


@pytest.mark.parametrize("name", FORMATS)
def test_single_score_equals_batch(name, loaded):
    model = loaded[name]
    batch = model.score_batch(ITEMS[:4])
    for (q, steps), b in zip(ITEMS[:4], batch, strict=True):
        assert model.score(q, steps).scores == pytest.approx(b.scores, abs=1e-5, rel=0)
