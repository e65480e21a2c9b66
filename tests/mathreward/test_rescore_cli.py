"""``mathreward rescore`` / ``mathreward metrics`` end to end, through the console script in subprocesses.

The fixture datasets and their hand-computed metrics are in fixtures/datasets/ (small_expected.json
holds the arithmetic). The real verifier grades every response.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "fixtures" / "datasets"
EXPECTED = json.loads((DATA / "small_expected.json").read_text())
SCRIPT = Path(sys.executable).parent / "mathreward"
METRIC_KEYS = ("num_correct", "pass_rate", "pass@1", "pass@2", "pass@4", "maj@1", "maj@2", "maj@4")


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    # the checkout's code, whatever the editable install's finder recorded when it was made
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MATHREWARD_TEST", "1")
    return env


def script() -> list[str]:
    """The console script (``python -m mathreward`` where it is not installed)."""
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "mathreward"]


def mathreward(
    *args: Any, check: bool = True, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*script(), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else cli_env(),
        cwd=ROOT,
    )
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def small_inputs() -> dict[str, dict[str, Any]]:
    """The good rows of small.jsonl by id (the file also holds a line that is not JSON)."""
    out = {}
    for line in (DATA / "small.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if str(row["id"]).startswith("p"):
            out[row["id"]] = row
    return out


def read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def check_summary(summary: dict[str, Any], want: dict[str, Any]) -> None:
    for key in ("problems", "responses", "rejected_rows"):
        assert summary[key] == want[key], key
    assert summary["accuracy"] == pytest.approx(want["accuracy"])
    for k in ("1", "2", "4"):
        assert summary["pass@k"][k]["value"] == pytest.approx(want[f"pass@{k}"]), f"pass@{k}"
        assert summary["maj@k"][k]["value"] == pytest.approx(want[f"maj@{k}"]), f"maj@{k}"


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """small.jsonl rescored once, with a report: shared by the tests that only read its results."""
    d = tmp_path_factory.mktemp("plain")
    out = d / "out.jsonl"
    proc = mathreward("rescore", DATA / "small.jsonl", "-o", out, "--report", d / "report", "--chunk-size", 2)
    return {"dir": d, "out": out, "proc": proc, "rows": read_jsonl(out)}


def test_plain_jsonl_keeps_columns_and_adds_verdicts_and_metrics(plain_run: dict[str, Any]) -> None:
    rows = {r["id"]: r for r in plain_run["rows"]}
    inputs = small_inputs()
    assert list(rows) == ["p1", "p2", "p3", "p4", "p5", "p6"]  # input order, rejected rows left out
    for pid, want in EXPECTED["problems"].items():
        row = rows[pid]
        for key, value in inputs[pid].items():  # every input column kept as it was
            assert row[key] == value, (pid, key)
        assert row["correct"] == want["correct"], (pid, want["why"])
        for key in METRIC_KEYS:
            assert row[key] == pytest.approx(want[key]), (pid, key, want["why"])
    p3 = rows["p3"]
    assert p3["status"] == ["incorrect", "correct", "incorrect", "incorrect"]
    assert p3["extracted_answer"][:2] == ["1/3", "0.5"]
    assert p3["answer_group"][0] == p3["answer_group"][2] != p3["answer_group"][1]  # 1/3 ~ \frac{1}{3}
    assert all(isinstance(m, str) for m in p3["method"])
    assert all(isinstance(r, str) for r in p3["verify_reason"])
    # one response (a string) gets scalar columns
    assert rows["p6"]["correct"] is True and rows["p6"]["status"] == "correct"
    assert rows["p6"]["extracted_answer"] == "9"
    assert "layout plain" in plain_run["proc"].stdout + plain_run["proc"].stderr


def test_plain_summary_on_stdout_and_as_json(plain_run: dict[str, Any]) -> None:
    summary = json.loads((plain_run["dir"] / "out.summary.json").read_text())
    check_summary(summary, EXPECTED["summary_jsonl"])
    assert summary["statuses"]["correct"] == 11
    assert summary["judge_calls"] == 0
    assert summary["responses_per_s"] > 0
    table = plain_run["proc"].stdout
    for label in (
        "accuracy",
        "52.4%",
        "pass@4",
        "80.0%",
        "maj@4",
        "60.0%",
        "status correct",
        "judge calls",
        "throughput",
    ):
        assert label in table, label
    # not a terminal: plain progress lines with the rate
    assert "rows/s" in plain_run["proc"].stderr


def test_bad_rows_go_to_the_rejects_file_with_their_reason(plain_run: dict[str, Any]) -> None:
    rejects = read_jsonl(plain_run["dir"] / "out.rejects.jsonl")
    reasons = {r["id"]: r["reason"] for r in rejects}
    assert set(reasons) == {"bad-no-answer", "bad-type", None}
    assert "missing reference" in reasons["bad-no-answer"]
    assert "type int" in reasons["bad-type"]
    assert "not valid JSON" in reasons[None]
    assert [r["row"] for r in rejects] == [2, 5, 7]
    assert rejects[0]["data"]["problem"] == "What is 1 + 1?"  # the row itself, to fix and rerun


def test_report_writes_non_empty_pngs(plain_run: dict[str, Any]) -> None:
    for name in ("pass_rate_hist.png", "accuracy_by_source.png"):
        data = (plain_run["dir"] / "report" / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 2000, name


def test_metrics_recomputes_the_summary_of_a_rescored_file(plain_run: dict[str, Any], tmp_path: Path) -> None:
    proc = mathreward("metrics", plain_run["out"], "--json", "-o", tmp_path / "m.json")
    summary = json.loads(proc.stdout)
    want = dict(EXPECTED["summary_jsonl"], rejected_rows=0)  # rejected rows never reached the output
    check_summary(summary, want)
    assert json.loads((tmp_path / "m.json").read_text()) == summary
    table = mathreward("metrics", plain_run["out"], "--k", "1,3").stdout
    # pass@3 over the 5 problems with n >= 3: p1 1, p2 1 - C(2,3)/C(4,3) = 1, p3 1 - C(3,3)/C(4,3) = 3/4,
    # p4 0, p5 1: 3.75/5; maj@3: p1 yes, p2 (12,13,12) yes, p3 (1/3,1/2,1/3) no, p4 no, p5 (20,18,18) yes
    lines = dict(line.split(None, 1) for line in table.splitlines() if line.startswith(("pass@3", "maj@3")))
    assert lines["pass@3"].startswith("75.0%") and lines["maj@3"].startswith("60.0%"), table


def test_verl_parquet_layout_is_detected_and_types_kept(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "out.parquet"
    proc = mathreward("rescore", DATA / "small_verl.parquet", "-o", out, "--progress", "bar")
    assert "row/s" in proc.stderr and "100%" in proc.stderr  # the tqdm bar (auto picks it on a terminal)
    assert "layout verl" in proc.stderr
    assert "reference=reward_model.ground_truth" in proc.stderr
    in_schema = pq.read_schema(DATA / "small_verl.parquet")
    out_schema = pq.read_schema(out)
    for f in in_schema:
        assert out_schema.field(f.name).type == f.type, f.name
    assert str(out_schema.field("correct").type) == "list<element: bool>"
    rows = read_parquet(out)
    assert [r["extra_info"]["index"] for r in rows] == [0, 1, 2, 3, 4]  # bad rows (index 100, 101) rejected
    for row, (pid, want) in zip(rows, list(EXPECTED["problems"].items())[:5], strict=True):
        assert row["correct"] == want["correct"], pid
        for key in METRIC_KEYS:
            assert row[key] == pytest.approx(want[key]), (pid, key)
    check_summary(json.loads((tmp_path / "out.summary.json").read_text()), EXPECTED["summary_verl"])
    again = json.loads(mathreward("metrics", out, "--json").stdout)
    check_summary(again, dict(EXPECTED["summary_verl"], rejected_rows=0))
    assert set(again["accuracy_by_source"]) == {"openai/gsm8k", "DigitalLearningGmbH/MATH-lighteval"}
    rejects = read_jsonl(tmp_path / "out.rejects.jsonl")
    assert [r["id"] for r in rejects] == [100, 101]
    assert "ground_truth is null" in rejects[0]["reason"] and "empty list" in rejects[1]["reason"]


FILTERS = {
    "keep_correct": ["--keep-correct"],
    "pass_rate_0.3_0.8": ["--min-pass-rate", "0.3", "--max-pass-rate", "0.8"],
    "majority_filter": ["--majority-filter"],
    "balanced_pairs": ["--balanced-pairs"],
}


@pytest.mark.parametrize("name", list(FILTERS))
def test_filters(name: str, tmp_path: Path) -> None:
    want = EXPECTED["filters_jsonl"][name]
    out = tmp_path / "out.jsonl"
    mathreward("rescore", DATA / "small.jsonl", "-o", out, *FILTERS[name])
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == want["ids"], want["why"]
    n_responses = sum(len(r["correct"]) if isinstance(r["correct"], list) else 1 for r in rows)
    if "responses" in want:
        assert n_responses == want["responses"], want["why"]
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    check_summary(summary, EXPECTED["summary_jsonl"])  # the summary covers every graded row
    assert summary["output"]["rows"] == len(rows) and summary["output"]["responses"] == n_responses
    for row in rows:
        if isinstance(row["correct"], list):  # responses and their columns are filtered together
            lengths = {len(row[c]) for c in ("responses", "correct", "status", "answer_group")}
            assert len(lengths) == 1, row["id"]
        if name == "keep_correct":
            assert all(row["correct"]) if isinstance(row["correct"], list) else row["correct"]
        if name == "balanced_pairs":
            assert sum(row["correct"]) * 2 == len(row["correct"])
    if name == "balanced_pairs":
        small = small_inputs()
        for row in rows:
            kept = want["kept"][row["id"]]
            assert row["responses"] == [small[row["id"]]["responses"][i] for i in kept]


def test_resume_after_sigkill_loses_no_row_and_writes_none_twice(tmp_path: Path) -> None:
    """Kill a run with SIGKILL at a random chunk, resume it, and compare with an uninterrupted run."""
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    ref = tmp_path / "ref.jsonl"
    mathreward("rescore", DATA / "sample.jsonl", "-o", ref)  # the README's main command

    out = tmp_path / "out.jsonl"
    state = tmp_path / "out.jsonl.rescore-state" / "checkpoint.json"
    args = ["rescore", DATA / "sample.jsonl", "-o", out, "--chunk-size", 2]  # 25 chunks
    kill_after = rng.randint(1, 12)  # at least 13 chunks still to go, so the kill lands mid-run
    proc = subprocess.Popen(
        [*script(), *map(str, args)],
        env=cli_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            try:
                done = json.loads(state.read_text())["chunks_done"]
            except (FileNotFoundError, json.JSONDecodeError, KeyError):
                done = 0
            if done >= kill_after:
                break
            assert proc.poll() is None, f"the run ended before the kill (seed {seed})"
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.05))  # somewhere inside the next chunk
        assert proc.poll() is None, f"the run ended before the kill (seed {seed})"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    if out.exists():
        # the kill landed after the output was moved into place (a very fast machine): then the
        # output must be whole, never a half-written file
        assert read_jsonl(out) == read_jsonl(ref), f"seed {seed}"
        return
    cp = json.loads(state.read_text())
    assert 0 < cp["rows_done"] < 50, (seed, cp)

    resumed = mathreward(*args, "--resume")
    assert f"resuming at row {cp['rows_done']}" in resumed.stderr
    got, want = read_jsonl(out), read_jsonl(ref)
    assert [r["id"] for r in got] == [r["id"] for r in want], f"seed {seed}"
    assert got == want, f"seed {seed}"
    a = json.loads((tmp_path / "out.summary.json").read_text())
    b = json.loads((tmp_path / "ref.summary.json").read_text())
    for key in ("problems", "responses", "accuracy", "pass@k", "maj@k", "statuses", "methods"):
        assert a[key] == b[key], key
    assert not state.parent.exists(), "the state folder is removed when the output is written"


def test_hf_datasets_folder_round_trip(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    src = tmp_path / "in_hf"
    ds = datasets.Dataset.from_list(read_parquet(DATA / "small_verl.parquet"))
    ds.save_to_disk(str(src))
    out = tmp_path / "out_hf"
    mathreward("rescore", src, "-o", out)
    back = datasets.load_from_disk(str(out))
    rows = back.to_list()
    assert [r["extra_info"]["index"] for r in rows] == [0, 1, 2, 3, 4]
    for row, (pid, want) in zip(rows, list(EXPECTED["problems"].items())[:5], strict=True):
        assert row["correct"] == want["correct"], pid
        assert row["pass@2"] == pytest.approx(want["pass@2"]), pid
    assert back.features["reward_model"] == ds.features["reward_model"]
    check_summary(json.loads((tmp_path / "out_hf.summary.json").read_text()), EXPECTED["summary_verl"])


def test_clear_errors_for_unusable_input(tmp_path: Path) -> None:
    proc = mathreward("rescore", tmp_path / "missing.jsonl", "-o", tmp_path / "o.jsonl", check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"q": "1+1", "gold": "2", "outs": ["2"]}) + "\n")
    proc = mathreward("rescore", odd, "-o", tmp_path / "o.jsonl", check=False)
    assert proc.returncode == 2 and "cannot tell the layout" in proc.stderr and "--ref-col" in proc.stderr
    mathreward(
        "rescore",
        odd,
        "-o",
        tmp_path / "o.jsonl",
        "--ref-col",
        "gold",
        "--responses-col",
        "outs",
        "--question-col",
        "q",
    )
    assert json.loads((tmp_path / "o.summary.json").read_text())["accuracy"] == 1.0
    proc = mathreward(
        "rescore", odd, "-o", tmp_path / "o2.jsonl", "--keep-correct", "--balanced-pairs", check=False
    )
    assert proc.returncode == 2 and "not allowed with" in proc.stderr
