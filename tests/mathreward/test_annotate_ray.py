"""``annotate`` and ``pts`` with ``--engine ray``, as a user runs them: real CLI subprocesses that join a
local Ray (conftest's ``ray_address``, 2 CPUs) and ask the scripted policy on a loopback port. They
write the local engine's rows, rejects, export and summary; no request goes to the policy twice, across
actors, after an actor is SIGKILLed mid-chunk, or after the driver is SIGKILLed and the run resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.mathreward.job_helpers import actor_processes, kill_after_chunks, wait_for
from tests.mathreward.test_annotate_cli import PTS_ROWS, ROWS, N, _request_key, write_jsonl
from tests.mathreward.test_rescore_cli import ROOT, cli_env, mathreward, read_jsonl, script
from tests.prm.scripted_policy import ScriptedServer, build_word_tokenizer

pytest.importorskip("ray")
WORKER = "ray::MapWorker(MapBatches(ChunkWorker))"  # the title Ray gives a chunk actor's process
TIMING = ("wall_s", "generate_s", "verify_s", "verifier_share")


def many_rows(copies: int) -> list[dict[str, Any]]:
    """ROWS (good rows and rows rejected for a missing reference or steps), ``copies`` times, each copy's
    questions made distinct, and one copy's first row repeated (the same requests in another chunk)."""
    rows = []
    for k in range(copies):
        for r in ROWS:
            r = {**r, "id": f"{r['id']}{k}"}
            for col in ("question", "problem"):
                if col in r:
                    r[col] = f"{r[col]} v{k}"
            rows.append(r)
    return [*rows, {**rows[0], "id": "again"}]


def long_rows(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "question": f"Q{i} key={i}",
            "answer": str(i),
            "steps": ["a", ["likely", "unlikely", "hmm"][i % 3], "b", f"\\boxed{{{i % 2 + i}}}"],
        }
        for i in range(count)
    ]


def summary(path: Path) -> dict[str, Any]:
    """The summary without what depends on the clock or names the output."""
    s = json.loads(path.read_text())
    for key in TIMING:
        s.pop(key)
    if "export" in s:
        s["export"].pop("path")
    return s


def assert_same_outputs(tmp_path: Path, local: str, on_ray: str) -> None:
    assert (tmp_path / f"{on_ray}.jsonl").read_bytes() == (tmp_path / f"{local}.jsonl").read_bytes()
    for extra in (".rejects.jsonl", ".prm.jsonl"):
        want = tmp_path / f"{local}{extra}"
        got = tmp_path / f"{on_ray}{extra}"
        assert got.exists() == want.exists()
        if want.exists():
            assert got.read_bytes() == want.read_bytes()
    assert summary(tmp_path / f"{on_ray}.summary.json") == summary(tmp_path / f"{local}.summary.json")


def test_annotate_on_ray_writes_the_local_engines_rows_and_asks_nothing_twice(
    ray_address: str, tmp_path: Path
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", many_rows(6), "not json\n")
    common = ["--model", "scripted", "--n", N, "--seed", 3, "--chunk-size", 4, "--export", "prm"]
    with ScriptedServer() as srv:
        mathreward("annotate", data, "-o", tmp_path / "local.jsonl", "--generator", srv.base_url, *common)
        local_asked = srv.log.entries()
        srv.log.requests.clear()
        proc = mathreward(
            "annotate",
            data,
            "-o",
            tmp_path / "ray.jsonl",
            "--generator",
            srv.base_url,
            *common,
            "--engine",
            "ray",
            "--ray-address",
            ray_address,
            "--ray-actors",
            2,
        )
        ray_asked = srv.log.entries()
    assert "8 chunks on Ray, 2 actors (1 CPU each)" in proc.stderr
    assert len(ray_asked) == len(set(ray_asked))  # the repeated row's requests were not sent again
    assert sorted(ray_asked) == sorted(local_asked)
    assert_same_outputs(tmp_path, "local", "ray")
    assert len(read_jsonl(tmp_path / "ray.jsonl")) == 6 * 3 + 1
    assert not (tmp_path / "ray.jsonl.annotate-state").exists()


def test_pts_on_ray_writes_the_local_engines_pairs(ray_address: str, tmp_path: Path) -> None:
    tok_dir = tmp_path / "tokenizer"
    build_word_tokenizer(tok_dir)
    rows = [
        *PTS_ROWS,
        {
            "id": "d",
            "question": "Q key=5",
            "answer": "5",
            "solution": "we start hmm then likely so \\boxed{5}",
        },
    ]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    common = ["--model", "scripted", "--tokenizer", tok_dir, "--n", N, "--chunk-size", 1]
    with ScriptedServer() as srv:
        mathreward("pts", data, "-o", tmp_path / "local.jsonl", "--generator", srv.base_url, *common)
        srv.log.requests.clear()
        mathreward(
            "pts",
            data,
            "-o",
            tmp_path / "ray.jsonl",
            "--generator",
            srv.base_url,
            *common,
            "--engine",
            "ray",
            "--ray-address",
            ray_address,
        )
        asked = srv.log.entries()
    assert len(asked) == len(set(asked))
    assert_same_outputs(tmp_path, "local", "ray")
    assert {r["id"] for r in read_jsonl(tmp_path / "ray.jsonl")} == {"a", "b", "d"}


def _start(args: list[Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*script(), *map(str, args)],
        env=cli_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_an_actor_killed_mid_chunk_is_restarted_and_only_its_unanswered_requests_go_again(
    ray_address: str, tmp_path: Path
) -> None:
    """SIGKILL an actor while its chunk waits on the policy: Ray restarts it and runs the chunk again;
    what the chunk had already been answered comes from the store, so at most the requests that were in
    flight at the kill are asked twice, and the output is the local engine's."""
    data = write_jsonl(tmp_path / "in.jsonl", long_rows(12))
    common = ["--model", "scripted", "--n", N, "--chunk-size", 1, "--progress", "none"]
    with ScriptedServer(delay_s=0.3) as srv:
        mathreward("annotate", data, "-o", tmp_path / "local.jsonl", "--generator", srv.base_url, *common)
        reference = srv.log.entries()
        srv.log.requests.clear()
        out = tmp_path / "ray.jsonl"
        on_ray = ["--engine", "ray", "--ray-address", ray_address, "--ray-actors", 2]
        proc = _start(["annotate", data, "-o", out, "--generator", srv.base_url, *common, *on_ray])
        try:
            wait_for("the policy answering the Ray run", lambda: len(srv.log.requests) >= 4, timeout=120)
            busy = wait_for(
                "an actor running a chunk",
                lambda: [
                    pid for pid, t in actor_processes(WORKER).items() if t.startswith(WORKER + ".submit")
                ],
            )
            before = set(actor_processes(WORKER))
            in_flight = srv.in_flight
            os.kill(busy[0], signal.SIGKILL)
            wait_for("a restarted actor", lambda: set(actor_processes(WORKER)) - before, timeout=120)
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        asked = srv.log.entries()
    assert proc.returncode == 0, err.decode()[-3000:]
    assert set(asked) == set(reference)
    assert len(asked) - len(set(asked)) <= max(in_flight, 6)  # 2 chunks per actor, 3 prefixes each
    assert_same_outputs(tmp_path, "local", "ray")


def test_a_killed_ray_run_resumes_on_ray_and_asks_nothing_it_had(ray_address: str, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", long_rows(24))
    common = ["--model", "scripted", "--n", N, "--chunk-size", 1, "--progress", "none"]
    on_ray = ["--engine", "ray", "--ray-address", ray_address, "--ray-actors", 2]
    out = tmp_path / "ray.jsonl"
    state = tmp_path / "ray.jsonl.annotate-state"
    with ScriptedServer(delay_s=0.2) as srv:
        mathreward("annotate", data, "-o", tmp_path / "local.jsonl", "--generator", srv.base_url, *common)
        reference = len(srv.log.requests)
        srv.log.requests.clear()
        proc = _start(["annotate", data, "-o", out, "--generator", srv.base_url, *common, *on_ray])
        kill_after_chunks(proc, state / "checkpoint.json", 3, timeout=180)
        # Ray ends a dead driver's actors soon after; until then one may still store an answer
        wait_for(
            "the killed run's actors gone",
            lambda: not actor_processes(WORKER) and not actor_processes("ray::RolloutStore"),
            timeout=120,
        )
        assert not out.exists()
        lines = (state / "rollouts.jsonl").read_text().splitlines()
        cached = {json.loads(line)["key"] for line in lines if line.endswith("}")}
        assert 0 < len(cached) <= len(srv.log.requests) < reference
        srv.log.requests.clear()

        proc2 = mathreward(
            "annotate", data, "-o", out, "--generator", srv.base_url, *common, *on_ray, "--resume"
        )
        resumed = srv.log.requests
        assert "resuming at row" in proc2.stderr
        assert not cached & {_request_key(r) for r in resumed}  # nothing cached was asked again
        assert len(resumed) == len({_request_key(r) for r in resumed})
        assert len(cached) + len(resumed) == reference
    assert out.read_bytes() == (tmp_path / "local.jsonl").read_bytes()


def test_a_failed_ray_run_keeps_its_state_and_resumes_on_the_local_engine(
    ray_address: str, tmp_path: Path
) -> None:
    """The policy answers nothing (503, no retries): the Ray run fails with one line and keeps its state;
    once the policy answers, the same command resumes it on the local engine to the local rows."""
    data = write_jsonl(tmp_path / "in.jsonl", ROWS)
    common = ["--model", "scripted", "--n", N, "--retries", 0, "--progress", "none"]
    out = tmp_path / "out.jsonl"
    with ScriptedServer() as srv:
        mathreward("annotate", data, "-o", tmp_path / "local.jsonl", "--generator", srv.base_url, *common)
        srv.fail_left = 10**6
        on_ray = ["--engine", "ray", "--ray-address", ray_address]
        proc = mathreward(
            "annotate", data, "-o", out, "--generator", srv.base_url, *common, *on_ray, check=False
        )
        assert proc.returncode == 1 and "generation failed" in proc.stderr and "--resume" in proc.stderr
        assert "Traceback" not in proc.stderr and "scripted outage" in proc.stderr
        assert (tmp_path / "out.jsonl.annotate-state" / "checkpoint.json").exists() and not out.exists()
        srv.fail_left = 0
        mathreward("annotate", data, "-o", out, "--generator", srv.base_url, *common, "--resume")
    assert out.read_bytes() == (tmp_path / "local.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "ray", "--workers", "2"], "use --ray-actors"),
        (["--ray-actors", "2"], "go with --engine ray"),
        (["--engine", "ray", "--ray-gpus", "-1"], "--ray-gpus must be >= 0"),
        (["--engine", "ray", "--ray-actors", "0"], "--ray-actors must be >= 1"),
        (["--engine", "ray", "--ray-address", "ray://127.0.0.1:1"], "does not run through Ray Client"),
        (["--engine", "ray", "--request-timeout", "0"], "timeout_s must be > 0"),
        (
            ["--engine", "ray", "--server", "127.0.0.1:9", "--connect-timeout", "1"],
            "cannot start the verifier",
        ),
    ],
)
def test_ray_options_that_do_not_fit_get_one_clear_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS[:1])
    proc = mathreward(
        "annotate",
        data,
        "-o",
        tmp_path / "out.jsonl",
        "--model",
        "m",
        "--generator",
        "http://127.0.0.1:9/v1",
        *args,
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_a_policy_pool_the_cluster_cannot_place_is_refused_at_start(ray_address: str, tmp_path: Path) -> None:
    """A transformers policy asks for one GPU per actor by default; the test's Ray has none."""
    data = write_jsonl(tmp_path / "in.jsonl", ROWS[:1])
    proc = mathreward(
        "annotate",
        data,
        "-o",
        tmp_path / "out.jsonl",
        "--generator",
        "transformers",
        "--model",
        tmp_path,
        "--engine",
        "ray",
        "--ray-address",
        ray_address,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "asks for 1 GPU" in proc.stderr and "--ray-gpus 0" in proc.stderr


def test_a_transformers_policy_loaded_in_each_actor_gives_the_local_rollouts(
    ray_address: str, tmp_path: Path, tiny_prm: Path
) -> None:
    """``--generator transformers --ray-gpus 0``: each actor loads the tiny causal LM once, on its CPU,
    and samples the local engine's rollouts (seeded per prompt; one torch thread on both sides, as Ray
    gives an actor with one CPU)."""
    data = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {
                "id": i,
                "question": f"what is {i} and 3",
                "answer": str(i + 3),
                "steps": [f"{i} + 3", "\\boxed{7}"],
            }
            for i in range(4)
        ],
    )
    args = [
        "--generator",
        "transformers",
        "--model",
        tiny_prm,
        "--n",
        2,
        "--max-tokens",
        6,
        "--chunk-size",
        1,
    ]
    one_thread = {**cli_env(), "OMP_NUM_THREADS": "1"}
    mathreward(
        "annotate",
        data,
        "-o",
        tmp_path / "local.jsonl",
        *args,
        "--device",
        "cpu",
        env=one_thread,
        timeout=300,
    )
    proc = mathreward(
        "annotate",
        data,
        "-o",
        tmp_path / "ray.jsonl",
        *args,
        "--engine",
        "ray",
        "--ray-address",
        ray_address,
        "--ray-gpus",
        0,
        timeout=300,
    )
    assert "4 chunks on Ray, 2 actors (1 CPU each)" in proc.stderr
    assert_same_outputs(tmp_path, "local", "ray")
    assert json.loads((tmp_path / "ray.summary.json").read_text())["requests_sent"] == 4


def test_ray_actors_verify_through_a_running_server(
    ray_address: str, tmp_path: Path, start_server: Any
) -> None:
    """``--server``: every actor verifies through the one gRPC service (on a loopback port here) and
    the rows are the local engine's, which verifies in process; the server counts the actors' calls."""
    from tests.mathreward.service_helpers import server_config
    from tests.mathreward.test_server import _metric

    server = start_server(server_config())
    data = write_jsonl(tmp_path / "in.jsonl", many_rows(2))
    common = ["--model", "scripted", "--n", N, "--chunk-size", 3]
    with ScriptedServer() as srv:
        mathreward("annotate", data, "-o", tmp_path / "local.jsonl", "--generator", srv.base_url, *common)
        mathreward(
            "annotate",
            data,
            "-o",
            tmp_path / "ray.jsonl",
            "--generator",
            srv.base_url,
            *common,
            "--engine",
            "ray",
            "--ray-address",
            ray_address,
            "--server",
            server.target,
        )
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert _metric(server.metrics(), "mathreward_requests_total", method="Verify", code="OK") >= 4


class _Broken:
    """A Ray Data UDF that fails the way an actor's own code does (a missing input on its node)."""

    def __call__(self, batch: Any) -> Any:
        raise FileNotFoundError("[Errno 2] No such file or directory: '/shared/in.jsonl'")


def test_an_actors_error_is_read_out_of_what_ray_wraps_it_in(ray_address: str) -> None:
    """The command's one line names the actor's own exception, not Ray's wrapper and its traceback."""
    import ray.data

    from mathreward.rescore.ray_engine import actor_failure

    with pytest.raises(Exception) as exc:
        ray.data.from_items([{"x": 1}]).map_batches(
            _Broken, batch_size=1, compute=ray.data.ActorPoolStrategy(size=1)
        ).take_all()
    assert "Traceback" in str(exc.value) or "\n" in str(exc.value)  # what Ray hands back: many lines
    assert actor_failure(exc.value) == (
        "FileNotFoundError",
        "[Errno 2] No such file or directory: '/shared/in.jsonl'",
    )
    assert actor_failure(ValueError("one line")) == ("ValueError", "one line")


def test_pts_on_ray_checks_its_tokenizer_before_starting_ray(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", PTS_ROWS)
    proc = mathreward(
        "pts",
        data,
        "-o",
        tmp_path / "out.jsonl",
        "--generator",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--tokenizer",
        tmp_path / "missing",
        "--engine",
        "ray",
        check=False,
    )
    assert proc.returncode == 2 and "--tokenizer must be a local folder" in proc.stderr
    assert "Traceback" not in proc.stderr and "chunks on Ray" not in proc.stderr


def test_a_damaged_rollout_cache_stops_a_ray_resume_with_one_line(ray_address: str, tmp_path: Path) -> None:
    """The state of a failed run, its rollout cache damaged in the middle: ``--resume`` on Ray says so
    in one line (as the local engine does), before any actor starts."""
    data = write_jsonl(tmp_path / "in.jsonl", ROWS)
    common = ["--model", "scripted", "--n", N, "--retries", 0, "--progress", "none"]
    out = tmp_path / "out.jsonl"
    with ScriptedServer(fail_first=10**6) as srv:
        failed = mathreward("annotate", data, "-o", out, "--generator", srv.base_url, *common, check=False)
        assert failed.returncode == 1
        cache = tmp_path / "out.jsonl.annotate-state" / "rollouts.jsonl"
        cache.write_text('{"key": "k", "texts": ["a"]}\nnot json\n{"key": "k2", "texts": ["b"]}\n')
        on_ray = ["--engine", "ray", "--ray-address", ray_address]
        proc = mathreward(
            "annotate",
            data,
            "-o",
            out,
            "--generator",
            srv.base_url,
            *common,
            *on_ray,
            "--resume",
            check=False,
        )
    assert proc.returncode == 1 and "malformed cache line" in proc.stderr
    assert "Traceback" not in proc.stderr and "chunks on Ray" not in proc.stderr
