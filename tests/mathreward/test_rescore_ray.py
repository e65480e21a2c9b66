"""``rescore --engine ray``: CPU actors on Ray Data write the same rows, rejects and summary as the local
engine; a run interrupted on Ray resumes without a lost or repeated row; an actor killed mid-run is
restarted by Ray, its chunk graded again, and the output is still the local engine's. A local Ray with
2 CPUs is started once for the module (conftest's ``ray_address``); the CLI joins it with
``--ray-address``. (Two nodes:
test_rescore_ray_cluster.py.)"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.rescore import load_generator
from mathreward.backend import LocalBackend
from mathreward.rescore import RescoreOptions, run_rescore
from mathreward.rescore.ray_engine import RayEngine
from tests.mathreward.job_helpers import actor_processes, kill_after_chunks, wait_for
from tests.mathreward.test_rescore_cli import DATA, cli_env, mathreward, read_parquet, script

ray = pytest.importorskip("ray")
TIMING = ("elapsed_s", "throughput", "responses_per_s", "rows_per_s")
GRADER = "ray::MapWorker(MapBatches(ChunkGrader))"  # the title Ray gives a grading actor's process


def summary_without_timing(path: Path) -> dict[str, Any]:
    summary = json.loads(path.read_text())
    for key in TIMING:
        summary.pop(key, None)
    summary.pop("output", None)  # names the output path
    summary.pop("rejects_path", None)
    return summary


class Interrupt(Exception):
    pass


def test_an_interrupted_ray_run_resumes_to_the_rows_of_the_local_engine(
    ray_address: str, tmp_path: Path
) -> None:
    from verifier import VerifyConfig

    src = tmp_path / "small.jsonl"
    shutil.copy(DATA / "small.jsonl", src)  # rows, a bad JSON line and rows with no reference
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    run_rescore(
        RescoreOptions(input=src, output=local, chunk_size=3, progress="none"),
        LocalBackend(workers=1),
        stream=io.StringIO(),
    )

    engine = RayEngine(VerifyConfig(), actors=2)
    opts = RescoreOptions(input=src, output=on_ray, chunk_size=3, progress="none")

    def stop_after_two(done: int) -> None:
        if done >= 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_rescore(opts, engine, stream=io.StringIO(), on_chunk=stop_after_two)
    assert not on_ray.exists()
    log = io.StringIO()
    run_rescore(
        RescoreOptions(input=src, output=on_ray, chunk_size=3, progress="none", resume=True),
        engine,
        stream=log,
    )
    assert "resuming at row 6" in log.getvalue() and "CPU actors" in log.getvalue()

    assert on_ray.read_bytes() == local.read_bytes()
    assert (tmp_path / "ray.rejects.jsonl").read_bytes() == (tmp_path / "local.rejects.jsonl").read_bytes()
    assert summary_without_timing(tmp_path / "ray.summary.json") == summary_without_timing(
        tmp_path / "local.summary.json"
    )


def test_the_cli_on_a_running_cluster_writes_the_parquet_of_the_local_engine(
    ray_address: str, tmp_path: Path
) -> None:
    src = DATA / "small_verl.parquet"
    mathreward("rescore", src, "-o", tmp_path / "local.parquet", "--workers", "1", "--chunk-size", "2")
    proc = mathreward(
        "rescore",
        src,
        "-o",
        tmp_path / "ray.parquet",
        "--engine",
        "ray",
        "--ray-address",
        ray_address,
        "--chunk-size",
        "2",
    )
    assert "CPU actors" in proc.stderr
    assert read_parquet(tmp_path / "ray.parquet") == read_parquet(tmp_path / "local.parquet")
    assert summary_without_timing(tmp_path / "ray.summary.json") == summary_without_timing(
        tmp_path / "local.summary.json"
    )
    bad = mathreward(
        "rescore", src, "-o", tmp_path / "x.parquet", "--engine", "ray", "--workers", "2", check=False
    )
    assert bad.returncode == 2 and "--ray-actors" in bad.stderr
    client = mathreward(
        "rescore",
        src,
        "-o",
        tmp_path / "c.parquet",
        "--engine",
        "ray",
        "--ray-address",
        "ray://127.0.0.1:1",
        check=False,
    )  # Ray Data cannot run through Ray Client: refused with one line, never a traceback
    assert client.returncode == 2 and "ray job submit" in client.stderr and "Traceback" not in client.stderr


def graders() -> dict[int, str]:
    return actor_processes(GRADER)


def test_an_actor_killed_mid_run_is_restarted_and_the_output_is_the_local_engines(
    ray_address: str, tmp_path: Path
) -> None:
    from verifier import VerifyConfig

    src = tmp_path / "gen.jsonl"
    load_generator().write_generated(src, 600, seed=11, bad_every=97)  # 606 lines, 6 rejected
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    run_rescore(
        RescoreOptions(input=src, output=local, chunk_size=25, progress="none"),
        LocalBackend(workers=1),
        stream=io.StringIO(),
    )
    killed: list[int] = []
    restarted: list[int] = []

    def kill_a_busy_actor(done: int) -> None:
        """After the first chunk is written (24 to go), SIGKILL an actor while it grades a chunk, then
        wait for Ray to start a new grading actor process (that chunk cannot finish without one)."""
        if killed:
            return
        busy = wait_for(
            "an actor grading a chunk",
            lambda: [pid for pid, title in graders().items() if title.startswith(GRADER + ".submit")],
        )
        before = set(graders())
        os.kill(busy[0], signal.SIGKILL)
        killed.append(busy[0])
        restarted.extend(wait_for("a restarted actor", lambda: set(graders()) - before))

    log = io.StringIO()
    run_rescore(
        RescoreOptions(input=src, output=on_ray, chunk_size=25, progress="none"),
        RayEngine(VerifyConfig(), actors=2),
        stream=log,
        on_chunk=kill_a_busy_actor,
    )
    assert killed and restarted and "25 chunks on Ray, 2 CPU actors" in log.getvalue()
    assert on_ray.read_bytes() == local.read_bytes()  # every row once, in order
    assert len(on_ray.read_text().splitlines()) == 600
    assert (tmp_path / "ray.rejects.jsonl").read_bytes() == (tmp_path / "local.rejects.jsonl").read_bytes()
    assert summary_without_timing(tmp_path / "ray.summary.json") == summary_without_timing(
        tmp_path / "local.summary.json"
    )


def test_without_an_address_the_engine_joins_the_cluster_named_by_RAY_ADDRESS(ray_address: str) -> None:
    """``ray job submit`` names the cluster in RAY_ADDRESS for its entrypoint: the engine joins it
    (and leaves it running) rather than starting a Ray of its own."""
    code = (
        "import ray\n"
        "from mathreward.rescore.ray_engine import connect\n"
        "connect(None)\n"
        "print(ray.get_runtime_context().gcs_address)\n"
        "ray.shutdown()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**cli_env(), "RAY_ADDRESS": ray_address},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split()[-1] == ray_address
    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2  # the cluster is still up


@pytest.mark.parametrize("layout", ["sample.jsonl", "small_verl as a datasets folder"])
def test_the_fixture_datasets_give_the_rows_of_the_local_engine(
    ray_address: str, tmp_path: Path, layout: str
) -> None:
    from verifier import VerifyConfig

    if layout == "sample.jsonl":
        src, suffix = DATA / "sample.jsonl", ".jsonl"
    else:
        datasets = pytest.importorskip("datasets")
        src, suffix = tmp_path / "in_hf", ""
        datasets.Dataset.from_list(read_parquet(DATA / "small_verl.parquet")).save_to_disk(str(src))
    local, on_ray = tmp_path / f"local{suffix}", tmp_path / f"ray{suffix}"
    opts = RescoreOptions(input=src, output=local, chunk_size=8, progress="none")
    run_rescore(opts, LocalBackend(workers=1), stream=io.StringIO())
    log = io.StringIO()
    opts = RescoreOptions(input=src, output=on_ray, chunk_size=8, progress="none")
    run_rescore(opts, RayEngine(VerifyConfig(), actors=2), stream=log)
    assert "CPU actors" in log.getvalue()

    if suffix:
        assert on_ray.read_bytes() == local.read_bytes()
    else:
        import datasets

        assert datasets.load_from_disk(str(on_ray)).to_list() == datasets.load_from_disk(str(local)).to_list()
    assert summary_without_timing(tmp_path / "ray.summary.json") == summary_without_timing(
        tmp_path / "local.summary.json"
    )


def test_the_prm_in_ray_actors_gives_the_step_scores_and_summary_of_the_local_engine(
    ray_address: str, tiny_prm: Path, tmp_path: Path
) -> None:
    """``--prm PATH`` on Ray: each actor loads the tiny PRM once (``--ray-prm-gpus 0``: this machine has
    no GPU) and scores its chunks' steps; the output, rejects and summary are the local engine's, byte
    for byte, with a non-default aggregate and step split that must travel to the actors. A CPU actor
    runs torch on its one CPU (Ray sets OMP_NUM_THREADS=1), and float32 sums on the CPU depend on the
    thread count in their last bits, so the local engine runs with one torch thread too."""
    src = DATA / "small.jsonl"  # rows, a bad JSON line and rows with no reference
    prm_args = ("--prm", tiny_prm, "--prm-aggregate", "mean", "--step-mode", "lines", "--chunk-size", "2")
    one_thread = {**cli_env(), "OMP_NUM_THREADS": "1"}
    mathreward("rescore", src, "-o", tmp_path / "local.jsonl", "--workers", "1", *prm_args, env=one_thread)
    proc = mathreward(
        "rescore",
        src,
        "-o",
        tmp_path / "ray.jsonl",
        "--engine",
        "ray",
        "--ray-address",
        ray_address,
        "--ray-actors",
        "2",
        "--ray-prm-gpus",
        "0",
        *prm_args,
    )
    assert "2 CPU actors, each with the PRM on its CPU" in proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "ray.jsonl").read_text().splitlines()]
    scores = [
        s for r in rows for s in (r["prm_score"] if isinstance(r["prm_score"], list) else [r["prm_score"]])
    ]
    assert rows and all("step_scores" in r for r in rows) and all(isinstance(s, float) for s in scores)
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "ray.rejects.jsonl").read_bytes() == (tmp_path / "local.rejects.jsonl").read_bytes()
    summary = summary_without_timing(tmp_path / "ray.summary.json")
    assert summary["prm"]["problems"] == len(rows)
    assert summary == summary_without_timing(tmp_path / "local.summary.json")


def test_a_killed_ray_run_with_a_prm_resumes_to_the_local_engines_rows(
    ray_address: str, tiny_prm: Path, tmp_path: Path
) -> None:
    """``rescore --engine ray --prm PATH`` SIGKILLed after 3 chunks, then ``--resume``d on Ray: the parts
    written stay, the rest is graded and scored by new actors, and the output is the local engine's."""
    src = tmp_path / "gen.jsonl"
    load_generator().write_generated(src, 120, seed=3, bad_every=37)
    prm_args = ["--prm", tiny_prm, "--chunk-size", "5", "--progress", "none"]
    one_thread = {**cli_env(), "OMP_NUM_THREADS": "1"}
    mathreward("rescore", src, "-o", tmp_path / "local.jsonl", "--workers", "1", *prm_args, env=one_thread)
    out = tmp_path / "ray.jsonl"
    on_ray = ["--engine", "ray", "--ray-address", ray_address, "--ray-actors", "2", "--ray-prm-gpus", "0"]
    args = ["rescore", src, "-o", out, *prm_args, *on_ray]
    proc = subprocess.Popen([*script(), *map(str, args)], env=cli_env(), stderr=subprocess.DEVNULL)
    kill_after_chunks(proc, tmp_path / "ray.jsonl.rescore-state" / "checkpoint.json", 3, timeout=240)
    assert not out.exists()
    resumed = mathreward(*args, "--resume", timeout=300)
    assert "resuming at row" in resumed.stderr
    assert out.read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "ray.rejects.jsonl").read_bytes() == (tmp_path / "local.rejects.jsonl").read_bytes()


def test_a_prm_pool_that_cannot_be_placed_or_loaded_is_a_start_up_error(
    ray_address: str, tiny_prm: Path, tmp_path: Path
) -> None:
    src, out = DATA / "small.jsonl", tmp_path / "out.jsonl"
    ray_args = ("--engine", "ray", "--ray-address", ray_address)
    # one GPU per actor (the default) on a cluster with none: refused, not a pool waiting forever
    no_gpu = mathreward("rescore", src, "-o", out, *ray_args, "--prm", tiny_prm, check=False)
    assert no_gpu.returncode == 2 and "--ray-prm-gpus 0" in no_gpu.stderr, no_gpu.stderr
    missing = mathreward("rescore", src, "-o", out, *ray_args, "--prm", tmp_path / "nope", check=False)
    assert missing.returncode == 2 and "no such model folder" in missing.stderr
    local = mathreward("rescore", src, "-o", out, "--prm", tiny_prm, "--ray-prm-gpus", "0", check=False)
    assert local.returncode == 2 and "--ray-prm-gpus goes with --engine ray" in local.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("actors", "gpus", "resources", "want"),
    [
        (None, 1.0, {"CPU": 16, "GPU": 4}, 4),  # one per GPU, not one per CPU
        (None, 0.5, {"CPU": 16, "GPU": 4}, 8),  # two actors on each GPU
        (None, 0.0, {"CPU": 16}, 16),  # the PRM on the actors' CPUs: one per CPU
        (2, 1.0, {"CPU": 16, "GPU": 4}, 2),
        (None, 1.0, {"CPU": 2, "GPU": 4}, 2),  # no more than the CPUs
        (8, 1.0, {"CPU": 16, "GPU": 4}, "need 8 GPUs"),
        (None, 1.0, {"CPU": 16}, "--ray-prm-gpus 0"),
    ],
)
def test_the_prm_pool_size_fits_the_clusters_gpus(
    actors: int | None, gpus: float, resources: dict[str, float], want: int | str
) -> None:
    from mathreward.rescore.errors import RescoreError
    from verifier import VerifyConfig

    engine = RayEngine(VerifyConfig(), actors=actors, prm_model="/models/prm", prm_gpus=gpus)
    if isinstance(want, int):
        assert engine.pool_size(resources, chunks=100) == want
    else:
        with pytest.raises(RescoreError, match=want):
            engine.pool_size(resources, chunks=100)
