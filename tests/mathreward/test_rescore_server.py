"""``mathreward rescore`` with step scores: a tiny real PRM in process, and ``--server`` against a real
``mathreward serve`` subprocess on a free loopback port (its verifier and its PRM)."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mathreward.test_rescore_cli import (
    DATA,
    EXPECTED,
    METRIC_KEYS,
    check_summary,
    cli_env,
    mathreward,
    read_jsonl,
    script,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def serve(tiny_prm: Path) -> Iterator[str]:
    """``mathreward serve`` on a free port with the tiny Math-Shepherd PRM; yields host:port."""
    proc = subprocess.Popen(
        [*script(), "serve", "--port", "0", "--workers", "2", "--prm-model", str(tiny_prm),
         "--prm-device", "cpu", "--prm-dtype", "float32", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # one JSON line once it listens
        if not line:
            raise AssertionError(f"serve did not start: {proc.stderr.read() if proc.stderr else ''}")
        port = json.loads(line)["port"]
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def check_prm_columns(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        correct = row["correct"] if isinstance(row["correct"], list) else [row["correct"]]
        scores = row["prm_score"] if isinstance(row["prm_score"], list) else [row["prm_score"]]
        steps = row["step_scores"] if isinstance(row["correct"], list) else [row["step_scores"]]
        assert len(scores) == len(correct) == len(steps)
        for agg, s in zip(scores, steps, strict=True):
            assert s and all(0.0 <= x <= 1.0 for x in s)
            assert agg == pytest.approx(min(s))  # --prm-aggregate min (the default)
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))  # the first of the highest
        assert row["prm_best_correct"] is bool(correct[best]), row["id"]


def test_prm_in_process_adds_step_scores_and_its_plot(tiny_prm: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    mathreward("rescore", DATA / "small.jsonl", "-o", out, "--prm", tiny_prm, "--device", "cpu",
               "--report", tmp_path / "report")
    rows = read_jsonl(out)
    check_prm_columns(rows)
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    check_summary(summary, EXPECTED["summary_jsonl"])
    assert summary["prm"]["problems"] == 6
    want_best = sum(r["prm_best_correct"] for r in rows) / 6
    assert summary["prm"]["best_of_n_correct"] == pytest.approx(want_best)
    png = (tmp_path / "report" / "prm_correct_vs_incorrect.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 2000
    # metrics of the rescored file recompute best-of-N from prm_score
    again = json.loads(mathreward("metrics", out, "--json").stdout)
    assert again["prm"]["best_of_n_correct"] == pytest.approx(want_best)


def test_server_gives_the_same_output_as_in_process(serve: str, tiny_prm: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.jsonl"
    proc = mathreward("rescore", DATA / "small.jsonl", "-o", remote, "--server", serve, "--prm", "server")
    local = tmp_path / "local.jsonl"
    mathreward("rescore", DATA / "small.jsonl", "-o", local, "--prm", tiny_prm, "--device", "cpu")
    got, want = read_jsonl(remote), read_jsonl(local)
    assert [r["id"] for r in got] == ["p1", "p2", "p3", "p4", "p5", "p6"]
    for g, w in zip(got, want, strict=True):
        for key in ("correct", "status", "method", "extracted_answer", "answer_group", *METRIC_KEYS):
            assert g[key] == w[key], (g["id"], key)
        assert g["prm_score"] == pytest.approx(w["prm_score"], abs=1e-5), g["id"]
    check_prm_columns(got)
    check_summary(json.loads((tmp_path / "remote.summary.json").read_text()), EXPECTED["summary_jsonl"])
    assert "accuracy" in proc.stdout


def test_server_flag_refuses_settings_that_belong_to_the_server(tmp_path: Path) -> None:
    proc = mathreward("rescore", DATA / "small.jsonl", "-o", tmp_path / "o.jsonl", "--server", "127.0.0.1:1",
                      "--workers", "2", check=False)
    assert proc.returncode == 2 and "server's settings" in proc.stderr
    proc = mathreward("rescore", DATA / "small.jsonl", "-o", tmp_path / "o.jsonl", "--server", "127.0.0.1:1",
                      "--connect-timeout", "1", check=False)
    assert proc.returncode == 2 and "no mathreward server answers at 127.0.0.1:1" in proc.stderr
