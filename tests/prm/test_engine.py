"""Batching under a token budget, replicas, thread safety."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("torch")

from prm import ProcessRewardModel
from tests.prm.reference import ragged_items

ITEMS = ragged_items(20, seed=3)


@pytest.mark.parametrize("budget", [1, 150, 700, 5000])
def test_batches_respect_the_token_budget(tiny_models, budget):
    model = ProcessRewardModel.from_pretrained(tiny_models["math-shepherd"], max_batch_tokens=budget)
    encoded = [(i, model.encode(q, s)) for i, (q, s) in enumerate(ITEMS)]
    batches = model._batches(encoded)
    assert sorted(i for b in batches for i, _ in b) == list(range(len(ITEMS)))
    lengths = [[len(e.ids) for _, e in b] for b in batches]
    for b in lengths:
        assert len(b) == 1 or max(b) * len(b) <= budget
    flat = [n for b in lengths for n in b]
    assert flat == sorted(flat, reverse=True)  # length-sorted: little padding
    if budget >= 5000:
        assert len(batches) < len(ITEMS)


def test_padding_waste_is_small_with_length_sorting(tiny_models):
    model = ProcessRewardModel.from_pretrained(tiny_models["math-shepherd"], max_batch_tokens=800)
    encoded = [(i, model.encode(q, s)) for i, (q, s) in enumerate(ITEMS)]
    real = sum(len(e.ids) for _, e in encoded)
    padded = sum(max(len(e.ids) for _, e in b) * len(b) for b in model._batches(encoded))
    assert padded < 1.3 * real


def test_two_replicas_score_like_one(tiny_models, loaded):
    """Data-parallel replicas (here two on the CPU) split the batches across threads, same scores."""
    two = ProcessRewardModel.from_pretrained(
        tiny_models["qwen2.5-math-prm"], device=["cpu", "cpu"], max_batch_tokens=300
    )
    assert two.devices == ("cpu", "cpu")
    assert two._replicas[0].backbone is not two._replicas[1].backbone
    got = two.score_batch(ITEMS)
    want = loaded["qwen2.5-math-prm"].score_batch(ITEMS)
    for g, w in zip(got, want, strict=True):
        assert g.scores == pytest.approx(w.scores, abs=1e-5, rel=0)


def test_concurrent_callers_get_their_own_results(loaded):
    model = loaded["math-shepherd"]
    want = [model.score(q, s).scores for q, s in ITEMS[:8]]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda qs: model.score(*qs).scores, ITEMS[:8]))
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-6)


def test_items_may_be_lists_and_tuples(loaded):
    model = loaded["math-shepherd"]
    a = model.score_batch([["q", ("a", "b")]])[0]
    b = model.score("q", ["a", "b"])
    assert a == b


def test_concurrent_encoding_with_special_token_text_is_stable(loaded):
    """Steps typed with "<extra_0>" are read as text even while other threads encode prefixes."""
    model = loaded["qwen2.5-math-prm"]
    items = [(f"question {i} <extra_0>", ["a <extra_0> b", f"step {i}"]) for i in range(40)]
    want = [model.encode(q, s).ids for q, s in items]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda qs: model.encode(*qs).ids, items * 3))
    assert got == want * 3


@pytest.mark.parametrize("name", ["math-shepherd", "qwen2.5-math-prm", "token-classification"])
def test_last_layer_mlp_runs_on_tag_rows_only(name, loaded):
    """The exactness of this shortcut is what test_reference checks; here: it is in use, and idle after."""
    import torch

    replica = loaded[name]._replicas[0]
    wrapped = replica.tag_rows_mlp
    assert wrapped is not None and replica.backbone.layers[-1].mlp is wrapped
    seen = []
    hook = wrapped.mlp.register_forward_hook(lambda _m, args, _out: seen.append(tuple(args[0].shape)))
    try:
        loaded[name].score_batch([("q", ["a b c", "d e"]), ("a longer question here", ["x"])])
    finally:
        hook.remove()
    assert seen == [(3, wrapped.mlp.down_proj.out_features)]  # 3 tag rows, not batch x length
    assert wrapped.index is None
    assert isinstance(replica.backbone.layers[0].mlp, torch.nn.Module)
