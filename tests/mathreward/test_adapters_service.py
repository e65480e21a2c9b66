"""The adapters through a real ``mathreward`` gRPC server on a loopback port, and the HTTP routes of a real
``mathreward serve --http-port`` subprocess.

verl's function is loaded by verl's own ``get_custom_reward_fn`` from the config composed with the
lines ``mathreward adapters --server`` prints, OpenRLHF's file by its own ``SingleTurnAgentExecutor``
(the trainer tests, test_adapters_verl.py and test_adapters_openrlhf.py, run the whole reward
paths). Each test checks on the server's own metrics that the work went through it, so a silent
fall-back to in-process grading would fail it.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
from argparse import Namespace
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import mathreward.adapters._backend as backend
import mathreward.adapters.openrlhf as openrlhf_adapter
import mathreward.adapters.slime as slime_adapter
import mathreward.adapters.trl as trl_adapter
import mathreward.adapters.verl as verl_adapter
from tests.mathreward.adapter_helpers import expected_reward, load_cases, printed_lines
from tests.mathreward.service_helpers import server_config

CASES = load_cases()
GOOD = [c for c in CASES if c["expect"] != "error"]  # a verl or slime call grades one sample
ROOT = Path(__file__).resolve().parents[2]
VERIFY = "Verify"  # the method label of the gRPC metrics
SCORE_STEPS = "ScoreSteps"


def verify_calls(server: Any, method: str = VERIFY) -> float:
    value = server.state.metrics.registry.get_sample_value(
        "mathreward_requests_total", {"method": method, "code": "OK"}
    )
    return float(value or 0.0)


@pytest.fixture(scope="module")
def verify_server() -> Iterator[Any]:
    from tests.mathreward.service_helpers import ServerThread

    thread = ServerThread(server_config()).start()
    yield thread
    thread.stop()


@pytest.fixture(autouse=True)
def _no_env_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATHREWARD_SERVER", raising=False)
    monkeypatch.delenv("MATHREWARD_PRM_MODEL", raising=False)


def test_verl_through_the_server_from_the_printed_lines(verify_server: Any) -> None:
    """``+reward.custom_reward_function.reward_kwargs.server=host:port``: merged into every call by verl."""
    pytest.importorskip("verl")
    import verl
    from hydra import compose, initialize_config_dir
    from verl.trainer.ppo.reward import get_custom_reward_fn

    config_dir = Path(verl.__file__).parent / "trainer" / "config"
    lines = printed_lines("--trainer", "verl", "--server", verify_server.target)
    assert lines[-1] == f"+reward.custom_reward_function.reward_kwargs.server={verify_server.target}"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        config = compose(config_name="ppo_trainer", overrides=lines)
    compute_score = get_custom_reward_fn(config)
    assert compute_score is not None
    before = verify_calls(verify_server)
    results = [
        compute_score(
            data_source="math", solution_str=c["response"], ground_truth=c["reference"], extra_info=None
        )
        for c in GOOD
    ]
    assert [r["score"] for r in results] == [expected_reward(c) for c in GOOD]
    assert verify_calls(verify_server) - before == len(GOOD)  # one RPC per call


def test_verl_async_and_trl_async_through_the_server_from_the_environment(
    verify_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MATHREWARD_SERVER", verify_server.target)
    before = verify_calls(verify_server)

    async def run() -> tuple[list[dict[str, Any]], list[float | None]]:
        verl = await asyncio.gather(
            *(
                verl_adapter.compute_score_async(
                    "math", c["response"], c["reference"], {"question": c["prompt"]}
                )
                for c in GOOD
            )
        )
        trl = await trl_adapter.accuracy_reward_async(
            prompts=[c["prompt"] for c in CASES],
            completions=[[{"role": "assistant", "content": c["response"]}] for c in CASES],
            completion_ids=[[0] for _ in CASES],
            solution=[c["reference"] for c in CASES],
        )
        return list(verl), trl

    verl, trl = asyncio.run(run())
    assert [r["score"] for r in verl] == [expected_reward(c) for c in GOOD]
    assert trl == [None if c["expect"] == "error" else expected_reward(c) for c in CASES]
    assert verify_calls(verify_server) - before == len(GOOD) + 1
    # a second event loop gets its own grpc.aio channel (the first loop's is closed with it)
    again = asyncio.run(verl_adapter.compute_score_async("math", "\\boxed{7}", "7"))
    assert again["score"] == 1.0


def test_openrlhf_file_and_slime_rm_through_the_server(
    verify_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both call with no keywords: the server comes from MATHREWARD_SERVER."""
    pytest.importorskip("openrlhf")
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    monkeypatch.setenv("MATHREWARD_SERVER", verify_server.target)
    reward_func = SingleTurnAgentExecutor(openrlhf_adapter.__file__).reward_func  # OpenRLHF's own loader
    before = verify_calls(verify_server)
    prompts = [c["prompt"] for c in CASES]
    out = reward_func(
        [p + " " + c["response"] for p, c in zip(prompts, CASES, strict=True)],
        prompts,
        [c["reference"] for c in CASES],
    )
    assert out["rewards"].tolist() == [expected_reward(c) for c in CASES]
    sample = Namespace(prompt="6*7?", response="It is \\boxed{42}.", label="42")
    reward = asyncio.run(slime_adapter.reward_func(Namespace(), sample))
    assert reward["score"] == 1.0 and reward["status"] == "correct"
    assert verify_calls(verify_server) - before == 2


def test_an_item_the_server_refuses_is_that_items_error(verify_server: Any) -> None:
    out = openrlhf_adapter.score_queries(
        ["Q \\boxed{1}", "Q \\boxed{2}", "Q \\boxed{3}"],
        ["Q"] * 3,
        ["1", "", "3"],
        server=verify_server.target,
    )
    assert [i["status"] for i in out["items"]] == ["correct", "error", "correct"]


def test_an_unreachable_server_raises_a_clear_error() -> None:
    with pytest.raises(backend.RewardBackendError, match=r"127\.0\.0\.1:9"):
        verl_adapter.compute_score("math", "\\boxed{1}", "1", server="127.0.0.1:9")


def _child_grades(target: str, conn: Any) -> None:
    try:
        out = verl_adapter.compute_score("math", "\\boxed{\\frac{1}{2}}", "0.5", server=target)
        conn.send((out, backend.process_clients_pid(), os.getpid()))
    finally:
        conn.close()


def test_a_forked_child_builds_its_own_channel(verify_server: Any) -> None:
    target = verify_server.target
    assert verl_adapter.compute_score("math", "\\boxed{2}", "2", server=target)["score"] == 1.0
    assert backend.process_clients_pid() == os.getpid()  # the parent's client exists now
    before = verify_calls(verify_server)
    ctx = multiprocessing.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    child = ctx.Process(target=_child_grades, args=(target, child_end))
    child.start()
    assert parent_end.poll(60), "the forked child did not answer"
    out, state_pid, child_pid = parent_end.recv()
    child.join(10)
    assert out["score"] == 1.0
    assert state_pid == child_pid != os.getpid()  # the child dropped the parent's client and made its own
    assert verify_calls(verify_server) - before == 1
    # and the parent's channel still works after the fork
    assert verl_adapter.compute_score("math", "\\boxed{3}", "2", server=target)["score"] == -1.0


def _spawned_child(fn: Any) -> list[float | None]:
    return list(fn(completions=["\\boxed{5}", "\\boxed{6}"], solution=["5", "5"]))


def test_a_pickled_configured_reward_runs_in_a_spawned_child(verify_server: Any) -> None:
    before = verify_calls(verify_server)
    reward = trl_adapter.AccuracyReward(correct=1.0, incorrect=-1.0, server=verify_server.target)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(_spawned_child, (reward,)) == [1.0, -1.0]
    assert verify_calls(verify_server) - before == 1


# ----------------------------------------------------------------------------- step rewards (PRM)


def test_step_reward_through_the_server_equals_the_local_prm(prm_server: Any, tiny_prm: Path) -> None:
    completions = [
        "Step 1: 2 + 3 = 5.\n\nStep 2: 5 * 4 = 20.\n\nThe answer is \\boxed{20}.",
        [{"role": "assistant", "content": "First, 7 - 2 = 5.\n\nSo \\boxed{5}."}],
        "",  # no steps: None, the other completions are scored
    ]
    prompts = ["What is (2 + 3) * 4?", [{"role": "user", "content": "What is 7 - 2?"}], "Empty?"]
    before = verify_calls(prm_server, SCORE_STEPS)
    remote = trl_adapter.StepReward(server=prm_server.target)(prompts=prompts, completions=completions)
    assert verify_calls(prm_server, SCORE_STEPS) - before == 1
    local = trl_adapter.StepReward(prm_model=str(tiny_prm))(prompts=prompts, completions=completions)
    assert remote[2] is None and local[2] is None
    assert all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in remote[:2])
    assert remote[:2] == pytest.approx(local[:2], abs=1e-4)
    mean = trl_adapter.StepReward(server=prm_server.target, aggregate="mean")
    [mean_reward] = mean(prompts=prompts[:1], completions=completions[:1])
    assert mean_reward is not None and remote[0] is not None and mean_reward >= remote[0]  # mean >= min
    via_async = asyncio.run(
        trl_adapter.AsyncStepReward(server=prm_server.target)(prompts=prompts, completions=completions)
    )
    assert via_async == remote


def test_step_reward_module_function_reads_the_environment(
    tiny_prm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functools import partial

    configured = partial(trl_adapter.step_reward, prm_model=str(tiny_prm), aggregate="last")
    [last] = configured(prompts=["What is 1 + 1?"], completions=["1 + 1 = 2.\n\nSo \\boxed{2}."])
    assert last is not None and 0.0 <= last <= 1.0
    monkeypatch.setenv("MATHREWARD_PRM_MODEL", str(tiny_prm))
    rewards = trl_adapter.step_reward(
        prompts=["What is 1 + 1?"],
        completions=["1 + 1 = 2.\n\nSo \\boxed{2}."],
        completion_ids=[[0]],
        solution=["2"],
    )
    assert len(rewards) == 1 and rewards[0] is not None and 0.0 <= rewards[0] <= 1.0


# ----------------------------------------------------------------------------- mathreward serve --http-port


@pytest.fixture(scope="module")
def served_http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A real ``mathreward serve --port 0 --http-port 0`` subprocess; its JSON line gives the ports."""
    token_file = tmp_path_factory.mktemp("tok") / "token"
    token_file.write_text("adapters-token\n")
    cmd = [
        sys.executable,
        "-m",
        "mathreward",
        "serve",
        "--port",
        "0",
        "--http-port",
        "0",
        "--metrics-port",
        "0",
        "--workers",
        "2",
        "--token-file",
        str(token_file),
        "--grace",
        "5",
    ]
    env = {k: v for k, v in os.environ.items() if k != "MATHREWARD_TOKEN"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, f"mathreward serve exited: {proc.stderr.read() if proc.stderr else ''}"
        info = json.loads(line)
        assert info["http_port"], info
        yield {**info, "token": "adapters-token", "proc": proc}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_http_port_answers_openrlhf_and_slime(served_http: dict[str, Any]) -> None:
    base = f"http://127.0.0.1:{served_http['http_port']}"
    auth = {"Authorization": f"Bearer {served_http['token']}"}
    payload = {
        "query": [c["prompt"] + "\n" + c["response"] for c in CASES],
        "prompts": [c["prompt"] for c in CASES],
        "labels": [c["reference"] for c in CASES],
    }
    with httpx.Client(base_url=base, timeout=60) as http:
        assert http.post("/get_reward", json=payload).status_code == 401
        answer = http.post("/get_reward", json=payload, headers=auth)
        assert answer.status_code == 200
        assert answer.json()["rewards"] == [expected_reward(c) for c in CASES]
        slime = http.post(
            "/slime/reward", json={"prompt": "Q", "response": "\\boxed{9}", "label": "9"}, headers=auth
        )
        assert slime.json()["score"] == 1.0
        assert http.post("/slime/reward", content=b"not json", headers=auth).status_code == 400
        metrics = httpx.get(f"http://127.0.0.1:{served_http['metrics_port']}/metrics", timeout=10).text
    assert 'mathreward_requests_total{code="OK",method="/get_reward"} 1.0' in metrics
    assert 'mathreward_requests_total{code="INVALID_ARGUMENT",method="/slime/reward"} 1.0' in metrics
    # the same process also answers gRPC with the same token
    from mathreward import Client

    with Client(f"127.0.0.1:{served_http['port']}", token=served_http["token"]) as client:
        assert client.verify("\\boxed{4}", "4").correct


def test_the_token_comes_from_the_environment(start_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_server(server_config(token="adapter-secret"))
    monkeypatch.delenv("MATHREWARD_TOKEN", raising=False)
    with pytest.raises(backend.RewardBackendError, match="UNAUTHENTICATED"):
        verl_adapter.compute_score("math", "\\boxed{1}", "1", server=server.target)
    monkeypatch.setenv("MATHREWARD_TOKEN", "adapter-secret")
    assert verl_adapter.compute_score("math", "\\boxed{1}", "1", server=server.target)["score"] == 1.0
    reward = asyncio.run(
        slime_adapter.reward_func(
            Namespace(), Namespace(prompt="", response="\\boxed{2}", label="2"), server=server.target
        )
    )
    assert reward["score"] == 1.0


def test_a_bare_fork_never_destroys_the_parents_clients_in_the_child(verify_server: Any) -> None:
    """A trainer that forks (a DataLoader worker, a multiprocessing pool) after the adapters made
    channels: destroying the parent's gRPC channels inside the child joins threads that do not exist
    there (seen: a child hung at 100% CPU, or a segfault). The child must keep them alive, unused."""
    import gc
    import weakref

    target = verify_server.target
    assert verl_adapter.compute_score("math", "\\boxed{2}", "2", server=target)["score"] == 1.0
    parent_client = weakref.ref(backend.sync_client(target))
    for _ in range(2):  # several forks, as a worker pool makes
        read_end, write_end = os.pipe()
        child = os.fork()
        if child == 0:  # never returns into pytest
            try:
                gc.collect()
                os.write(write_end, b"kept" if parent_client() is not None else b"destroyed")
            finally:
                os._exit(0)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            said = f.read()
        _, status = os.waitpid(child, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child died: status {status}"
        assert said == b"kept"
    assert verl_adapter.compute_score("math", "\\boxed{3}", "2", server=target)["score"] == -1.0
