"""slime runs the lines ``mathreward adapters`` prints.

slime is not on PyPI (the ``slime`` name there is another project) and nothing of it is vendored
here. Two layers:

- Always: slime's calling convention as read from THUDM/slime at commit
  624b824a898ab0ec1fcb4d373004c7f3852bf515: ``slime/rollout/rm_hub/__init__.py`` (``async_rm``
  loads ``--custom-rm-path`` with ``load_function``, a dotted path, and awaits ``rm(args, sample)``
  with no keywords; ``batched_async_rm`` awaits ``rm(args, samples)`` for ``--group-rm``;
  ``remote_rm`` POSTs ``{"prompt", "response", "label"}`` to ``args.rm_url`` with aiohttp and keeps
  the JSON answer as ``sample.reward``), ``slime/utils/types.py`` (``Sample.get_reward_value``:
  ``sample.reward[args.reward_key]``).
- Where slime's source imports (``PYTHONPATH`` holding a checkout of that commit; its rm_hub needs
  only torch, httpx, aiohttp, sympy, pylatexenc): slime's own ``async_rm`` / ``batched_async_rm``
  / ``Sample`` run the same cases, and slime's own ``add_reward_model_arguments`` parses the
  printed flags. Skipped elsewhere (CI), with the reason.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import importlib
import inspect
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.mathreward.adapter_helpers import (
    PROFILES,
    expected_reward,
    load_cases,
    printed_lines,
    split_exports,
)

CASES = load_cases()
GOOD = [c for c in CASES if c["expect"] != "error"]

try:
    from slime.rollout import rm_hub as slime_rm_hub
    from slime.utils.types import Sample as SlimeSample
except ImportError:
    slime_rm_hub = None
    SlimeSample = None
needs_slime = pytest.mark.skipif(slime_rm_hub is None, reason="slime's source is not on PYTHONPATH")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MATHREWARD_"):
            monkeypatch.delenv(name)


@dataclass
class Sample:
    """The fields of slime.utils.types.Sample (at the pinned commit) that the reward path reads."""

    prompt: str | list[dict[str, str]] = ""
    response: str = ""
    label: str | None = None
    reward: Any = None
    custom_rm_path: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def load_function(path: str) -> Any:
    """slime/utils/misc.py::load_function: a dotted "module.function" path."""
    module_path, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_path), attr)


def slime_args(*flags: str, monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """The printed slime lines: exports into the environment, flags into an args namespace with
    slime's attribute names (``--custom-rm-path`` -> ``custom_rm_path``)."""
    env, rest = split_exports(printed_lines("--trainer", "slime", *flags))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    argv = [arg for line in rest for arg in shlex.split(line)]
    parser = argparse.ArgumentParser()
    for flag in ("--rm-type", "--reward-key", "--rm-url", "--custom-rm-path"):
        parser.add_argument(flag, default=None)
    parser.add_argument("--group-rm", action="store_true", default=False)
    return parser.parse_args(argv)


async def convention_async_rm(args: argparse.Namespace, sample: Sample) -> Any:
    """What slime's async_rm does for --custom-rm-path and for --rm-type remote_rm."""
    if args.custom_rm_path is not None:
        return await load_function(args.custom_rm_path)(args, sample)
    assert args.rm_type == "remote_rm"
    import aiohttp

    payload = {"prompt": sample.prompt, "response": sample.response, "label": sample.label}
    async with aiohttp.ClientSession() as session, session.post(args.rm_url, json=payload) as resp:
        resp.raise_for_status()
        return await resp.json()


def samples(cls: Any, cases: list[dict[str, Any]]) -> list[Any]:
    out = [cls(prompt=c["prompt"], response=c["response"], label=c["reference"]) for c in cases]
    out[0].prompt = [{"role": "user", "content": cases[0]["prompt"]}]  # chat prompts too
    return out


async def rewards_of(rm: Any, args: argparse.Namespace, batch: list[Any]) -> list[float]:
    results = await asyncio.gather(*(rm(args, s) for s in batch))
    for s, r in zip(batch, results, strict=True):
        s.reward = r
    return [s.reward[args.reward_key] for s in batch]  # Sample.get_reward_value


@pytest.mark.parametrize("profile", list(PROFILES))
async def test_slime_convention_custom_rm(profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    args = slime_args(*PROFILES[profile]["flags"], monkeypatch=monkeypatch)
    assert args.custom_rm_path == "mathreward.adapters.slime.reward_func" and args.reward_key == "score"
    assert inspect.iscoroutinefunction(load_function(args.custom_rm_path))
    got = await rewards_of(convention_async_rm, args, samples(Sample, GOOD))
    assert got == [expected_reward(c, profile) for c in GOOD]


@pytest.mark.parametrize("profile", ["lenient", "strict"])
async def test_slime_convention_remote_rm(profile: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mathreward.http_routes import make_http_app, start_http

    runner, port = await start_http(make_http_app(), "127.0.0.1", 0)
    try:
        args = slime_args("--http", f"127.0.0.1:{port}", *PROFILES[profile]["flags"], monkeypatch=monkeypatch)
        assert args.rm_type == "remote_rm" and args.custom_rm_path is None
        got = await rewards_of(convention_async_rm, args, samples(Sample, GOOD))
        assert got == [expected_reward(c, profile) for c in GOOD]
    finally:
        await runner.cleanup()


async def test_slime_group_rm_convention_and_missing_labels() -> None:
    from mathreward.adapters._settings import MissingLabelsError

    rm = load_function("mathreward.adapters.slime.batched_reward_func")
    args = argparse.Namespace(
        custom_rm_path="mathreward.adapters.slime.batched_reward_func", reward_key="score"
    )
    results = await rm(args, samples(Sample, CASES))  # the missing reference is that sample's own error
    assert [r["score"] for r in results] == [expected_reward(c) for c in CASES]
    with pytest.raises(MissingLabelsError, match="--label-key"):
        await rm(args, [Sample(prompt="q", response="\\boxed{1}", label=None) for _ in range(3)])


# ----------------------------------------------------------------------------- slime's own code


@needs_slime
@pytest.mark.parametrize("profile", ["lenient", "strict"])
async def test_slime_own_async_rm_runs_the_printed_lines(
    profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert slime_rm_hub is not None and SlimeSample is not None
    args = slime_args(*PROFILES[profile]["flags"], monkeypatch=monkeypatch)
    batch = samples(SlimeSample, GOOD)
    got = await rewards_of(slime_rm_hub.async_rm, args, batch)
    assert got == [expected_reward(c, profile) for c in GOOD]
    assert [s.get_reward_value(args) for s in batch] == got  # what slime's trainer reads


@needs_slime
async def test_slime_own_remote_rm_posts_to_the_printed_url(monkeypatch: pytest.MonkeyPatch) -> None:
    assert slime_rm_hub is not None and SlimeSample is not None
    from mathreward.http_routes import make_http_app, start_http

    runner, port = await start_http(make_http_app(), "127.0.0.1", 0)
    try:
        args = slime_args(
            "--http", f"127.0.0.1:{port}", *PROFILES["strict"]["flags"], monkeypatch=monkeypatch
        )
        batch = samples(SlimeSample, GOOD)
        got = await rewards_of(slime_rm_hub.async_rm, args, batch)
        assert got == [expected_reward(c, "strict") for c in GOOD]
        assert [s.get_reward_value(args) for s in batch] == got
    finally:
        await runner.cleanup()
        session = slime_rm_hub._shared_session
        if session is not None:
            await session.close()


@needs_slime
def test_slime_own_parser_accepts_the_printed_flags() -> None:
    import slime

    source = Path(slime.__file__).parent / "utils" / "arguments.py"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    fn = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "add_reward_model_arguments"
    )
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(source), "exec"), namespace)
    parser = namespace["add_reward_model_arguments"](argparse.ArgumentParser())
    for flags in ([], ["--http", "rm-host:8000"]):
        _, rest = split_exports(printed_lines("--trainer", "slime", *flags))
        args = parser.parse_args([a for line in rest for a in shlex.split(line)])
        assert args.reward_key == "score"
