"""Shared by the adapter tests: the case table, and loaders that load a module the way a trainer does."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CASES_FILE = ROOT / "fixtures" / "adapter_cases.jsonl"


def load_cases() -> list[dict[str, Any]]:
    """fixtures/adapter_cases.jsonl: prompt, response, reference, expect (correct|incorrect|error), why."""
    with CASES_FILE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def expected_reward(expect: str, correct: float = 1.0, incorrect: float = 0.0) -> float:
    return correct if expect == "correct" else incorrect


def load_like_verl(path: str, name: str, reward_kwargs: dict[str, Any] | None = None) -> Any:
    """What verl/trainer/ppo/reward.py::get_custom_reward_fn does with custom_reward_function.{path,name,
    reward_kwargs}: execute the file as module "custom_module", take the named function, and merge the
    reward_kwargs into every call (they win over the call's own keyword arguments)."""
    spec = importlib.util.spec_from_file_location("custom_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["custom_module"] = module
    spec.loader.exec_module(module)
    raw_fn = getattr(module, name)
    extra = dict(reward_kwargs or {})
    if inspect.iscoroutinefunction(raw_fn):
        return partial(_call_with_kwargs_async, raw_fn, extra)
    return partial(_call_with_kwargs, raw_fn, extra)


def _call_with_kwargs(raw_fn: Any, extra_kwargs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
    return raw_fn(*args, **{**kwargs, **extra_kwargs})


async def _call_with_kwargs_async(
    raw_fn: Any, extra_kwargs: dict[str, Any], *args: Any, **kwargs: Any
) -> Any:
    return await raw_fn(*args, **{**kwargs, **extra_kwargs})


def load_like_openrlhf(path: str) -> ModuleType:
    """What OpenRLHF does with ``--remote_rm_url some_file.py``: execute the file as module "reward_func"
    (not registered in sys.modules) and call its ``reward_func``."""
    spec = importlib.util.spec_from_file_location("reward_func", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_like_slime(path: str) -> Any:
    """slime/utils/misc.py::load_function: a dotted "module.function" path."""
    module_path, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_path), attr)
