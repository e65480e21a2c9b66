"""bf16 agreement with the fp32 reference (CPU here, GPU under the marker) and one replica per GPU."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from prm import ProcessRewardModel  # noqa: E402
from tests.prm.conftest import load_builder  # noqa: E402
from tests.prm.reference import REFERENCES, ragged_items  # noqa: E402

ITEMS = ragged_items(16, seed=11)
# bf16 against the fp32 reference, absolute on probabilities. The tiny models have large weights
# (init std 0.2), which magnifies bf16 rounding: on CPU bf16 the largest gap measured was 0.053
# (Qwen format), so: every step within 0.1, and the mean within 0.02.
BF16_MAX_ABS = 0.1
BF16_MEAN_ABS = 0.02


def _load(name, tiny_models, **kwargs):
    options = {**load_builder().load_options(name, tiny_models[name]), **kwargs}
    return ProcessRewardModel.from_pretrained(tiny_models[name], **options)


def _check_bf16(model, name, tiny_models):
    got = model.score_batch(ITEMS)
    ref = REFERENCES[name](tiny_models[name], ITEMS)
    diffs = [abs(a - b) for g, r in zip(got, ref, strict=True) for a, b in zip(g.scores, r, strict=True)]
    # an outcome model's reward is a raw scalar, not a probability: gaps relative to the rewards' range
    scale = (
        1.0 if model.kind == "process" else max(x for r in ref for x in r) - min(x for r in ref for x in r)
    )
    assert max(diffs) / scale < BF16_MAX_ABS
    assert sum(diffs) / len(diffs) / scale < BF16_MEAN_ABS


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_bf16_on_cpu_agrees_with_fp32_reference(name, tiny_models):
    model = _load(name, tiny_models, device="cpu", dtype="bfloat16")
    _check_bf16(model, name, tiny_models)


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_bf16_on_gpu_agrees_with_fp32_reference(name, tiny_models):
    model = _load(name, tiny_models, device="cuda:0")
    assert model.device == "cuda:0"
    _check_bf16(model, name, tiny_models)


@pytest.mark.gpu
def test_fp32_on_gpu_matches_reference(tiny_models):
    name = "math-shepherd"
    model = ProcessRewardModel.from_pretrained(tiny_models[name], device="cuda:0", dtype="float32")
    ref = REFERENCES[name](tiny_models[name], ITEMS)
    for g, r in zip(model.score_batch(ITEMS), ref, strict=True):
        assert g.scores == pytest.approx(r, abs=1e-4, rel=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs 2+ GPUs")
def test_auto_device_makes_one_replica_per_gpu(tiny_models):
    model = ProcessRewardModel.from_pretrained(tiny_models["qwen2.5-math-prm"], max_batch_tokens=256)
    assert model.devices == tuple(f"cuda:{i}" for i in range(torch.cuda.device_count()))
    single = ProcessRewardModel.from_pretrained(tiny_models["qwen2.5-math-prm"], device="cuda:0")
    for a, b in zip(model.score_batch(ITEMS), single.score_batch(ITEMS), strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-3, rel=0)
