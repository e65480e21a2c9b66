"""A real TRL ``GRPOTrainer`` step on the CPU with several of the project's reward functions at once.

The reward functions are the ones the lines of ``mathreward adapters --trainer trl`` build (the
lines are executed as printed), in a lenient and a strict setting under two names, plus the module
functions ``accuracy_reward`` and ``accuracy_reward_async`` (awaited on TRL's own event loop). Each
must log under its own name (TRL 1.16 names a reward by ``trl.trainer.utils.get_callable_name``).

The policy is a tiny Llama built here from a fixed seed, with a word-level tokenizer built here (no
hub) whose words are ``1``, ``2``, ``\\boxed{1}`` and ``\\boxed{2}``; one-token completions make
every completion one of five texts, whose reward in each setting is written out in ``EXPECTED``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.mathreward.adapter_helpers import PROFILES, printed_lines

trl = pytest.importorskip("trl", reason="TRL is not installed (pip install trl)")
torch = pytest.importorskip("torch")

VOCAB = ["<pad>", "<eos>", "1", "2", "\\boxed{1}", "\\boxed{2}"]
# completion text -> outcome when lenient, outcome when strict (reference "2")
OUTCOMES = {
    "": ("no_answer", "no_answer"),
    "1": ("incorrect", "format"),
    "2": ("correct", "format"),
    "\\boxed{1}": ("incorrect", "incorrect"),
    "\\boxed{2}": ("correct", "correct"),
}


def expected(completion: str, profile: str) -> float:
    lenient, strict = OUTCOMES[completion.strip()]
    return float(PROFILES[profile]["rewards"][strict if PROFILES[profile]["strict"] else lenient])


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


def printed_reward_funcs(name: str, profile: str) -> list[Any]:
    """``reward_funcs`` as the printed TRL lines build it."""
    lines = printed_lines("--trainer", "trl", "--trl-name", name, *PROFILES[profile]["flags"])
    namespace: dict[str, Any] = {}
    exec("\n".join(lines), namespace)
    return namespace["reward_funcs"]


def test_grpo_trainer_step_with_several_named_rewards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from mathreward.adapters.trl import accuracy_reward, accuracy_reward_async

    for name in list(os.environ):
        if name.startswith("MATHREWARD_"):
            monkeypatch.delenv(name)
    model, tokenizer = tiny_policy(tmp_path / "policy")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    dataset = Dataset.from_dict({"prompt": ["1 1", "2 1", "1 2", "2 2"], "solution": ["2", "2", "2", "2"]})
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=16,
        num_generations=4,
        max_completion_length=1,
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
    reward_funcs = [
        *printed_reward_funcs("acc_lenient", "lenient"),
        *printed_reward_funcs("acc_strict", "strict"),
        accuracy_reward,
        accuracy_reward_async,  # awaited on TRL's event loop
    ]
    trainer = GRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=args, train_dataset=dataset, processing_class=tokenizer
    )
    assert trainer.reward_func_names == [
        "acc_lenient",
        "acc_strict",
        "accuracy_reward",
        "accuracy_reward_async",
    ]
    trainer.train()

    logs: Any = trainer._logs
    completions = [str(c) for c in logs["completion"]]
    assert len(completions) == 16 and set(completions) <= set(OUTCOMES), completions
    rewards = logs["rewards"]
    assert list(rewards["acc_lenient"]) == [expected(c, "lenient") for c in completions]
    assert list(rewards["acc_strict"]) == [expected(c, "strict") for c in completions]
    module_expected = [expected(c, "lenient") for c in completions]  # the defaults
    assert list(rewards["accuracy_reward"]) == module_expected
    assert list(rewards["accuracy_reward_async"]) == module_expected
    assert len(set(completions)) >= 3, completions  # a mix, so the step has advantages to follow
    # each function's verdicts go to the completions table under its own name
    assert list(logs["extra"]["acc_strict_outcome"])[-16:] == [OUTCOMES[c][1] for c in completions]
    metrics = next(h for h in trainer.state.log_history if "rewards/acc_strict/mean" in h)
    for name in ("acc_lenient", "acc_strict", "accuracy_reward", "accuracy_reward_async"):
        values = list(rewards[name])
        assert metrics[f"rewards/{name}/mean"] == pytest.approx(sum(values) / len(values))
    moved = [n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])]
    assert moved, "one optimizer step should change the weights"
