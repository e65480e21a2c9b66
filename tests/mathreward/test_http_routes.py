"""The HTTP routes with a real HTTP client (httpx) against a real aiohttp server on a loopback port.

Payloads are the ones the trainers send, as read in their sources:

- OpenRLHF (OpenRLHF/OpenRLHF ``openrlhf/utils/remote_rm_utils.py::remote_rm_fn`` and the
  single-turn executor in ``openrlhf/utils/agent.py``): ``POST {"query": [...], "prompts": [...],
  "labels": [...]}``, answer read with ``response["rewards"]`` (``request_api_wrapper`` asserts the
  key is there), ``scores`` and ``extra_logs`` in recent versions.
- slime (THUDM/slime ``slime/rollout/rm_hub/__init__.py::remote_rm``): ``POST {"prompt", "response",
  "label"}``, the whole JSON answer kept as ``sample.reward`` and read with ``--reward-key``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from mathreward.http_routes import HttpLimits, make_http_app, start_http
from tests.mathreward.adapter_helpers import expected_reward, load_cases
from verifier import answer_key

CASES = load_cases()
CHATML = "<|im_start|>user\n{p}<|im_end|>\n<|im_start|>assistant\n"

Serve = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """``await serve(**make_http_app_kwargs) -> httpx.AsyncClient`` on a fresh loopback server."""
    runners: list[Any] = []
    clients: list[httpx.AsyncClient] = []

    async def start(**kwargs: Any) -> httpx.AsyncClient:
        runner, port = await start_http(make_http_app(**kwargs), "127.0.0.1", 0)
        runners.append(runner)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for runner in runners:
        await runner.cleanup()


def openrlhf_payload(cases: list[dict[str, Any]]) -> dict[str, list[Any]]:
    prompts = [CHATML.format(p=c["prompt"]) for c in cases]
    return {
        # decode(prompt_ids + response_ids, skip_special_tokens=False) keeps the EOS token
        "query": [p + c["response"] + "<|im_end|>" for p, c in zip(prompts, cases, strict=True)],
        "prompts": prompts,
        "labels": [c["reference"] for c in cases],
    }


async def test_openrlhf_get_reward_answers_rewards_scores_and_extra_logs(serve: Serve) -> None:
    client = await serve()
    response = await client.post("/get_reward", json=openrlhf_payload(CASES))
    assert response.status_code == 200
    body = response.json()
    assert "rewards" in body  # what request_api_wrapper asserts
    assert body["rewards"] == [expected_reward(c) for c in CASES]
    assert body["scores"] == [1.0 if c["expect"] == "correct" else 0.0 for c in CASES]
    assert set(body["extra_logs"]) == {
        "acc",
        "no_answer",
        "format_violation",
        "verify_error",
        "prompt_stripped",
    }
    assert all(len(v) == len(CASES) for v in body["extra_logs"].values())
    statuses = [item["status"] for item in body["items"]]
    assert [s == "error" for s in statuses] == [c["expect"] == "error" for c in CASES]


async def test_openrlhf_reward_values_from_the_url(serve: Serve) -> None:
    client = await serve()
    payload = openrlhf_payload(CASES[:2])
    response = await client.post("/get_reward?correct_reward=2&incorrect_reward=-3", json=payload)
    assert response.json()["rewards"] == [2.0, -3.0]
    bad = await client.post("/get_reward?incorrect_reward=minus-one", json=payload)
    assert bad.status_code == 400 and "incorrect_reward" in bad.json()["error"]
    bad = await client.post("/get_reward?strict_format=maybe", json=payload)
    assert bad.status_code == 400 and "strict_format" in bad.json()["error"]
    strict = await client.post(
        "/get_reward?strict_format=1&format_reward=-0.5&no_answer_reward=0", json=openrlhf_payload(CASES)
    )
    assert strict.json()["rewards"] == [expected_reward(c, "strict") for c in CASES]


async def test_a_batch_whose_labels_are_all_missing_is_a_400(serve: Serve) -> None:
    client = await serve()
    response = await client.post("/get_reward", json={"query": ["Q \\boxed{1}", "Q 2"], "labels": [None, ""]})
    assert response.status_code == 400 and "--data.label_key" in response.json()["error"]


async def test_openrlhf_without_prompts_and_labels_fields(serve: Serve) -> None:
    client = await serve()
    response = await client.post("/get_reward", json={"query": ["Q: 2+2?\nA: \\boxed{4}"]})
    assert response.status_code == 400 and "label_key" in response.json()["error"]  # no label at all
    response = await client.post(
        "/get_reward", json={"query": ["Q: 2+2?\nA: \\boxed{4}", "\\boxed{3}"], "labels": [None, "3"]}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["rewards"] == [-1.0, 1.0] and body["items"][0]["status"] == "error"  # the item's error
    assert [i["response_from"] for i in body["items"]] == ["whole", "whole"]


async def test_slime_reward_answers_a_dict_with_score(serve: Serve) -> None:
    client = await serve()
    for case in CASES:
        payload = {"prompt": case["prompt"], "response": case["response"], "label": case["reference"]}
        response = await client.post("/slime/reward", json=payload)
        if case["expect"] == "error":  # one sample whose label is missing: every label is missing
            assert response.status_code == 400 and "--label-key" in response.json()["error"]
            continue
        assert response.status_code == 200
        reward = response.json()
        assert reward["score"] == expected_reward(case), case["why"]  # --reward-key score
        assert set(reward) == {"score", "acc", "pred", "status", "method", "outcome", "reason"}
    chat = {"prompt": [{"role": "user", "content": "6*7?"}], "response": "\\boxed{42}", "label": "42"}
    assert (await client.post("/slime/reward", json=chat)).json()["score"] == 1.0


async def test_slime_reward_takes_a_list(serve: Serve) -> None:
    client = await serve()
    payload = [{"prompt": c["prompt"], "response": c["response"], "label": c["reference"]} for c in CASES]
    response = await client.post("/slime/reward?incorrect_reward=-1", json=payload)
    assert [r["score"] for r in response.json()] == [expected_reward(c) for c in CASES]


@pytest.mark.parametrize("path", ["/get_reward", "/slime/reward"])
async def test_bad_json_is_400_with_a_message(serve: Serve, path: str) -> None:
    client = await serve()
    response = await client.post(
        path, content=b'{"query": ["unterminated', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    response = await client.post(path, content=b"\xff\xfe not utf-8")
    assert response.status_code == 400


async def test_bad_shapes_are_400_naming_the_field(serve: Serve) -> None:
    client = await serve()
    cases = [
        ("/get_reward", [1, 2], "JSON object"),
        ("/get_reward", {"prompts": ["p"]}, "'query' is required"),
        ("/get_reward", {"query": "one string"}, "'query' must be a list"),
        ("/get_reward", {"query": ["a", "b"], "labels": ["1"]}, "'labels' has 1 items"),
        ("/slime/reward", "just a string", "JSON object or a list"),
        ("/slime/reward", [{"prompt": "p"}, 3], "item 1 must be an object"),
    ]
    for path, body, message in cases:
        response = await client.post(path, json=body)
        assert response.status_code == 400, (path, body)
        assert message in response.json()["error"], (path, body, response.json())


async def test_a_bad_item_does_not_fail_the_batch(serve: Serve) -> None:
    client = await serve(limits=HttpLimits(max_item_chars=300))
    payload = {
        "query": ["Q \\boxed{4}", 7, "Q " + "x" * 400 + " \\boxed{4}", "Q \\boxed{4}", "Q \\boxed{4}"],
        "prompts": ["Q", "Q", "Q", "Q", "Q"],
        "labels": ["4", "4", "4", None, "4"],
    }
    response = await client.post("/get_reward", json=payload)
    assert response.status_code == 200
    body = response.json()
    assert body["rewards"] == [1.0, -1.0, -1.0, -1.0, 1.0]
    assert [i["status"] for i in body["items"]] == ["correct", "error", "error", "error", "correct"]
    assert "over the limit of 300" in body["items"][2]["reason"]
    slime = await client.post(
        "/slime/reward", json=[{"prompt": "Q", "response": "\\boxed{4}"}, {"label": "4"}]
    )
    assert slime.status_code == 200 and [r["status"] for r in slime.json()] == ["error", "error"]
    assert [r["score"] for r in slime.json()] == [-1.0, -1.0]
    alone = await client.post("/slime/reward", json={"prompt": "Q", "response": "\\boxed{4}"})
    assert alone.status_code == 400 and "references of this batch are missing" in alone.json()["error"]


async def test_limits_on_items_and_body_size(serve: Serve) -> None:
    client = await serve(limits=HttpLimits(max_items=3, max_message_bytes=2000))
    many = {"query": ["\\boxed{1}"] * 4, "labels": ["1"] * 4}
    response = await client.post("/get_reward", json=many)
    assert response.status_code == 413 and "over the limit of 3" in response.json()["error"]
    big = {"query": ["x" * 3000], "labels": ["1"]}
    response = await client.post("/get_reward", json=big)
    assert response.status_code == 413 and "2000 bytes" in response.json()["error"]


async def test_bearer_token(serve: Serve) -> None:
    client = await serve(token="s3cret")
    payload = {"prompt": "Q", "response": "\\boxed{4}", "label": "4"}
    assert (await client.post("/slime/reward", json=payload)).status_code == 401
    wrong = await client.post("/slime/reward", json=payload, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await client.post("/slime/reward", json=payload, headers={"Authorization": "Bearer s3cret"})
    assert right.status_code == 200 and right.json()["score"] == 1.0
    assert (await client.get("/health")).status_code == 200  # probes need no token


async def test_draining_answers_503(serve: Serve) -> None:
    serving = [True]
    client = await serve(is_serving=lambda: serving[0])
    payload = {"prompt": "Q", "response": "\\boxed{4}", "label": "4"}
    assert (await client.post("/slime/reward", json=payload)).status_code == 200
    serving[0] = False
    assert (await client.post("/slime/reward", json=payload)).status_code == 503
    assert (await client.get("/health")).json() == {"status": "NOT_SERVING"}


async def test_server_state_shares_engine_limits_auth_and_metrics(serve: Serve) -> None:
    """make_http_app(state) as ``mathreward serve --http-port`` calls it: the gRPC server's VerifyEngine
    (one admission queue for both protocols), limits, token and Prometheus registry."""
    from mathreward.service.config import ServerConfig, ServiceLimits
    from mathreward.service.state import ServerState

    limits = ServiceLimits(max_items=50, max_item_chars=1000, max_queue_depth=4)
    state = ServerState(ServerConfig(limits=limits, token="tok", verify_workers=2))
    try:
        client = await serve(state=state)
        auth = {"Authorization": "Bearer tok"}
        assert (await client.post("/get_reward", json=openrlhf_payload(CASES[:2]))).status_code == 401
        ok = await client.post("/get_reward", json=openrlhf_payload(CASES[:2]), headers=auth)
        assert ok.status_code == 200 and ok.json()["rewards"] == [1.0, -1.0]
        # 5 gradable items > max_queue_depth 4: the engine's admission refuses the call -> 429
        full = await client.post("/get_reward", json=openrlhf_payload(CASES[:5]), headers=auth)
        assert full.status_code == 429 and "queue is full" in full.json()["error"]
        bad = await client.post("/get_reward", content=b"{", headers=auth)
        assert bad.status_code == 400
        state.draining = True
        assert (
            await client.post("/get_reward", json=openrlhf_payload(CASES[:1]), headers=auth)
        ).status_code == 503
        metric = state.metrics.registry.get_sample_value
        assert metric("mathreward_requests_total", {"method": "/get_reward", "code": "OK"}) == 1.0
        assert (
            metric("mathreward_requests_total", {"method": "/get_reward", "code": "UNAUTHENTICATED"}) == 1.0
        )
        assert (
            metric("mathreward_requests_total", {"method": "/get_reward", "code": "RESOURCE_EXHAUSTED"})
            == 1.0
        )
        assert (
            metric("mathreward_requests_total", {"method": "/get_reward", "code": "INVALID_ARGUMENT"}) == 1.0
        )
        assert metric("mathreward_items_total", {"method": "/get_reward", "outcome": "correct"}) == 1.0
        assert metric("mathreward_auth_failures_total") == 1.0
        assert metric("mathreward_request_latency_seconds_count", {"method": "/get_reward"}) == 5.0
    finally:
        state.verify.close()


async def test_concurrent_single_sample_requests_share_engine_calls(serve: Serve) -> None:
    """slime sends one sample per request, many at once: their pairs are merged into fewer engine
    calls, and each request still gets its own verdict (right and wrong answers interleaved)."""
    import asyncio

    from mathreward.service.config import ServerConfig
    from mathreward.service.state import ServerState

    state = ServerState(ServerConfig(verify_workers=2))
    try:
        client = await serve(state=state, limits=HttpLimits(coalesce_items=64, coalesce_wait_ms=20))
        samples = [{"prompt": "", "response": f"\\boxed{{{i % 3}}}", "label": "1"} for i in range(24)]
        answers = await asyncio.gather(*(client.post("/slime/reward", json=s) for s in samples))
        assert [a.json()["score"] for a in answers] == [1.0 if i % 3 == 1 else -1.0 for i in range(24)]
        assert [a.json()["pred"] for a in answers] == [answer_key(str(i % 3)) for i in range(24)]
        calls = state.metrics.registry.get_sample_value("mathreward_batch_size_count", {"engine": "verify"})
        assert calls is not None and 1 <= calls < 24
    finally:
        state.verify.close()
