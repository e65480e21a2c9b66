"""Tiny real models of every PRM format, built once per session by fixtures/make_tiny_models.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"


def load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_tiny_models", FIXTURES / "make_tiny_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_models() -> dict[str, Path]:
    """format name -> directory of its tiny model (cached in fixtures/models/, keyed by the script's hash)."""
    pytest.importorskip("torch")
    return load_builder().ensure_built()


@pytest.fixture(scope="session")
def loaded(tiny_models):
    """format name -> ProcessRewardModel on the CPU in float32 (loaded once)."""
    from prm import ProcessRewardModel

    return {
        name: ProcessRewardModel.from_pretrained(path, device="cpu", dtype="float32")
        for name, path in tiny_models.items()
    }
