"""Each adapter called in this process exactly as its trainer calls it.

Where each calling convention was read:

- verl (volcengine/verl): ``verl/trainer/ppo/reward.py`` (get_custom_reward_fn: the file is executed
  as module ``custom_module``, ``custom_reward_function.reward_kwargs`` are merged into each call, an
  ``inspect.iscoroutinefunction`` function is awaited); ``verl/workers/reward_manager/naive.py``
  (``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)``, a dict result is read
  by ``result["score"]`` and every key goes to ``reward_extra_info``);
  ``verl/workers/reward_manager/batch.py`` (``compute_score(data_sources=<numpy array>,
  solution_strs=<list>, ground_truths=<list>, extra_infos=<numpy array>, **reward_kwargs)``);
  ``verl/experimental/reward_loop/reward_manager/dapo.py`` (awaited with extra keywords such as
  ``strict_box_verify``); ``verl/trainer/ppo/metric_utils.py::process_validation_metrics`` (a key's
  values are skipped when the first is a str, else averaged: one type per key).
- TRL (huggingface/trl 1.16): ``trl/trainer/grpo_trainer.py::_calculate_rewards`` (keyword call
  ``prompts=, completions=, completion_ids=, **columns, trainer_state=, log_extra=, log_metric=``;
  None -> NaN; async callables awaited on the trainer's loop); ``trl/rewards/accuracy_rewards.py``
  (conversational completions ``[{"role": "assistant", "content": ...}]``, None for an unparseable
  gold solution).
- OpenRLHF (OpenRLHF/OpenRLHF): ``openrlhf/utils/remote_rm_utils.py`` (``{"query", "prompts",
  "labels"}``, reads ``rewards``) and ``openrlhf/utils/agent.py`` (SingleTurnAgentExecutor: the file
  is executed as module ``reward_func``; ``reward_func(queries, prompts, labels)``; the answer's
  ``rewards``, ``scores``, ``extra_logs`` are read; the query is
  ``decode(prompt_ids + action_ids, skip_special_tokens=False)``).
- slime (THUDM/slime): ``slime/rollout/rm_hub/__init__.py`` (``async_rm``: ``await rm(args, sample,
  **kwargs)`` for ``--custom-rm-path``; ``batched_async_rm``: ``await rm(args, samples)`` with
  ``--group-rm``) and ``slime/utils/misc.py::load_function`` (a dotted path).
"""

from __future__ import annotations

import asyncio
import inspect
import math
import multiprocessing
import pickle
from argparse import Namespace
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import mathreward.adapters.openrlhf as openrlhf_adapter
import mathreward.adapters.slime as slime_adapter
import mathreward.adapters.trl as trl_adapter
import mathreward.adapters.verl as verl_adapter
from mathreward.adapters._text import message_text, response_from_query, strip_special_tail
from tests.mathreward.adapter_helpers import (
    expected_reward,
    load_cases,
    load_like_openrlhf,
    load_like_slime,
    load_like_verl,
)

CASES = load_cases()
IDS = [c["why"] for c in CASES]


@pytest.fixture(autouse=True)
def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests grade in this process, whatever the caller's environment says."""
    monkeypatch.delenv("MATHREWARD_SERVER", raising=False)


# ----------------------------------------------------------------------------- verl


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_verl_compute_score_as_naive_reward_manager_calls_it(case: dict[str, Any]) -> None:
    compute_score = load_like_verl(verl_adapter.__file__, "compute_score")
    result = compute_score(
        data_source="openai/gsm8k",
        solution_str=case["response"],
        ground_truth=case["reference"],
        extra_info={"question": case["prompt"], "index": 0},
    )
    assert result["score"] == expected_reward(case["expect"])
    assert result["acc"] is (case["expect"] == "correct")
    assert isinstance(result["pred"], str)
    assert result["status"] == ("error" if case["expect"] == "error" else result["status"])
    if case["expect"] == "correct":
        assert result["status"] == "correct"
    # verl's validation metrics need one type per key: str keys are skipped, the rest averaged
    assert {k: type(v) for k, v in result.items()} == {
        "score": float,
        "acc": bool,
        "pred": str,
        "status": str,
        "method": str,
    }


def test_verl_reward_kwargs_set_the_reward_values_and_unknown_kwargs_are_ignored() -> None:
    compute_score = load_like_verl(
        verl_adapter.__file__, "compute_score", {"correct_reward": 1.0, "incorrect_reward": -1.0}
    )
    right = compute_score(data_source="math", solution_str="\\boxed{42}", ground_truth="42", extra_info=None)
    wrong = compute_score(
        data_source="math",
        solution_str="\\boxed{41}",
        ground_truth="42",
        extra_info=None,
        strict_box_verify=True,  # what the dapo reward loop adds
        reward_router_address=None,
    )
    assert (right["score"], wrong["score"]) == (1.0, -1.0)
    assert right["pred"] == "42" and wrong["pred"] == "41"


def test_verl_batch_form_as_batch_reward_manager_calls_it() -> None:
    compute_score_batch = load_like_verl(verl_adapter.__file__, "compute_score_batch")
    n = len(CASES)
    results = compute_score_batch(
        data_sources=np.array(["openai/gsm8k"] * n, dtype=object),
        solution_strs=[c["response"] for c in CASES],
        ground_truths=[c["reference"] for c in CASES],
        extra_infos=np.array([{"question": c["prompt"]} for c in CASES], dtype=object),
    )
    assert [r["score"] for r in results] == [expected_reward(c["expect"]) for c in CASES]
    errors = [r["status"] == "error" for r in results]
    assert errors == [c["expect"] == "error" for c in CASES]  # the bad item alone is an error


def test_verl_async_form_is_a_coroutine_function_awaited_by_the_reward_loop() -> None:
    assert inspect.iscoroutinefunction(verl_adapter.compute_score_async)
    fn = load_like_verl(verl_adapter.__file__, "compute_score_async", {"incorrect_reward": -0.5})

    async def run() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(
                *(
                    fn(
                        data_source="math",
                        solution_str=c["response"],
                        ground_truth=c["reference"],
                        extra_info={},
                        strict_box_verify=False,
                    )
                    for c in CASES
                )
            )
        )

    results = asyncio.run(run())
    assert [r["score"] for r in results] == [expected_reward(c["expect"], incorrect=-0.5) for c in CASES]


# ----------------------------------------------------------------------------- TRL


def _trl_kwargs(cases: list[dict[str, Any]], conversational: bool) -> dict[str, Any]:
    """The keyword arguments GRPOTrainer._calculate_rewards passes for a batch of these cases."""
    logged: dict[str, list[Any]] = {}
    if conversational:
        prompts: list[Any] = [[{"role": "user", "content": c["prompt"]}] for c in cases]
        completions: list[Any] = [[{"role": "assistant", "content": c["response"]}] for c in cases]
    else:
        prompts = [c["prompt"] for c in cases]
        completions = [c["response"] for c in cases]
    return {
        "prompts": prompts,
        "completions": completions,
        "completion_ids": [[1, 2, 3] for _ in cases],
        "solution": [c["reference"] for c in cases],
        "trainer_state": None,
        "log_extra": lambda column, values: logged.__setitem__(column, list(values)),
        "log_metric": lambda name, value: None,
        "_logged": logged,
    }


def _trl_expected(case: dict[str, Any]) -> float | None:
    return None if case["expect"] == "error" else expected_reward(case["expect"])


@pytest.mark.parametrize("conversational", [False, True], ids=["standard", "conversational"])
def test_trl_accuracy_reward_as_grpo_trainer_calls_it(conversational: bool) -> None:
    kwargs = _trl_kwargs(CASES, conversational)
    logged = kwargs.pop("_logged")
    rewards = trl_adapter.accuracy_reward(**kwargs)
    assert rewards == [_trl_expected(c) for c in CASES]
    assert logged["verdict"][0] == "correct" and len(logged["pred_answer"]) == len(CASES)


def test_trl_async_reward_is_detected_and_awaited_like_trl_does() -> None:
    from trl.trainer.utils import get_callable_name, is_async_callable

    configured = trl_adapter.AsyncAccuracyReward(correct=2.0, incorrect=-1.0)
    assert is_async_callable(trl_adapter.accuracy_reward_async) and is_async_callable(configured)
    assert not is_async_callable(trl_adapter.accuracy_reward)
    assert get_callable_name(configured) == "accuracy_reward_async"
    kwargs = _trl_kwargs(CASES, conversational=True)
    kwargs.pop("_logged")

    async def run() -> tuple[list[float | None], list[float | None]]:
        a, b = await asyncio.gather(trl_adapter.accuracy_reward_async(**kwargs), configured(**kwargs))
        return a, b

    plain, scaled = asyncio.run(run())
    assert plain == [_trl_expected(c) for c in CASES]
    assert scaled == [
        None if c["expect"] == "error" else (2.0 if c["expect"] == "correct" else -1.0) for c in CASES
    ]


def test_trl_none_only_where_the_reference_is_unusable() -> None:
    completions = ["\\boxed{42}", "\\boxed{42}", "\\boxed{42}", "no final answer in this one", 42]
    solution = ["", "x^{", None, "42", "42"]
    # empty, unreadable, missing reference: None (skipped); no answer stated, a non-text completion: 0.0
    assert trl_adapter.accuracy_reward(completions=completions, solution=solution) == [
        None,
        None,
        None,
        0.0,
        0.0,
    ]


def test_trl_partial_configures_the_module_function() -> None:
    from functools import partial

    from trl.trainer.utils import get_callable_name, is_async_callable

    scaled = partial(trl_adapter.accuracy_reward, correct_reward=2.0, incorrect_reward=-1.0)
    assert get_callable_name(scaled) == "accuracy_reward" and not is_async_callable(scaled)
    assert scaled(completions=["\\boxed{3}", "\\boxed{4}"], solution=["3", "3"]) == [2.0, -1.0]
    scaled_async = partial(trl_adapter.accuracy_reward_async, incorrect_reward=-1.0)
    assert is_async_callable(scaled_async)
    assert asyncio.run(scaled_async(completions=["\\boxed{4}"], solution=["3"])) == [-1.0]
    assert pickle.loads(pickle.dumps(scaled))(completions=["\\boxed{3}"], solution=["3"]) == [2.0]


def test_trl_accuracy_reward_names_the_missing_column() -> None:
    with pytest.raises(TypeError, match="'answer'"):
        trl_adapter.AccuracyReward(reference_column="answer")(completions=["\\boxed{1}"], solution=["1"])


def test_trl_configured_reward_pickles_and_keeps_its_name() -> None:
    reward = trl_adapter.AccuracyReward(correct=1.0, incorrect=-1.0, server=None)
    clone = pickle.loads(pickle.dumps(reward))
    assert clone == reward and clone.__name__ == "accuracy_reward"
    assert clone(completions=["\\boxed{3}", "\\boxed{4}"], solution=["3", "3"]) == [1.0, -1.0]


def test_trl_step_reward_needs_a_prm_and_says_how_to_give_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from mathreward.adapters._backend import RewardBackendError

    monkeypatch.delenv("MATHREWARD_PRM_MODEL", raising=False)
    with pytest.raises(RewardBackendError, match="MATHREWARD_PRM_MODEL"):
        trl_adapter.step_reward(prompts=["q"], completions=["Step 1: 1+1=2.\n\nSo \\boxed{2}."])
    with pytest.raises(ValueError, match="aggregate"):
        trl_adapter.StepReward(aggregate="max")


# ----------------------------------------------------------------------------- OpenRLHF


def _queries(
    cases: list[dict[str, Any]], template: str = "<|im_start|>user\n{p}<|im_end|>\n<|im_start|>assistant\n"
):
    prompts = [template.format(p=c["prompt"]) for c in cases]
    # decode(prompt_ids + response_ids, skip_special_tokens=False): the EOS token stays at the end
    queries = [p + c["response"] + "<|im_end|>" for p, c in zip(prompts, cases, strict=True)]
    return queries, prompts


def test_openrlhf_reward_func_file_as_openrlhf_loads_and_calls_it() -> None:
    import torch

    module = load_like_openrlhf(openrlhf_adapter.__file__)
    queries, prompts = _queries(CASES)
    labels = [c["reference"] for c in CASES]
    out = module.reward_func(queries, prompts, labels)
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert isinstance(out["rewards"], torch.Tensor) and out["rewards"].shape == (len(CASES),)
    assert out["rewards"].tolist() == [expected_reward(c["expect"]) for c in CASES]
    assert out["scores"].tolist() == [1.0 if c["expect"] == "correct" else 0.0 for c in CASES]
    assert out["extra_logs"]["prompt_stripped"].tolist() == [1.0] * len(CASES)
    assert out["extra_logs"]["verify_error"].tolist() == [
        1.0 if c["expect"] == "error" else 0.0 for c in CASES
    ]


def test_openrlhf_prompt_is_stripped_so_an_answer_in_the_prompt_is_not_graded() -> None:
    prompt = "Example: 1+1 is \\boxed{2}. Now, what is 2+2?"
    answer = openrlhf_adapter.score_queries([prompt + " I do not know."], [prompt], ["2"])
    assert answer["rewards"] == [0.0]  # the prompt's \boxed{2} would have matched
    assert answer["items"][0]["response_from"] == "prefix"


def test_openrlhf_prompt_fallbacks() -> None:
    # a BOS the decoder put in front: the prompt is found, not a prefix
    assert response_from_query("<s>Q: 1+1?\\boxed{2}</s>", "Q: 1+1?") == ("\\boxed{2}", "found")
    # a prompt that is not in the query at all: the whole query is graded
    assert response_from_query("The answer is \\boxed{2}", "something else") == (
        "The answer is \\boxed{2}",
        "whole",
    )
    assert response_from_query("\\boxed{2}<|endoftext|><|endoftext|>", None) == ("\\boxed{2}", "whole")
    assert strip_special_tail("x = 3</s>") == "x = 3"
    out = openrlhf_adapter.score_queries(
        ["<s>Q\\boxed{2}", "\\boxed{5}"], ["Q", "missing prompt"], ["2", "5"]
    )
    assert out["rewards"] == [1.0, 1.0]
    assert [i["response_from"] for i in out["items"]] == ["found", "whole"]


def test_openrlhf_bad_items_do_not_fail_the_batch_but_bad_shapes_do() -> None:
    out = openrlhf_adapter.score_queries(
        ["Q\\boxed{2}", 17, "Q\\boxed{3}"], ["Q", "Q", "Q"], ["2", "2", None]
    )
    assert out["rewards"] == [1.0, 0.0, 0.0]
    assert [i["status"] for i in out["items"]] == ["correct", "error", "error"]
    assert "response" in out["items"][1]["reason"] and "reference" in out["items"][2]["reason"]
    with pytest.raises(ValueError, match="labels has 1 items"):
        openrlhf_adapter.score_queries(["a", "b"], None, ["x"])


# ----------------------------------------------------------------------------- slime


@dataclass
class SlimeSample:
    """The fields of slime.utils.types.Sample that a reward function reads."""

    prompt: str | list[dict[str, str]] = ""
    response: str = ""
    label: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


def test_slime_custom_rm_as_async_rm_awaits_it() -> None:
    rm = load_like_slime("mathreward.adapters.slime.reward_func")
    args = Namespace(custom_rm_path="mathreward.adapters.slime.reward_func", reward_key="score")
    samples = [SlimeSample(c["prompt"], c["response"], c["reference"]) for c in CASES]
    samples[0].prompt = [{"role": "user", "content": CASES[0]["prompt"]}]  # chat prompts too

    async def run() -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(rm(args, s) for s in samples)))

    rewards = asyncio.run(run())
    assert [r[args.reward_key] for r in rewards] == [expected_reward(c["expect"]) for c in CASES]
    assert set(rewards[0]) == {"score", "acc", "pred", "status", "method", "reason"}


def test_slime_group_rm_as_batched_async_rm_awaits_it() -> None:
    rm = load_like_slime("mathreward.adapters.slime.batched_reward_func")
    samples = [SlimeSample(c["prompt"], c["response"], c["reference"]) for c in CASES]
    rewards = asyncio.run(rm(Namespace(), samples, incorrect_reward=-1.0))
    assert [r["score"] for r in rewards] == [expected_reward(c["expect"], incorrect=-1.0) for c in CASES]


# ----------------------------------------------------------------------------- shapes of text


def test_message_text_takes_the_last_assistant_message() -> None:
    convo = [
        {"role": "assistant", "content": "calling a tool"},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": [{"type": "text", "text": "so \\boxed{42}"}]},
    ]
    assert message_text(convo) == "so \\boxed{42}"
    assert message_text("plain") == "plain"
    assert message_text(None) is None


# ----------------------------------------------------------------------------- process safety


def _grade_in_child(fn: Any, conn: Any) -> None:
    try:
        conn.send(fn(data_source="math", solution_str="\\boxed{\\frac{1}{2}}", ground_truth="0.5"))
    finally:
        conn.close()


def test_adapters_pickle_by_reference_and_run_in_a_spawned_child() -> None:
    for fn in (
        verl_adapter.compute_score,
        verl_adapter.compute_score_batch,
        verl_adapter.compute_score_async,
        trl_adapter.accuracy_reward,
        trl_adapter.step_reward,
        openrlhf_adapter.reward_func,
        slime_adapter.reward_func,
    ):
        assert pickle.loads(pickle.dumps(fn)) is fn
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter, as a Ray worker is
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_grade_in_child, args=(verl_adapter.compute_score, child_end))
    child.start()  # the function travels pickled to the child
    assert parent_end.poll(120), "the spawned child did not answer"
    result = parent_end.recv()
    child.join(10)
    assert result["score"] == 1.0 and result["status"] == "correct"


def _fork_child(conn: Any) -> None:
    try:
        out = verl_adapter.compute_score("math", "so $x = \\frac{6}{4}$, i.e. \\boxed{\\frac{3}{2}}", "1.5")
        conn.send(out)
    finally:
        conn.close()


def test_adapter_works_in_a_forked_child_after_the_parent_used_it() -> None:
    before = verl_adapter.compute_score_batch(
        ["math", "math"], ["\\boxed{\\sqrt{4}}", "\\boxed{3}"], ["2", "2"], [None, None]
    )
    assert [r["score"] for r in before] == [1.0, 0.0]
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_fork_child, args=(child_end,))
    child.start()
    assert parent_end.poll(60), "the forked child did not answer within 60 s"
    out = parent_end.recv()
    child.join(10)
    assert child.exitcode == 0
    assert out["score"] == 1.0 and not math.isnan(out["score"])


# ----------------------------------------------------------------------------- the config lines


def test_adapters_command_prints_lines_whose_paths_load_like_the_trainers_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mathreward.cli import main

    assert main(["adapters", "--path", "verl"]) == 0
    compute_score = load_like_verl(capsys.readouterr().out.strip(), "compute_score")
    assert compute_score(data_source="m", solution_str="\\boxed{2}", ground_truth="2")["score"] == 1.0
    assert main(["adapters", "--path", "openrlhf"]) == 0
    module = load_like_openrlhf(capsys.readouterr().out.strip())
    assert module.reward_func(["Q \\boxed{2}"], ["Q"], ["2"])["rewards"].tolist() == [1.0]
    assert main(["adapters", "--server", "rm-host:50051", "--http", "rm-host:8000"]) == 0
    lines = capsys.readouterr().out
    for expected in (
        f"custom_reward_function.path={verl_adapter.__file__}",
        "custom_reward_function.name=compute_score",
        "+custom_reward_function.reward_kwargs.server=rm-host:50051",
        "reward_funcs=[accuracy_reward]",
        "--remote_rm_url http://rm-host:8000/get_reward",
        f"--remote_rm_url {openrlhf_adapter.__file__}",
        "--rm-url http://rm-host:8000/slime/reward --reward-key score",
        "--custom-rm-path mathreward.adapters.slime.reward_func",
    ):
        assert expected in lines, expected
    for name in ("compute_score", "compute_score_batch", "compute_score_async"):
        assert callable(getattr(verl_adapter, name))
    assert load_like_slime("mathreward.adapters.slime.reward_func") is slime_adapter.reward_func


def _call_cloudpickled(blob: bytes, conn: Any) -> None:
    import cloudpickle

    try:
        fn = cloudpickle.loads(blob)
        conn.send(fn(["Q \\boxed{2}", "Q \\boxed{3}"], ["Q", "Q"], ["2", "2"])["rewards"].tolist())
    finally:
        conn.close()


def test_openrlhf_file_form_survives_rays_pickling_into_a_fresh_process() -> None:
    """OpenRLHF wraps the file's reward_func in ``ray.remote``; Ray pickles it with cloudpickle, by value,
    since the module "reward_func" exists only in the driver. A spawned child (not daemonic, like a Ray
    worker) has never seen that module."""
    cloudpickle = pytest.importorskip("cloudpickle")
    module = load_like_openrlhf(openrlhf_adapter.__file__)
    blob = cloudpickle.dumps(module.reward_func)
    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_call_cloudpickled, args=(blob, child_end))
    child.start()
    assert parent_end.poll(120), "the spawned child did not answer"
    assert parent_end.recv() == [1.0, 0.0]
    child.join(10)


def test_importing_the_adapters_creates_nothing_and_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import mathreward.adapters.verl, mathreward.adapters.trl, mathreward.adapters.openrlhf\n"
        "import mathreward.adapters.slime, mathreward.adapters._backend as b\n"
        "names = ('torch', 'grpc', 'aiohttp', 'sympy', 'transformers', 'prm')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(heavy, b._state_box, b.process_clients_pid())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[] [] None"
