"""The engine's batched, head-only scores equal each model card's one-at-a-time full forward (fp32, 1e-5).

Every tiny model is checked: each format, and the byte-level-tokenizer variants (``*-bpe``), on
ragged solutions and on solutions whose pieces meet at tokenisation boundaries.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from tests.prm.conftest import load_builder  # noqa: E402
from tests.prm.reference import BOUNDARY_ITEMS, REFERENCES, ragged_items  # noqa: E402

FORMAT_OF = load_builder().FORMAT_OF
MODELS = sorted(FORMAT_OF)
ITEMS = [*ragged_items(11, seed=7), ("What is 1+1?", ["2"]), *BOUNDARY_ITEMS]


@pytest.fixture(scope="module")
def references(tiny_models):
    return {name: REFERENCES[FORMAT_OF[name]](tiny_models[name], ITEMS) for name in MODELS}


def test_items_are_ragged():
    lengths = sorted(len(" ".join([q, *s])) for q, s in ITEMS)
    assert lengths[-1] > 4 * lengths[0]
    assert {len(s) for _, s in ITEMS} >= {1, 2} and max(len(s) for _, s in ITEMS) >= 7


def test_every_format_has_a_tiny_model_and_a_reference():
    from prm import FORMATS

    assert set(FORMAT_OF.values()) == set(FORMATS) == set(REFERENCES)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("max_batch_tokens", [100_000, 600, 1])
def test_batched_scores_equal_reference(name, max_batch_tokens, loaded, references):
    """One big padded batch, several length-sorted batches, and one item per batch all agree."""
    model = loaded[name]
    assert model.format == FORMAT_OF[name]
    saved, model.max_batch_tokens = model.max_batch_tokens, max_batch_tokens
    try:
        got = model.score_batch(ITEMS)
    finally:
        model.max_batch_tokens = saved
    ref = references[name]
    want_lengths = [1 if model.kind == "outcome" else len(s) for _, s in ITEMS]
    assert [len(g.scores) for g in got] == want_lengths
    assert [len(r) for r in ref] == want_lengths
    for g, r in zip(got, ref, strict=True):
        assert g.scores == pytest.approx(r, abs=1e-5, rel=0)


@pytest.mark.parametrize("name", MODELS)
def test_scores_are_spread_not_constant(name, references):
    """Guard against a degenerate tiny model (every score 0.5 would make the equality test weak)."""
    flat = [x for r in references[name] for x in r]
    assert max(flat) - min(flat) > 0.3


@pytest.mark.parametrize("name", MODELS)
def test_single_score_equals_batch(name, loaded):
    model = loaded[name]
    batch = model.score_batch(ITEMS[:4])
    for (q, steps), b in zip(ITEMS[:4], batch, strict=True):
        assert model.score(q, steps).scores == pytest.approx(b.scores, abs=1e-5, rel=0)
