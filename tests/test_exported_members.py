"""The public surface of each package is its ``__all__``, pinned here (the httpx habit): adding or removing
a public name is a deliberate change of fixtures/public_api.json, and every pinned name exists."""

from __future__ import annotations

import importlib
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PINNED: dict[str, list[str]] = json.loads((ROOT / "fixtures" / "public_api.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("package", sorted(PINNED))
def test_all_is_pinned_and_every_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PINNED[package]), (
        f"{package}.__all__ changed: update fixtures/public_api.json if that is deliberate"
    )
    # a name is defined, or is a submodule (the adapters import theirs only when a trainer loads one)
    missing = [
        name
        for name in module.__all__
        if not hasattr(module, name) and importlib.util.find_spec(f"{package}.{name}") is None
    ]
    assert not missing, f"{package}.__all__ names what it does not define: {missing}"
