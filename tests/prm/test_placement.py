"""Placement planning (pure arithmetic, CPU) and the device map across GPUs (``gpu`` marker)."""

from __future__ import annotations

import pytest

from prm.errors import PRMPlacementError
from prm.placement import CONTEXT_BYTES, USABLE, GiB, activation_bytes, checkpoint_params, plan

MISTRAL_7B = {"hidden_size": 4096, "intermediate_size": 14336}


def test_a_model_that_fits_one_gpu_gets_a_replica_on_each():
    p = plan(15 * GiB, 8 * GiB, [80 * GiB] * 4)
    assert p.kind == "replicas" and p.devices == ("cuda:0", "cuda:1", "cuda:2", "cuda:3")
    assert p.max_memory is None


def test_only_the_gpus_with_room_get_replicas():
    p = plan(15 * GiB, 8 * GiB, [80 * GiB, 10 * GiB, 40 * GiB], devices=[0, 1, 5])
    assert p.devices == ("cuda:0", "cuda:5")


def test_a_72b_model_in_bf16_is_split_in_order():
    weights = int(72.7e9) * 2  # Qwen2.5-Math-PRM-72B in bf16
    reserve = activation_bytes({"hidden_size": 8192, "intermediate_size": 29568}, 32768, 2)
    p = plan(weights, reserve, [80 * GiB] * 4)
    assert p.kind == "split" and p.devices == ("cuda:0", "cuda:1", "cuda:2", "cuda:3")
    budget = int(80 * GiB * USABLE) - reserve - CONTEXT_BYTES
    assert p.max_memory == {i: budget for i in range(4)}
    assert sum(p.max_memory.values()) >= weights
    assert budget < weights  # one GPU is not enough: that is why it is split


def test_split_refuses_when_all_gpus_together_are_too_small():
    with pytest.raises(PRMPlacementError, match=r"the weights need 135\.4 GiB and the 3 GPUs have 117\.5"):
        plan(int(72.7e9) * 2, 4 * GiB, [48 * GiB] * 3)


def test_one_gpu_too_small_says_what_to_do():
    with pytest.raises(PRMPlacementError, match=r"needs 30\.0 GiB on one GPU.*lower max_batch_tokens"):
        plan(21 * GiB, 8 * GiB, [24 * GiB])


def test_forced_placements():
    assert plan(1 * GiB, GiB, [80 * GiB] * 2, "split").kind == "split"
    with pytest.raises(PRMPlacementError, match="on one GPU"):
        plan(100 * GiB, GiB, [80 * GiB] * 2, "replicas")
    with pytest.raises(ValueError, match="unknown placement"):
        plan(1, 1, [GiB], "tensor-parallel")  # type: ignore[arg-type]


def test_activation_reserve_grows_with_the_token_budget():
    a = activation_bytes(MISTRAL_7B, 32768, 2)
    assert a == 2 * 32768 * (6 * 4096 + 3 * 14336) * 2
    assert 8 * GiB < a < 9 * GiB  # 7B, bf16, the GPU default budget: about 8.3 GiB
    assert activation_bytes(MISTRAL_7B, 16384, 2) * 2 == a


def test_checkpoint_params_reads_the_safetensors_headers(tiny_models):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    for name in ("qwen2.5-math-prm", "math-shepherd"):
        path = tiny_models[name]
        want = sum(t.numel() for t in load_file(str(path / "model.safetensors")).values())
        assert checkpoint_params(path) == want
    assert torch is not None


def test_checkpoint_params_without_safetensors(tmp_path):
    assert checkpoint_params(tmp_path) is None


@pytest.mark.gpu
def test_split_over_the_gpus_scores_like_one_replica(tiny_models):
    """The device-map path (one GPU here, or all of them): same scores as a plain replica."""
    from prm import ProcessRewardModel
    from tests.prm.reference import ragged_items

    items = ragged_items(12, seed=2)
    path = tiny_models["qwen2.5-math-prm-bpe"]
    split = ProcessRewardModel.from_pretrained(path, placement="split", dtype="float32")
    single = ProcessRewardModel.from_pretrained(path, device="cuda:0", dtype="float32")
    assert split.placement == "split"
    for a, b in zip(split.score_batch(items), single.score_batch(items), strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-4, rel=0)
