"""split_steps modes (case table in fixtures/prm_split_steps.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prm import split_steps

CASES = [
    json.loads(line)
    for line in (Path(__file__).resolve().parents[2] / "fixtures" / "prm_split_steps.jsonl")
    .read_text()
    .splitlines()
    if line.strip()
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["why"][:50])
def test_split_steps(case):
    assert split_steps(case["text"], case["mode"]) == case["expected"], case["why"]


def test_default_mode_is_auto():
    assert split_steps("a\n\nb") == ["a", "b"]


def test_unknown_mode():
    with pytest.raises(ValueError, match="unknown split mode 'words'"):
        split_steps("a", "words")  # type: ignore[arg-type]


def test_non_str():
    with pytest.raises(TypeError, match="must be a str"):
        split_steps(["a"])  # type: ignore[arg-type]
