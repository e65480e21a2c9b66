"""The run state of ``rescore`` in process: an interrupted run, then a resume that must match its input."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from mathreward.backend import LocalBackend
from mathreward.rescore import RescoreError, RescoreOptions, run_rescore
from mathreward.rescore.paths import state_dir_for

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"


class Interrupt(Exception):
    pass


def stop_after(n: int):
    def on_chunk(done: int) -> None:
        if done >= n:
            raise Interrupt

    return on_chunk


def test_resume_refuses_a_changed_input_and_a_fresh_run_discards_the_state(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    shutil.copy(DATA / "sample.jsonl", src)
    out = tmp_path / "out.jsonl"
    opts = RescoreOptions(input=src, output=out, chunk_size=5, progress="none")
    engine = LocalBackend(workers=1)
    with pytest.raises(Interrupt):
        run_rescore(opts, engine, stream=io.StringIO(), on_chunk=stop_after(2))
    state = state_dir_for(out)
    assert json.loads((state / "checkpoint.json").read_text())["rows_done"] == 10
    assert not out.exists()

    with src.open("a") as f:  # the input changes under the interrupted run
        f.write(json.dumps({"id": "new", "problem": "1+1", "answer": "2", "responses": ["2"]}) + "\n")
    resume = RescoreOptions(input=src, output=out, chunk_size=5, progress="none", resume=True)
    with pytest.raises(RescoreError, match="cannot resume: input changed"):
        run_rescore(resume, engine, stream=io.StringIO())

    log = io.StringIO()
    summary = run_rescore(opts, engine, stream=log)  # no --resume: start over
    assert "discarding the unfinished run" in log.getvalue()
    assert summary.problems == 51 and not state.exists()
    assert len(out.read_text().splitlines()) == 51


def test_resume_continues_in_process_with_the_same_rows(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    engine = LocalBackend(workers=1)
    opts = RescoreOptions(input=DATA / "small.jsonl", output=out, chunk_size=2, progress="none")
    with pytest.raises(Interrupt):
        run_rescore(opts, engine, stream=io.StringIO(), on_chunk=stop_after(3))
    log = io.StringIO()
    resumed = RescoreOptions(
        input=DATA / "small.jsonl", output=out, chunk_size=7, progress="none", resume=True
    )
    summary = run_rescore(resumed, engine, stream=log)
    assert "resuming at row 6" in log.getvalue()  # the chunk size of the interrupted run is kept
    assert summary.problems == 6 and summary.rejected == 3
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert ids == ["p1", "p2", "p3", "p4", "p5", "p6"]


def test_workers_are_shared_between_the_chunks_in_flight() -> None:
    assert [e.workers for e in LocalBackend(workers=5).split(2)] == [3, 2]  # type: ignore[attr-defined]
    assert [e.workers for e in LocalBackend(workers=1).split(2)] == [1]  # type: ignore[attr-defined]
    everything = LocalBackend()
    assert everything.split(2) == [everything, everything]  # all cores: the pool is the bound
