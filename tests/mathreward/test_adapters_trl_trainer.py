"""One real TRL ``GRPOTrainer`` step on the CPU with :func:`mathreward.adapters.trl.accuracy_reward`.

The policy is a tiny Llama built here from a fixed seed, with a word-level tokenizer built here (no hub):
its vocabulary is the digits 1 and 2 plus the special tokens, so its random completions are answers
such as ``2``, ``1 2`` or nothing, and the rewards are a mix of right and wrong. The trainer calls the
reward exactly as ``trl/trainer/grpo_trainer.py::_calculate_rewards`` does (huggingface/trl 1.16), the
async form awaited on the trainer's own event loop thread:
``accuracy_reward(prompts=..., completions=..., completion_ids=..., solution=..., trainer_state=...,
log_extra=..., log_metric=...)``. The test then grades the completions the trainer logged and checks
they got exactly those rewards, and that the step trained (the weights moved).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install trl)")
torch = pytest.importorskip("torch")

VOCAB = ["<pad>", "<eos>", "1", "2"]


def tiny_policy(out: Path) -> tuple[Any, Any]:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=32,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return model, tokenizer


def test_grpo_trainer_step_with_accuracy_reward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from mathreward.adapters.trl import accuracy_reward, accuracy_reward_async

    monkeypatch.delenv("MATHREWARD_SERVER", raising=False)
    model, tokenizer = tiny_policy(tmp_path / "policy")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    dataset = Dataset.from_dict({"prompt": ["1 1", "2 1", "1 2", "2 2"], "solution": ["2", "2", "2", "2"]})
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,
        num_generations=4,
        max_completion_length=2,
        max_steps=1,
        learning_rate=1e-2,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        seed=0,
        dataloader_num_workers=0,
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[
            accuracy_reward,
            cast(Any, accuracy_reward_async),
        ],  # the async one runs on TRL's event loop
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()

    logs: Any = trainer._logs
    completions = list(logs["completion"])
    logged = list(logs["rewards"]["accuracy_reward"])
    assert len(completions) == len(logged) == 8
    assert all(isinstance(c, str) for c in completions)
    # what the trainer got is what the reward function says about those completions
    assert logged == accuracy_reward(completions=completions, solution=["2"] * len(completions))
    assert set(logged) == {0.0, 1.0}, completions  # a mix: the advantages are not all zero
    assert list(logs["rewards"]["accuracy_reward_async"]) == logged
    # the verdicts went to the completions table through log_extra
    assert len(logs["extra"]["verdict"]) >= 8
    metrics = [h for h in trainer.state.log_history if "rewards/accuracy_reward/mean" in h]
    assert metrics and metrics[0]["rewards/accuracy_reward/mean"] == pytest.approx(sum(logged) / len(logged))
    moved = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert moved, "one optimizer step should change the weights"
