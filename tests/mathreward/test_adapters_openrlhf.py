"""OpenRLHF's own code runs the lines ``mathreward adapters`` prints (OpenRLHF 0.11.2, installed
with ``--no-deps``: its reward-calling code imports without vLLM, DeepSpeed or flash-attn).

- The flags are parsed by OpenRLHF's own argument parser: the ``parser.add_argument`` statements
  of ``openrlhf/cli/train_ppo_ray.py`` (its ``__main__`` block, which also starts Ray and the GPU
  actors, so only the parser statements are executed), then OpenRLHF's ``hierarchize``.
- The dataset row becomes (prompt, label) through OpenRLHF's ``preprocess_data`` with the parsed
  ``--data.label_key``.
- ``openrlhf.utils.agent.SingleTurnAgentExecutor`` (what the vLLM engine actor runs for each
  prompt) is built from the parsed ``--reward.remote_url`` and executes the rollout: it loads the
  file form by path and calls ``reward_func(queries, prompts, labels)``, or POSTs to the HTTP route
  of a real server on loopback. The generation engine is the one part replaced: a scripted engine
  hands back the case's response as token ids (of a byte-level tokenizer built here), so each
  reward can be checked against the case table.
"""

from __future__ import annotations

import argparse
import ast
import os
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.mathreward.adapter_helpers import (
    PROFILES,
    byte_tokenizer,
    expected_reward,
    load_cases,
    printed_lines,
    split_exports,
)

openrlhf = pytest.importorskip("openrlhf", reason="OpenRLHF is not installed (see docs/trainers/openrlhf.md)")
torch = pytest.importorskip("torch")

CASES = load_cases()
GOOD = [c for c in CASES if c["expect"] != "error"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MATHREWARD_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return byte_tokenizer(tmp_path_factory.mktemp("byte_tokenizer"))


def openrlhf_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m openrlhf.cli.train_ppo_ray``, built by its own statements."""
    source = Path(openrlhf.__file__).parent / "cli" / "train_ppo_ray.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    main = next(
        node for node in tree.body if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)
    )
    # the module's standard-library imports (argparse, datetime: a default uses it), not ray or torch
    kept: list[ast.stmt] = [
        node
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and all(
            (alias.name if isinstance(node, ast.Import) else node.module or "").split(".")[0]
            in sys.stdlib_module_names
            for alias in node.names
        )
    ]
    for stmt in main.body:
        text = ast.unparse(stmt)
        if text.startswith("parser = argparse.ArgumentParser(") or text.startswith("parser.add_argument("):
            kept.append(stmt)
        elif text.startswith("args = parser.parse_args("):
            break
    assert len(kept) > 100, "the parser statements of train_ppo_ray.py were not found"
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=kept, type_ignores=[]), str(source), "exec"), namespace)
    return namespace["parser"]


def parse_printed(*flags: str) -> tuple[dict[str, str], Any]:
    """The printed OpenRLHF lines: the environment they export, and OpenRLHF's parsed args."""
    from openrlhf.utils.config import hierarchize

    env, rest = split_exports(printed_lines("--trainer", "openrlhf", *flags))
    argv = [arg for line in rest for arg in shlex.split(line)]
    args = hierarchize(openrlhf_parser().parse_args(argv))
    args.reward.remote_url = args.reward.remote_url.split(",")  # as train_ppo_ray does after parsing
    return env, args


class ScriptedEngine:
    """Stands in for the vLLM engine: generates the case's response (token ids + EOS)."""

    def __init__(self, tokenizer: Any, response: str) -> None:
        self.ids = [*tokenizer.encode(response), tokenizer.eos_token_id]
        self.text = response

    async def generate(
        self, prompt_token_ids: list[int], sampling_params: Any, multi_modal_data: Any = None
    ) -> Any:
        out = SimpleNamespace(token_ids=self.ids, text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])


async def rollout(args: Any, tokenizer: Any, cases: list[dict[str, Any]]) -> list[Any]:
    """OpenRLHF's single-turn rollout of each case, with the reward it computes; one value per case."""
    from openrlhf.datasets.prompts_dataset import preprocess_data
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(args.reward.remote_url)
    rewards = []
    for case in cases:
        row = {
            "input": f"<|im_start|>user\n{case['prompt']}<|im_end|>\n<|im_start|>assistant\n",
            args.data.label_key: case["reference"],
        }
        prompt, label = preprocess_data(row, None, args.data.input_key, args.data.label_key, False)
        params = SimpleNamespace(max_tokens=None, logprobs=None)
        out = await executor.execute(
            prompt, label, params, 4096, tokenizer, ScriptedEngine(tokenizer, case["response"])
        )
        assert out["reward"] is not None, "OpenRLHF swallowed a reward error (see its log)"
        rewards.append(float(torch.as_tensor(out["reward"]).reshape(-1)[0]))
    return rewards


@pytest.mark.parametrize("profile", list(PROFILES))
async def test_openrlhf_runs_the_printed_file_form(
    profile: str, tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, args = parse_printed(*PROFILES[profile]["flags"])
    assert args.reward.remote_url[0].endswith("openrlhf.py") and args.data.label_key == "answer"
    for name, value in env.items():  # OpenRLHF passes no keywords: the settings travel in the environment
        monkeypatch.setenv(name, value)
    assert await rollout(args, tokenizer, GOOD) == [expected_reward(c, profile) for c in GOOD]


@pytest.mark.parametrize("profile", ["lenient", "strict"])
async def test_openrlhf_runs_the_printed_http_form(profile: str, tokenizer: Any) -> None:
    from mathreward.http_routes import make_http_app, start_http

    runner, port = await start_http(make_http_app(), "127.0.0.1", 0)
    try:
        env, args = parse_printed("--http", f"127.0.0.1:{port}", *PROFILES[profile]["flags"])
        assert env == {}  # the settings travel in the URL
        assert args.reward.remote_url[0].startswith(f"http://127.0.0.1:{port}/get_reward")
        assert await rollout(args, tokenizer, GOOD) == [expected_reward(c, profile) for c in GOOD]
    finally:
        await runner.cleanup()


def test_openrlhf_rejects_the_old_flags() -> None:
    """Why the printed lines changed: OpenRLHF >= 0.10.2 has no --remote_rm_url / --label_key."""
    with pytest.raises(SystemExit):
        openrlhf_parser().parse_args(["--remote_rm_url", "x.py", "--label_key", "answer"])


def test_openrlhf_positional_call_with_every_label_missing_fails_loudly() -> None:
    """OpenRLHF reads an absent --data.label_key as "" for every row; the file form must not grade
    that batch as all wrong. (OpenRLHF itself logs the error and leaves the reward unset.)"""
    from openrlhf.datasets.prompts_dataset import preprocess_data

    from mathreward.adapters._settings import MissingLabelsError
    from mathreward.adapters.openrlhf import reward_func

    _, label = preprocess_data({"input": "Q", "answer": "2"}, None, "input", None, False)
    assert label == ""
    with pytest.raises(MissingLabelsError, match=r"--data\.label_key"):
        reward_func(["Q \\boxed{2}", "Q \\boxed{3}"], ["Q", "Q"], [label, label])
