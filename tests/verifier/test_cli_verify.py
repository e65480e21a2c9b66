"""``mathreward verify`` through the real console script, as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("mathreward")


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), "verify", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module", autouse=True)
def _script_exists() -> None:
    assert SCRIPT.exists(), f"the console script is not installed at {SCRIPT}"


def test_correct_pair_exits_0_and_prints_reason() -> None:
    out = run("--pred", "So the answer is $\\boxed{\\frac{1}{2}}$.", "--ref", "0.5")
    assert out.returncode == 0, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("correct (numeric):")
    assert "answer:    \\frac{1}{2}" in out.stdout and "reference: 0.5" in out.stdout


def test_wrong_pair_exits_1() -> None:
    out = run("--pred", "\\boxed{3}", "--ref", "4")
    assert out.returncode == 1
    assert out.stdout.startswith("incorrect (numeric): 3 != 4")


def test_no_answer_exits_1() -> None:
    out = run("--pred", "I think about it.\nStill thinking, 12 maybe, later.\nDone here.", "--ref", "12")
    assert out.returncode == 1 and out.stdout.startswith("no_answer")


def test_json_output() -> None:
    out = run("--pred", "x^2-1", "--ref", "(x-1)(x+1)", "--json", "--question", "Factor x^2-1.")
    assert out.returncode == 0, out.stderr
    verdict = json.loads(out.stdout)
    assert verdict["correct"] is True and verdict["status"] == "correct" and verdict["method"] == "symbolic"
    assert set(verdict) >= {"pred_answer", "ref_answer", "reason", "elapsed_s"}


def test_timeout_flag() -> None:
    assert run("--pred", "1", "--ref", "1", "--timeout", "0.5").returncode == 0
    bad = run("--pred", "1", "--ref", "1", "--timeout", "-1")
    assert bad.returncode == 2 and "--timeout" in bad.stderr


def test_usage_errors_exit_2() -> None:
    assert run("--pred", "1").returncode == 2
    assert run("-", "--pred", "1", "--ref", "1").returncode == 2


def test_stdin_jsonl_in_order_with_error_lines() -> None:
    lines = [
        json.dumps({"pred": "\\boxed{2}", "ref": "2", "id": 1}),
        "not json",
        json.dumps({"pred": "x^2-1", "ref": "(x-1)(x+1)", "id": "b", "question": "Factor."}),
        json.dumps({"pred": 3, "ref": "3", "id": "bad-type"}),
        "",
        json.dumps(["a", "list"]),
        json.dumps({"pred": "1728", "ref": "1331, 1728"}),
    ]
    out = run("-", stdin="\n".join(lines) + "\n")
    assert out.returncode == 2, out.stderr  # some lines were malformed; every line still answered
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 6  # the blank line is skipped
    assert rows[0]["id"] == 1 and rows[0]["correct"] is True
    assert rows[1]["status"] == "error" and "line 2" in rows[1]["reason"]
    assert rows[2]["id"] == "b" and rows[2]["correct"] is True
    assert rows[3]["id"] == "bad-type" and rows[3]["status"] == "error" and "'pred'" in rows[3]["reason"]
    assert rows[4]["status"] == "error" and "line 6" in rows[4]["reason"]
    assert rows[5]["correct"] is False and rows[5]["status"] == "incorrect"


def test_stdin_all_good_exits_0() -> None:
    lines = [json.dumps({"pred": str(k), "ref": str(k)}) for k in range(5)]
    out = run("-", stdin="\n".join(lines))
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["correct"] for line in out.stdout.splitlines()] == [True] * 5


def test_answer_conventions_flag_is_strict_mode() -> None:
    plain = "We add 3 and 4.\nThe answer is 7."
    assert run("--pred", plain, "--ref", "7").returncode == 0
    strict = run("--pred", plain, "--ref", "7", "--answer-conventions", "boxed", "--json")
    assert strict.returncode == 1
    verdict = json.loads(strict.stdout)
    assert verdict["status"] == "no_answer" and "boxed" in verdict["reason"]
    assert run("--pred", "so \\boxed{7}", "--ref", "7", "--answer-conventions", "boxed,json").returncode == 0
    bad = run("--pred", "7", "--ref", "7", "--answer-conventions", "boxes")
    assert bad.returncode == 2 and "boxed" in bad.stderr
