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
        [
            *script(),
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--prm-model",
            str(tiny_prm),
            "--prm-device",
            "cpu",
            "--prm-dtype",
            "float32",
            "--log-level",
            "WARNING",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=ROOT,
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


@pytest.fixture(scope="module")
def local_prm(tiny_prm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """small.jsonl rescored with the tiny PRM in process, with a report (loading torch is the slow part)."""
    d = tmp_path_factory.mktemp("prm")
    mathreward(
        "rescore",
        DATA / "small.jsonl",
        "-o",
        d / "out.jsonl",
        "--prm",
        tiny_prm,
        "--device",
        "cpu",
        "--report",
        d / "report",
    )
    return d


def test_prm_in_process_adds_step_scores_and_its_plot(local_prm: Path) -> None:
    out = local_prm / "out.jsonl"
    rows = read_jsonl(out)
    check_prm_columns(rows)
    summary = json.loads((local_prm / "out.summary.json").read_text())
    check_summary(summary, EXPECTED["summary_jsonl"])
    assert summary["prm"]["problems"] == 6
    want_best = sum(r["prm_best_correct"] for r in rows) / 6
    assert summary["prm"]["best_of_n_correct"] == pytest.approx(want_best)
    png = (local_prm / "report" / "prm_correct_vs_incorrect.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 2000
    # metrics of the rescored file recompute best-of-N from prm_score
    again = json.loads(mathreward("metrics", out, "--json").stdout)
    assert again["prm"]["best_of_n_correct"] == pytest.approx(want_best)


def test_server_gives_the_same_output_as_in_process(serve: str, local_prm: Path, tmp_path: Path) -> None:
    remote = tmp_path / "remote.jsonl"
    proc = mathreward("rescore", DATA / "small.jsonl", "-o", remote, "--server", serve, "--prm", "server")
    got, want = read_jsonl(remote), read_jsonl(local_prm / "out.jsonl")
    assert [r["id"] for r in got] == ["p1", "p2", "p3", "p4", "p5", "p6"]
    for g, w in zip(got, want, strict=True):
        for key in ("correct", "status", "method", "extracted_answer", "answer_group", *METRIC_KEYS):
            assert g[key] == w[key], (g["id"], key)
        assert g["prm_score"] == pytest.approx(w["prm_score"], abs=1e-5), g["id"]
    check_prm_columns(got)
    check_summary(json.loads((tmp_path / "remote.summary.json").read_text()), EXPECTED["summary_jsonl"])
    assert "accuracy" in proc.stdout


def test_server_flag_refuses_settings_that_belong_to_the_server(tmp_path: Path) -> None:
    proc = mathreward(
        "rescore",
        DATA / "small.jsonl",
        "-o",
        tmp_path / "o.jsonl",
        "--server",
        "127.0.0.1:1",
        "--workers",
        "2",
        check=False,
    )
    assert proc.returncode == 2 and "server's settings" in proc.stderr
    proc = mathreward(
        "rescore",
        DATA / "small.jsonl",
        "-o",
        tmp_path / "o.jsonl",
        "--server",
        "127.0.0.1:1",
        "--connect-timeout",
        "1",
        check=False,
    )
    assert proc.returncode == 2 and "no mathreward server answers at 127.0.0.1:1" in proc.stderr


class _Judge:
    """An OpenAI-compatible chat endpoint on loopback that answers every question "equivalent"."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.requests: list[dict[str, Any]] = []
        judge = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append({"path": self.path, "body": body})
                reply = {
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "equivalent"},
                            "finish_reason": "stop",
                        }
                    ]
                }
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_judge_url_turns_on_the_second_opinion_and_the_summary_counts_it(tmp_path: Path) -> None:
    data = tmp_path / "in.jsonl"
    data.write_text(
        json.dumps(
            {
                "id": "q1",
                "problem": "How many eggs are in the box?",
                "answer": "12",
                "responses": ["There are $\\boxed{\\text{twelve}}$ eggs.", "There are $\\boxed{12}$ eggs."],
            }
        )
        + "\n"
    )
    judge = _Judge()
    try:
        proc = mathreward(
            "rescore",
            data,
            "-o",
            tmp_path / "out.jsonl",
            "--judge-url",
            judge.url,
            "--judge-model",
            "tiny-judge",
        )
    finally:
        judge.close()
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    # the rules cannot read a number in words, so the judge is asked and overturns their "no";
    # the right answer is never sent to the judge
    assert row["judge"] == ["equivalent", None]
    assert row["method"][0] == "judge" and row["correct"] == [True, True]
    assert judge.requests and judge.requests[0]["path"] == "/v1/chat/completions"
    assert judge.requests[0]["body"]["model"] == "tiny-judge"
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["judge_calls"] == 1 and summary["judge_overturned"] == 1
    assert "1  (1 decided by the judge)" in proc.stdout


def start_serve() -> tuple[subprocess.Popen[str], str]:
    """A verify-only ``mathreward serve`` on a free port: (process, host:port)."""
    proc = subprocess.Popen(
        [*script(), "serve", "--port", "0", "--workers", "1", "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=cli_env(),
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, "serve did not start"
    return proc, f"127.0.0.1:{json.loads(line)['port']}"


def test_a_server_that_dies_mid_run_is_resumed_on_another(tmp_path: Path) -> None:
    import time

    out = tmp_path / "out.jsonl"
    checkpoint = tmp_path / "out.jsonl.rescore-state" / "checkpoint.json"
    first, target = start_serve()
    try:
        cmd = [
            *script(),
            "rescore",
            str(DATA / "sample.jsonl"),
            "-o",
            str(out),
            "--server",
            target,
            "--chunk-size",
            "2",
        ]
        run = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(), cwd=ROOT
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and run.poll() is None:
            try:
                if json.loads(checkpoint.read_text())["chunks_done"] >= 3:
                    break
            except (FileNotFoundError, json.JSONDecodeError):
                pass
            time.sleep(0.005)
        assert run.poll() is None, "the run ended before the server was killed"
        first.kill()  # the server dies mid-run
        _, err = run.communicate(timeout=120)
    finally:
        first.kill()
        first.wait()
    assert run.returncode == 1, err
    assert "--resume" in err and not out.exists()
    done = json.loads(checkpoint.read_text())["rows_done"]
    assert 0 < done < 50

    second, target = start_serve()
    try:
        resumed = mathreward(
            "rescore", DATA / "sample.jsonl", "-o", out, "--server", target, "--chunk-size", "2", "--resume"
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert f"resuming at row {done}" in resumed.stderr
    local = tmp_path / "local.jsonl"
    mathreward("rescore", DATA / "sample.jsonl", "-o", local)
    got, want = read_jsonl(out), read_jsonl(local)
    assert [r["id"] for r in got] == [r["id"] for r in want]
    for g, w in zip(got, want, strict=True):
        for key in ("correct", "status", "extracted_answer", "answer_group", "pass@4", "maj@4"):
            assert g[key] == w[key], (g["id"], key)
