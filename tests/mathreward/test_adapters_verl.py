"""verl's own code runs the lines ``mathreward adapters`` prints (verl 0.9.1, CPU).

The config is verl's ``ppo_trainer`` composed by Hydra from verl's own config files with exactly
the printed overrides (plus the tokenizer path every run names); then verl's reward loop worker
(``verl.experimental.reward_loop.RewardLoopWorker``: ``load_reward_manager`` ->
``get_custom_reward_fn`` -> the registered ``naive`` reward manager) grades a small ``DataProto``
batch whose responses are token ids, decoded by verl with a byte-level tokenizer built here. The
worker class runs in this process, not as a Ray actor: the actor wrapper only moves it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.mathreward.adapter_helpers import (
    PROFILES,
    byte_tokenizer,
    expected_reward,
    load_cases,
    printed_lines,
)

verl = pytest.importorskip("verl", reason="verl is not installed (see docs/trainers/verl.md)")
torch = pytest.importorskip("torch")

CASES = load_cases()


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("byte_tokenizer")
    byte_tokenizer(out)
    return out


@pytest.fixture(autouse=True)
def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MATHREWARD_"):
            monkeypatch.delenv(name)


def compose(overrides: list[str]) -> Any:
    """verl's ppo_trainer config composed by Hydra from verl's own config folder."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return hydra_compose(config_name="ppo_trainer", overrides=overrides)


def data_proto(tokenizer: Any, rows: list[dict[str, Any]]) -> Any:
    """A rollout batch as verl's reward loop receives it: left-padded prompts, right-padded responses
    ending in EOS, the attention mask, and the non-tensor fields of verl's RL parquet."""
    from verl import DataProto

    prompts = [tokenizer.encode(r["prompt"]) for r in rows]
    responses = [[*tokenizer.encode(r["response"]), tokenizer.eos_token_id] for r in rows]
    p_len, r_len = max(map(len, prompts)), max(map(len, responses))
    pad = tokenizer.pad_token_id
    prompt_ids = torch.tensor([[pad] * (p_len - len(p)) + p for p in prompts])
    response_ids = torch.tensor([r + [pad] * (r_len - len(r)) for r in responses])
    mask = torch.tensor(
        [
            [0] * (p_len - len(p)) + [1] * len(p) + [1] * len(r) + [0] * (r_len - len(r))
            for p, r in zip(prompts, responses, strict=True)
        ]
    )
    return DataProto.from_dict(
        tensors={
            "prompts": prompt_ids,
            "responses": response_ids,
            "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
            "attention_mask": mask,
        },
        non_tensors={
            "data_source": np.array([r["data_source"] for r in rows], dtype=object),
            "reward_model": np.array(
                [{"ground_truth": r["reference"], "style": "rule"} for r in rows], dtype=object
            ),
            "extra_info": np.array(
                [{"question": r["prompt"], "index": i} for i, r in enumerate(rows)], dtype=object
            ),
        },
    )


def run_reward_loop(config: Any, data: Any) -> tuple[list[dict[str, Any]], Any]:
    """verl's reward loop worker on ``data``: its per-sample outputs and the rm_scores tensor."""
    from verl.experimental.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(config)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    scores = [o["reward_score"] for o in outputs]
    rm_scores = worker.reward_manager.assemble_rm_scores(data, scores)
    return outputs, rm_scores


def case_rows(cases: list[dict[str, Any]], data_source: str = "openai/gsm8k") -> list[dict[str, Any]]:
    return [{**c, "data_source": data_source} for c in cases]


@pytest.mark.parametrize("profile", list(PROFILES))
def test_verl_reward_loop_runs_the_printed_lines(profile: str, tokenizer_dir: Path) -> None:
    lines = printed_lines("--trainer", "verl", *PROFILES[profile]["flags"])
    assert lines[0].startswith("reward.custom_reward_function.path=")
    config = compose([*lines, f"actor_rollout_ref.model.path={tokenizer_dir}"])
    assert config.reward.custom_reward_function.name == "compute_score"
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    good = [c for c in CASES if c["expect"] != "error"]  # a missing reference is tested below
    data = data_proto(tokenizer, case_rows(good))
    outputs, rm_scores = run_reward_loop(config, data)
    assert [o["reward_score"] for o in outputs] == [expected_reward(c, profile) for c in good]
    # the reward sits on each response's last valid token, as verl's trainer reads it
    last = data.batch["attention_mask"][:, data.batch["prompts"].shape[1] :].sum(dim=1) - 1
    assert rm_scores[torch.arange(len(good)), last].tolist() == [expected_reward(c, profile) for c in good]
    assert rm_scores.sum().item() == pytest.approx(sum(expected_reward(c, profile) for c in good))
    infos = [o["reward_extra_info"] for o in outputs]
    # verl builds reward_extra_info arrays from the first row's keys: every row must carry them
    assert all(set(i) == set(infos[0]) for i in infos)
    assert [i["acc"] for i in infos] == [c["expect"] == "correct" for c in good]
    assert all(isinstance(i["pred"], str) for i in infos)


def test_verl_async_form_is_awaited_by_the_reward_loop(tokenizer_dir: Path) -> None:
    lines = printed_lines("--trainer", "verl", *PROFILES["lenient_no_answer_zero"]["flags"])
    config = compose(
        [
            *lines,
            "reward.custom_reward_function.name=compute_score_async",
            f"actor_rollout_ref.model.path={tokenizer_dir}",
        ]
    )
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    good = [c for c in CASES if c["expect"] != "error"]
    outputs, _ = run_reward_loop(config, data_proto(tokenizer, case_rows(good)))
    assert [o["reward_score"] for o in outputs] == [
        expected_reward(c, "lenient_no_answer_zero") for c in good
    ]


def test_verl_rows_that_are_not_math_go_to_verls_own_scorer(tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer
    from verl.utils.reward_score import default_compute_score

    config = compose([*printed_lines("--trainer", "verl"), f"actor_rollout_ref.model.path={tokenizer_dir}"])
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    qa = {"target": ["Paris"]}
    rows = [
        {
            "prompt": "Capital of France?",
            "response": "<answer>Paris</answer>",
            "reference": qa,
            "data_source": "searchR1_nq",
        },
        {
            "prompt": "Capital of France?",
            "response": "<answer>Lyon</answer>",
            "reference": qa,
            "data_source": "searchR1_nq",
        },
        {**CASES[0], "data_source": "openai/gsm8k"},
        {**CASES[8], "data_source": "openai/gsm8k"},  # unboxed: verl's own gsm8k scorer would give 0
    ]
    outputs, _ = run_reward_loop(config, data_proto(tokenizer, rows))
    got = [o["reward_score"] for o in outputs]
    theirs = [float(default_compute_score(r["data_source"], r["response"], r["reference"])) for r in rows[:2]]
    assert got[:2] == theirs == [1.0, 0.0]  # verl's QA exact match, as verl itself scores them
    assert got[2:] == [1.0, 1.0]  # the math rows are graded here
    assert [o["reward_extra_info"]["status"] for o in outputs][:2] == ["verl_default"] * 2
    assert all(set(o["reward_extra_info"]) == set(outputs[0]["reward_extra_info"]) for o in outputs)


def test_verl_math_sources_adds_a_data_source(tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    config = compose(
        [
            *printed_lines("--trainer", "verl"),
            "+reward.custom_reward_function.reward_kwargs.math_sources=[my_olympiad]",
            f"actor_rollout_ref.model.path={tokenizer_dir}",
        ]
    )
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    outputs, _ = run_reward_loop(config, data_proto(tokenizer, case_rows(CASES[:2], "my_olympiad")))
    assert [o["reward_score"] for o in outputs] == [1.0, -1.0]


def test_verl_batch_with_every_label_missing_fails_loudly(tokenizer_dir: Path) -> None:
    from transformers import AutoTokenizer

    from mathreward.adapters._settings import MissingLabelsError

    config = compose([*printed_lines("--trainer", "verl"), f"actor_rollout_ref.model.path={tokenizer_dir}"])
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    rows = [{**c, "reference": None, "data_source": "openai/gsm8k"} for c in CASES[:3]]
    with pytest.raises(MissingLabelsError, match="ground_truth"):
        run_reward_loop(config, data_proto(tokenizer, rows))


def test_the_legacy_top_level_keys_would_be_ignored_by_verl() -> None:
    """Why the printed lines name ``reward.custom_reward_function``: the legacy top-level keys still
    compose, but the reward loop reads only ``config.reward.custom_reward_function``."""
    from verl.trainer.ppo.reward import get_custom_reward_fn

    from mathreward.commands.adapters import adapter_path

    legacy = compose(
        [f"custom_reward_function.path={adapter_path('verl')}", "custom_reward_function.name=compute_score"]
    )
    assert get_custom_reward_fn(legacy) is None
    printed = compose(printed_lines("--trainer", "verl"))
    fn = get_custom_reward_fn(printed)
    assert fn is not None
    assert fn(data_source="math", solution_str="\\boxed{2}", ground_truth="2")["score"] == 1.0
