"""Tiny real models of every PRM format, built once per session by fixtures/make_tiny_models.py."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


@functools.cache
def load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_tiny_models", FIXTURES / "make_tiny_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, Path]:
    """model name -> directory of its tiny model (cached in fixtures/models/, keyed by the script's hash).

    A model's name is its format's, with ``-bpe`` for the byte-level-tokenizer variants.
    """
    pytest.importorskip("torch")
    return load_builder().ensure_built()


def load_tiny(name: str, path: Path, **kwargs):
    """A tiny model loaded as its format (with the step-tag model's configuration), CPU, float32."""
    from prm import ProcessRewardModel

    options = {"device": "cpu", "dtype": "float32", **load_builder().load_options(name, path), **kwargs}
    return ProcessRewardModel.from_pretrained(path, **options)


@pytest.fixture(scope="session")
def loaded(tiny_models):
    """model name -> ProcessRewardModel on the CPU in float32 (loaded once)."""
    return {name: load_tiny(name, path) for name, path in tiny_models.items()}
