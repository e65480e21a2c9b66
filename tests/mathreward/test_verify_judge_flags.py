"""`mathreward verify --judge-url URL --judge-model NAME` as a real subprocess against a loopback judge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.verifier.chat_server import ChatServer, always, honest

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mathreward", "verify", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_one_pair_with_a_judge():
    with ChatServer(always("equivalent")) as srv:
        done = cli(
            "--pred", r"The bus comes at $\boxed{\text{a quarter past three}}$.", "--ref", "3:15",
            "--judge-url", srv.url, "--judge-model", "cli-judge", "--judge-api-key-env", "", "--json",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["correct"] and out["method"] == "judge"
    assert out["judge"] == {"model": "cli-judge", "label": "equivalent", "available": True, "detail": ""}
    assert srv.calls == 1


def test_a_stream_with_a_judge_and_the_text_output():
    lines = [
        {"id": 1, "pred": r"$\boxed{\text{a quarter past three}}$", "ref": "3:15"},
        {"id": 2, "pred": r"$\boxed{\text{when the bell rings}}$", "ref": "3:15"},
        {"id": 3, "pred": r"$\boxed{13}$", "ref": "12"},
    ]
    with ChatServer(honest([(r"\text{a quarter past three}", "3:15")])) as srv:
        done = cli(
            "-",
            "--judge-url",
            srv.url,
            "--judge-model",
            "m",
            stdin="".join(json.dumps(x) + "\n" for x in lines),
        )
        text = cli(
            "--pred",
            r"$\boxed{\text{when the bell rings}}$",
            "--ref",
            "3:15",
            "--judge-url",
            srv.url,
            "--judge-model",
            "m",
        )
    assert done.returncode == 0, done.stderr
    got = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(g["id"], g["correct"]) for g in got] == [(1, True), (2, False), (3, False)]
    assert got[1]["judge"]["label"] == "not_equivalent" and "judge" not in got[2]  # 13 vs 12: never asked
    assert text.returncode == 1 and "judge:     m: not_equivalent" in text.stdout


def test_judge_flags_are_checked():
    done = cli("--pred", "1", "--ref", "1", "--judge-url", "http://127.0.0.1:9/v1")
    assert done.returncode == 2 and "--judge-url and --judge-model go together" in done.stderr
    done = cli("--pred", "1", "--ref", "1", "--judge-url", "localhost:8000", "--judge-model", "m")
    assert done.returncode == 2 and "http(s) URL" in done.stderr
