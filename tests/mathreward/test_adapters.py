"""The adapters' own contracts, called directly: reward settings, TRL's keyword call shapes,
OpenRLHF's query splitting, bad items, process safety, and the ``mathreward adapters`` command.

The trainers' own code runs the adapters in test_adapters_verl.py (verl 0.9.1),
test_adapters_trl_trainer.py (TRL 1.16), test_adapters_openrlhf.py (OpenRLHF 0.11.2) and
test_adapters_slime.py (slime at a pinned commit); this file holds no copy of a trainer's loader.
TRL's call shape (``trl/trainer/grpo_trainer.py::_calculate_rewards``): keyword arguments
``prompts=, completions=, completion_ids=, **columns, trainer_state=, log_extra=, log_metric=``.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import os
import pickle
import re
from argparse import Namespace
from dataclasses import dataclass, field
from typing import Any

import pytest

import mathreward.adapters.openrlhf as openrlhf_adapter
import mathreward.adapters.slime as slime_adapter
import mathreward.adapters.trl as trl_adapter
import mathreward.adapters.verl as verl_adapter
from mathreward.adapters._settings import MissingLabelsError, RewardSettings
from mathreward.adapters._text import message_text, response_from_query, strip_special_tail
from tests.mathreward.adapter_helpers import PROFILES, expected_reward, load_cases
from verifier import answer_key

CASES = load_cases()
IDS = [c["why"] for c in CASES]


@pytest.fixture(autouse=True)
def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests grade in this process with the default settings, whatever the environment says."""
    for name in list(os.environ):
        if name.startswith("MATHREWARD_"):
            monkeypatch.delenv(name)


# ----------------------------------------------------------------------------- reward settings


def test_settings_defaults_keywords_win_over_the_environment() -> None:
    assert RewardSettings.resolve({}, env={}) == RewardSettings(1.0, -1.0, None, None, False)
    env = {
        "MATHREWARD_INCORRECT_REWARD": "-0.5",
        "MATHREWARD_STRICT_FORMAT": "yes",
        "MATHREWARD_NO_ANSWER_REWARD": "0",
    }
    from_env = RewardSettings.resolve({}, env=env)
    assert (from_env.incorrect, from_env.strict_format, from_env.no_answer) == (-0.5, True, 0.0)
    both = RewardSettings.resolve(
        {"incorrect_reward": -2, "strict_format": False, "no_answer_reward": None}, env=env
    )
    assert (both.incorrect, both.strict_format, both.no_answer) == (-2.0, False, 0.0)  # None: not given


@pytest.mark.parametrize(
    ("kwargs", "env", "message"),
    [
        ({"correct_reward": "one"}, {}, "correct_reward='one' is not a number"),
        ({}, {"MATHREWARD_FORMAT_REWARD": "nan"}, "environment variable MATHREWARD_FORMAT_REWARD"),
        ({}, {"MATHREWARD_STRICT_FORMAT": "sometimes"}, "MATHREWARD_STRICT_FORMAT='sometimes'"),
        ({"incorrect_reward": True}, {}, "incorrect_reward=True is not a number"),
    ],
)
def test_settings_that_do_not_read_fail_loudly(
    kwargs: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        RewardSettings.resolve(kwargs, env=env)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_settings_reward_every_case_of_the_table(profile: str) -> None:
    """The reward of each outcome, through the adapter every trainer shares (OpenRLHF's batch form)."""
    settings = RewardSettings.resolve(PROFILES[profile]["settings"], env={})
    out = openrlhf_adapter.score_queries(
        [c["prompt"] + c["response"] for c in CASES],
        [c["prompt"] for c in CASES],
        [c["reference"] for c in CASES],
        settings=settings,
    )
    assert out["rewards"] == [expected_reward(c, profile) for c in CASES]
    strict = PROFILES[profile]["strict"]
    assert [i["outcome"] for i in out["items"]] == [
        "incorrect" if c["expect"] == "error" else c["expect_strict" if strict else "expect"] for c in CASES
    ]


def test_a_batch_whose_labels_are_all_missing_fails_loudly_in_every_adapter() -> None:
    with pytest.raises(MissingLabelsError, match="ground_truth"):
        verl_adapter.compute_score("openai/gsm8k", "\\boxed{1}", None)
    with pytest.raises(MissingLabelsError, match="'solution'"):
        trl_adapter.accuracy_reward(completions=["\\boxed{1}", "\\boxed{2}"], solution=["", "  "])
    with pytest.raises(MissingLabelsError, match="label_key"):
        openrlhf_adapter.score_queries(["Q 1", "Q 2"], ["Q", "Q"], None)
    with pytest.raises(MissingLabelsError, match="label-key"):
        asyncio.run(slime_adapter.reward_func(Namespace(), SlimeSample("q", "\\boxed{1}", None)))
    # one missing label among others is that item's own error
    out = openrlhf_adapter.score_queries(["Q \\boxed{1}", "Q \\boxed{2}"], ["Q", "Q"], ["1", None])
    assert [i["status"] for i in out["items"]] == ["correct", "error"]


def test_verl_pred_and_keys_keep_one_type() -> None:
    right = verl_adapter.compute_score("math", "\\boxed{42}", "42")
    wrong = verl_adapter.compute_score("math", CASES[5]["response"], "42")  # states no answer
    assert {k: type(v) for k, v in right.items()} == {k: type(v) for k, v in wrong.items()}
    # pred is the canonical answer key, what verl's maj@N votes on: 1,027 and 1027 are one vote
    assert right["pred"] == answer_key("42") and wrong["pred"] == ""
    assert verl_adapter.compute_score("math", "\\boxed{1,027}", "1027")["pred"] == answer_key("1027")


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


def _trl_expected(case: dict[str, Any], profile: str = "lenient") -> float | None:
    return None if case["expect"] == "error" else expected_reward(case, profile)


@pytest.mark.parametrize("conversational", [False, True], ids=["standard", "conversational"])
def test_trl_accuracy_reward_as_grpo_trainer_calls_it(conversational: bool) -> None:
    kwargs = _trl_kwargs(CASES, conversational)
    logged = kwargs.pop("_logged")
    rewards = trl_adapter.accuracy_reward(**kwargs)
    assert rewards == [_trl_expected(c) for c in CASES]
    assert logged["accuracy_reward_outcome"][0] == "correct"
    assert len(logged["accuracy_reward_pred"]) == len(CASES)


def test_trl_async_reward_is_detected_and_awaited_like_trl_does() -> None:
    from trl.trainer.utils import get_callable_name, is_async_callable

    configured = trl_adapter.AsyncAccuracyReward(
        name="strict", strict_format=True, no_answer=0.0, format_violation=-0.5
    )
    assert is_async_callable(trl_adapter.accuracy_reward_async) and is_async_callable(configured)
    assert not is_async_callable(trl_adapter.accuracy_reward)
    assert get_callable_name(configured) == "strict"
    kwargs = _trl_kwargs(CASES, conversational=True)
    kwargs.pop("_logged")

    async def run() -> tuple[list[float | None], list[float | None]]:
        a, b = await asyncio.gather(trl_adapter.accuracy_reward_async(**kwargs), configured(**kwargs))
        return a, b

    plain, strict = asyncio.run(run())
    assert plain == [_trl_expected(c) for c in CASES]
    assert strict == [_trl_expected(c, "strict") for c in CASES]


def test_trl_none_only_where_the_reference_is_unusable() -> None:
    completions = ["\\boxed{42}", "\\boxed{42}", "\\boxed{42}", "no final answer in this one", 42]
    solution = ["", "x^{", None, "42", "42"]
    # empty, unreadable, missing reference: None (skipped); no answer stated, a non-text completion: -1
    assert trl_adapter.accuracy_reward(completions=completions, solution=solution) == [
        None,
        None,
        None,
        -1.0,
        -1.0,
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
    reward = trl_adapter.AccuracyReward(name="acc_zero", correct=1.0, incorrect=0.0, server=None)
    clone = pickle.loads(pickle.dumps(reward))
    assert clone == reward and clone.__name__ == "acc_zero"
    assert clone(completions=["\\boxed{3}", "\\boxed{4}"], solution=["3", "3"]) == [1.0, 0.0]


def test_trl_names_are_distinct_by_default_and_configurable() -> None:
    """GRPOTrainer keys its metrics by these names: one name per function, or they overwrite."""
    from trl.trainer.utils import get_callable_name

    funcs = [
        trl_adapter.accuracy_reward,
        trl_adapter.accuracy_reward_async,
        trl_adapter.AccuracyReward(),
        trl_adapter.AsyncAccuracyReward(),
        trl_adapter.step_reward,
        trl_adapter.StepReward(),
        trl_adapter.AccuracyReward(name="acc_strict", strict_format=True),
    ]
    names = [get_callable_name(f) for f in funcs]
    assert len(set(names)) == len(names), names
    assert names[-1] == "acc_strict" and trl_adapter.AccuracyReward.__name__ == "AccuracyReward"


def test_trl_module_function_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MATHREWARD_STRICT_FORMAT", "1")
    monkeypatch.setenv("MATHREWARD_FORMAT_REWARD", "-0.25")
    got = trl_adapter.accuracy_reward(completions=["\\boxed{3}", "The answer is 3."], solution=["3", "3"])
    assert got == [1.0, -0.25]
    # an instance's own field wins over the environment
    assert trl_adapter.AccuracyReward(strict_format=False)(
        completions=["The answer is 3."], solution=["3"]
    ) == [1.0]


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


def test_openrlhf_reward_func_answers_tensors_scores_and_extra_logs() -> None:
    import torch

    queries, prompts = _queries(CASES)
    labels = [c["reference"] for c in CASES]
    out = openrlhf_adapter.reward_func(queries, prompts, labels)
    assert set(out) == {"rewards", "scores", "extra_logs"}
    assert isinstance(out["rewards"], torch.Tensor) and out["rewards"].shape == (len(CASES),)
    assert out["rewards"].tolist() == [expected_reward(c) for c in CASES]
    assert out["scores"].tolist() == [1.0 if c["expect"] == "correct" else 0.0 for c in CASES]
    assert out["extra_logs"]["prompt_stripped"].tolist() == [1.0] * len(CASES)
    assert out["extra_logs"]["verify_error"].tolist() == [
        1.0 if c["expect"] == "error" else 0.0 for c in CASES
    ]


def test_openrlhf_prompt_is_stripped_so_an_answer_in_the_prompt_is_not_graded() -> None:
    prompt = "Example: 1+1 is \\boxed{2}. Now, what is 2+2?"
    answer = openrlhf_adapter.score_queries([prompt + " I do not know."], [prompt], ["2"])
    assert answer["rewards"] == [-1.0]  # the prompt's \boxed{2} would have matched
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
    assert out["rewards"] == [1.0, -1.0, -1.0]
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
    before = [verl_adapter.compute_score("math", r, "2") for r in ("\\boxed{\\sqrt{4}}", "\\boxed{3}")]
    assert [r["score"] for r in before] == [1.0, -1.0]
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


def test_adapters_command_prints_each_trainers_current_keys(capsys: pytest.CaptureFixture[str]) -> None:
    """The trainers' own code accepts these lines (test_adapters_verl/openrlhf/slime/trl_trainer);
    here: the paths, and that no line uses a key the tested releases dropped."""
    from mathreward.cli import main

    assert main(["adapters", "--path", "verl"]) == 0
    assert capsys.readouterr().out.strip() == verl_adapter.__file__
    assert main(["adapters", "--path", "openrlhf"]) == 0
    assert capsys.readouterr().out.strip() == openrlhf_adapter.__file__
    assert (
        main(["adapters", "--server", "rm-host:50051", "--http", "rm-host:8000", "--no-answer-reward", "0"])
        == 0
    )
    out = capsys.readouterr().out
    for expected in (
        f"reward.custom_reward_function.path={verl_adapter.__file__}",
        "+reward.custom_reward_function.reward_kwargs.server=rm-host:50051",
        "+reward.custom_reward_function.reward_kwargs.no_answer_reward=0.0",
        "reward_funcs = [AccuracyReward(name='accuracy', no_answer=0.0, server='rm-host:50051')]",
        "--reward.remote_url 'http://rm-host:8000/get_reward?no_answer_reward=0.0' --data.label_key answer",
        "--rm-type remote_rm --rm-url 'http://rm-host:8000/slime/reward?no_answer_reward=0.0' "
        "--reward-key score",
    ):
        assert expected in out, expected
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert not any(line.startswith("custom_reward_function.") for line in lines)  # ignored by verl 0.9
    assert "--remote_rm_url" not in out and "--label_key" not in out  # rejected by OpenRLHF >= 0.10.2
    assert "reward_manager=batch" not in out  # no such manager in verl 0.9's reward loop
    assert main(["adapters", "--trainer", "openrlhf", "--strict-format"]) == 0
    assert "export MATHREWARD_STRICT_FORMAT=true" in capsys.readouterr().out


def _call_cloudpickled(blob: bytes, conn: Any) -> None:
    import cloudpickle

    try:
        fn = cloudpickle.loads(blob)
        conn.send(fn(["Q \\boxed{2}", "Q \\boxed{3}"], ["Q", "Q"], ["2", "2"])["rewards"].tolist())
    finally:
        conn.close()


def test_openrlhf_file_form_survives_rays_pickling_into_a_fresh_process() -> None:
    """The file form loaded by OpenRLHF's own loader pickles by value (cloudpickle, as Ray does for a
    function whose module "reward_func" exists only where it was loaded) and runs in a spawned child
    that has never seen that module."""
    cloudpickle = pytest.importorskip("cloudpickle")
    pytest.importorskip("openrlhf")
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    blob = cloudpickle.dumps(SingleTurnAgentExecutor(openrlhf_adapter.__file__).reward_func)
    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_call_cloudpickled, args=(blob, child_end))
    child.start()
    assert parent_end.poll(120), "the spawned child did not answer"
    assert parent_end.recv() == [1.0, -1.0]
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
