"""The gRPC service end to end: a real server on a loopback port, the tiny Math-Shepherd PRM, real clients."""

from __future__ import annotations

import asyncio
import math
import re
import shutil

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from mathreward import AsyncClient, Client, ItemError
from mathreward._proto import (
    process_reward_pb2,
    process_reward_pb2_grpc,
    reward_pb2,
    verify_pb2,
    verify_pb2_grpc,
)
from tests.mathreward.service_helpers import PRM_SERVICE, server_config

PAIRS = [
    ("So the answer is $\\boxed{\\frac{1}{2}}$.", "0.5", True),
    ("The total is \\boxed{72}.", "#### 72", True),
    ("x^2+2x+1", "(x+1)^2", True),
    ("\\boxed{3}", "4", False),
    ("I don't know.", "7", False),
]
QUESTION = "what is the sum of 1 and 1"
STEPS = ["we add 1 and 1", "so the sum is 2", "the answer is 2"]


def _code(exc: pytest.ExceptionInfo[grpc.RpcError]) -> grpc.StatusCode:
    return exc.value.code()  # type: ignore[attr-defined, no-any-return]


def _details(exc: pytest.ExceptionInfo[grpc.RpcError]) -> str:
    return exc.value.details()  # type: ignore[attr-defined, no-any-return]


# ---- round trips ------------------------------------------------------------------------------------


def test_verify_batch_round_trip_matches_in_process(grpc_client):
    from verifier import verify_batch

    pairs = [(p, r) for p, r, _ in PAIRS]
    remote = grpc_client.verify_batch(pairs)
    local = verify_batch(pairs)
    assert [v.correct for v in remote] == [want for _, _, want in PAIRS]
    for a, b in zip(remote, local, strict=True):
        assert (a.status, a.method, a.pred_answer, a.ref_answer, a.reason, a.answer_key) == (
            b.status,
            b.method,
            b.pred_answer,
            b.ref_answer,
            b.reason,
            b.answer_key,
        )
    # the canonical key survives the wire, so maj@N through a server votes as in process
    assert any(v.answer_key for v in remote)


def test_verify_single_and_question(grpc_client):
    verdict = grpc_client.verify("so it is \\boxed{2}", "2", question="1+1?")
    assert verdict and verdict.pred_answer == "2"


def test_verify_stream_answers_every_item_with_its_index(grpc_client):
    pairs = [(p, r) for p, r, _ in PAIRS] * 8 + [("1", "")]
    got = dict(grpc_client.verify_stream(pairs, chunk_items=7))
    assert sorted(got) == list(range(len(pairs)))
    for index, verdict in got.items():
        if index == len(pairs) - 1:
            assert verdict.status.value == "error" and "reference" in verdict.reason
        else:
            assert verdict.correct is PAIRS[index % len(PAIRS)][2]


def test_score_steps_round_trip_matches_in_process(grpc_client, tiny_prm):
    from prm import ProcessRewardModel

    remote = grpc_client.score_steps(QUESTION, STEPS)
    local = ProcessRewardModel.from_pretrained(tiny_prm, device="cpu", dtype="float32").score(QUESTION, STEPS)
    assert remote.spans == local.spans and remote.solution == local.solution
    assert remote.scores == pytest.approx(local.scores, abs=1e-5)


def test_score_steps_text_split_aggregate_and_first_error(grpc_client):
    stub = process_reward_pb2_grpc.ProcessRewardServiceStub(grpc_client._channel)
    request = process_reward_pb2.ScoreStepsRequest(
        aggregation=process_reward_pb2.AGGREGATION_MEAN, error_threshold=1.0
    )
    request.items.add(
        id="t",
        question=QUESTION,
        text="\n\n".join(STEPS),
        split_mode=process_reward_pb2.SPLIT_MODE_BLANK_LINES,
    )
    request.items.add(id="s", question=QUESTION, steps=process_reward_pb2.StepList(steps=STEPS))
    response = stub.ScoreSteps(request, timeout=30)
    assert response.model_format == "math-shepherd"
    t, s = response.results
    assert (t.id, s.id) == ("t", "s")
    assert list(t.scores) == pytest.approx(list(s.scores))
    assert t.aggregate == pytest.approx(sum(t.scores) / 3)
    assert t.first_error_index == 0  # every score is below a threshold of 1.0
    assert [t.solution[sp.start : sp.end] for sp in t.spans] == STEPS


def test_score_outcome_and_step_rewards(grpc_client):
    response = "we add 1 and 1\n\nso the sum is 2\n\nthe answer is \\boxed{2}"
    right = grpc_client.score(QUESTION, response, "2")
    assert right.reward == 1.0 and right.verdict.correct
    assert len(right.step_rewards) == 3 and all(0 <= r <= 1 for r in right.step_rewards)
    assert [response[a:b] for a, b in right.step_spans] == response.split("\n\n")
    wrong = grpc_client.score(QUESTION, response, "3", correct_reward=2.0, incorrect_reward=0.0)
    assert wrong.reward == 0.0 and not wrong.verdict.correct
    outcome = grpc_client.score(QUESTION, response, "2", outcome_only=True)
    assert outcome.reward == 1.0 and outcome.step_rewards == ()


async def test_async_client_round_trips(prm_server):
    async with AsyncClient(prm_server.target) as c:
        verdicts = await c.verify_batch([(p, r) for p, r, _ in PAIRS])
        assert [v.correct for v in verdicts] == [w for _, _, w in PAIRS]
        scores = await c.score_steps(QUESTION, STEPS)
        assert len(scores.scores) == 3
        reward = await c.score(QUESTION, "\\boxed{2}", "2")
        assert float(reward) == 1.0
        assert await c.health(PRM_SERVICE) == "SERVING"


# ---- health and reflection ----------------------------------------------------------------------------


def test_health_per_service(grpc_client):
    for service in ("", "mathreward.v1.VerifyService", "mathreward.v1.RewardService", PRM_SERVICE):
        assert grpc_client.health(service) == "SERVING"
    with pytest.raises(grpc.RpcError) as exc:
        grpc_client.health("no.such.Service")
    assert _code(exc) is grpc.StatusCode.NOT_FOUND


def test_prm_not_serving_without_weights_and_verify_still_serves(start_server, tmp_path):
    server = start_server(server_config(prm_model=tmp_path / "missing"))
    with Client(server.target, timeout=30) as c:
        assert c.verify("\\boxed{4}", "4")
        for _ in range(200):
            if server.state.prm.state.value == "failed":
                break
            asyncio.run(asyncio.sleep(0.05))
        assert c.health(PRM_SERVICE) == "NOT_SERVING"
        assert c.health("") == "NOT_SERVING"  # the server is not what it was asked to be
        with pytest.raises(grpc.RpcError) as exc:
            c.score_steps(QUESTION, STEPS)
        assert _code(exc) is grpc.StatusCode.FAILED_PRECONDITION and "missing" in _details(exc)


def test_no_prm_configured(start_server):
    server = start_server(server_config())
    with Client(server.target, timeout=30) as c:
        assert c.health("") == "SERVING"
        assert c.health(PRM_SERVICE) == "NOT_SERVING"
        with pytest.raises(grpc.RpcError) as exc:
            c.score_steps(QUESTION, STEPS)
        assert _code(exc) is grpc.StatusCode.FAILED_PRECONDITION and "--prm-model" in _details(exc)
        reward = c.score(QUESTION, "\\boxed{2}", "2")
        assert reward.reward == 1.0 and reward.step_rewards == ()


def _reflection_pool(channel: grpc.Channel) -> tuple[descriptor_pool.DescriptorPool, list[str]]:
    db = ProtoReflectionDescriptorDatabase(channel)
    return descriptor_pool.DescriptorPool(db), list(db.get_services())


def test_reflection_lists_services_and_every_rpc_works_from_reflection_alone(prm_server):
    """A client that knows only what reflection tells it (no generated stubs) calls every RPC."""
    with grpc.insecure_channel(prm_server.target) as channel:
        pool, services = _reflection_pool(channel)
        assert {
            "mathreward.v1.VerifyService",
            "mathreward.v1.ProcessRewardService",
            "mathreward.v1.RewardService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= set(services)

        def method(service: str, name: str):
            desc = pool.FindServiceByName(service).FindMethodByName(name)
            req = message_factory.GetMessageClass(desc.input_type)
            resp = message_factory.GetMessageClass(desc.output_type)
            path = f"/{service}/{name}"
            kwargs = {"request_serializer": req.SerializeToString, "response_deserializer": resp.FromString}
            if desc.client_streaming:
                return req, channel.stream_stream(path, **kwargs)
            return req, channel.unary_unary(path, **kwargs)

        req, call = method("mathreward.v1.VerifyService", "Verify")
        body = {"items": [{"id": "a", "prediction": "\\boxed{1/2}", "reference": "0.5"}]}
        out = json_format.MessageToDict(call(json_format.ParseDict(body, req()), timeout=30))
        assert (
            out["results"][0]["correct"] is True
            and out["results"][0]["status"] == "VERIFICATION_STATUS_CORRECT"
        )

        req, call = method("mathreward.v1.VerifyService", "VerifyStream")
        chunks = [
            json_format.ParseDict({"items": [{"id": str(i), "prediction": str(i), "reference": "1"}]}, req())
            for i in range(3)
        ]
        outs = [json_format.MessageToDict(r) for r in call(iter(chunks), timeout=30)]
        assert sorted(o["result"]["id"] for o in outs) == ["0", "1", "2"]
        assert {o["result"]["id"]: o["result"].get("correct", False) for o in outs} == {
            "0": False,
            "1": True,
            "2": False,
        }

        req, call = method("mathreward.v1.ProcessRewardService", "ScoreSteps")
        body = {
            "items": [{"id": "p", "question": QUESTION, "steps": {"steps": STEPS}}],
            "aggregation": "AGGREGATION_LAST",
        }
        out = json_format.MessageToDict(call(json_format.ParseDict(body, req()), timeout=30))
        assert len(out["results"][0]["scores"]) == 3
        assert out["results"][0]["aggregate"] == pytest.approx(out["results"][0]["scores"][-1])

        req, call = method("mathreward.v1.RewardService", "Score")
        body = {
            "items": [{"id": "r", "prompt": QUESTION, "response": "\\boxed{2}", "reference": "2"}],
            "incorrectReward": 0,
        }
        out = json_format.MessageToDict(call(json_format.ParseDict(body, req()), timeout=30))
        assert out["results"][0]["reward"] == 1.0 and out["stepRewardsIncluded"] is True


# ---- errors -----------------------------------------------------------------------------------------


def _verify_stub(target: str) -> tuple[grpc.Channel, verify_pb2_grpc.VerifyServiceStub]:
    channel = grpc.insecure_channel(target)
    return channel, verify_pb2_grpc.VerifyServiceStub(channel)


def test_malformed_requests_are_invalid_argument_naming_the_field(prm_server):
    channel = grpc.insecure_channel(prm_server.target)
    verify = verify_pb2_grpc.VerifyServiceStub(channel)
    prm = process_reward_pb2_grpc.ProcessRewardServiceStub(channel)
    from mathreward._proto import reward_pb2_grpc

    reward = reward_pb2_grpc.RewardServiceStub(channel)
    item = verify_pb2.VerifyItem(prediction="1", reference="1")
    steps_item = process_reward_pb2.ScoreStepsItem(
        question="q", steps=process_reward_pb2.StepList(steps=["a"])
    )
    cases = [
        (verify.Verify, verify_pb2.VerifyRequest(), "items"),
        (
            verify.Verify,
            verify_pb2.VerifyRequest(items=[item], options=verify_pb2.VerifyOptions(timeout_s=-1)),
            "options.timeout_s",
        ),
        (
            verify.Verify,
            verify_pb2.VerifyRequest(items=[item], options=verify_pb2.VerifyOptions(float_rel_tol=2)),
            "options.float_rel_tol",
        ),
        (
            prm.ScoreSteps,
            process_reward_pb2.ScoreStepsRequest(items=[steps_item], aggregation=99),
            "aggregation",
        ),
        (
            prm.ScoreSteps,
            process_reward_pb2.ScoreStepsRequest(items=[steps_item], error_threshold=1.5),
            "error_threshold",
        ),
        (prm.ScoreSteps, process_reward_pb2.ScoreStepsRequest(), "items"),
        (
            reward.Score,
            reward_pb2.ScoreRequest(items=[reward_pb2.ScoreItem(reference="1")], correct_reward=math.inf),
            "correct_reward",
        ),
        (
            reward.Score,
            reward_pb2.ScoreRequest(items=[reward_pb2.ScoreItem(reference="1")], split_mode=42),
            "split_mode",
        ),
    ]
    for call, request, field in cases:
        with pytest.raises(grpc.RpcError) as exc:
            call(request, timeout=30)
        assert _code(exc) is grpc.StatusCode.INVALID_ARGUMENT, (field, _details(exc))
        assert _details(exc).startswith(f"{field}:"), (field, _details(exc))
    channel.close()


def test_bad_items_get_their_own_error_and_the_rest_are_answered(prm_server, grpc_client):
    long = "1" * 20_001
    verdicts = grpc_client.verify_batch([("\\boxed{2}", "2"), ("2", ""), (long, "1"), ("3", "3")])
    assert [v.status.value for v in verdicts] == ["correct", "error", "error", "correct"]
    assert "items[1].reference" in verdicts[1].reason and "limit per item" in verdicts[2].reason

    channel, verify = _verify_stub(prm_server.target)
    response = verify.Verify(
        verify_pb2.VerifyRequest(
            items=[
                verify_pb2.VerifyItem(id="ok", prediction="1", reference="1"),
                verify_pb2.VerifyItem(id="big", prediction=long, reference="1"),
            ]
        ),
        timeout=30,
    )
    assert response.results[0].correct and not response.results[0].HasField("error")
    big = response.results[1]
    assert big.id == "big" and big.error.code == 2 and big.error.field == "items[1]"  # RESOURCE_EXHAUSTED
    channel.close()

    results = grpc_client.score_steps_batch(
        [
            (QUESTION, STEPS),
            (QUESTION, []),
            (QUESTION, ["fine", "  "]),
            (QUESTION, "we add one\n\nsum is two"),
            (QUESTION, ["the sum is two " * 2000]),  # longer than the tiny model's context
        ]
    )
    assert len(results[0].scores) == 3 and len(results[3].scores) == 2
    assert isinstance(results[1], ItemError) and results[1].field == "items[1].steps"
    assert isinstance(results[2], ItemError) and results[2].field == "items[2].steps.steps[1]"
    assert isinstance(results[4], ItemError) and results[4].code == "RESOURCE_EXHAUSTED", results[4]
    with pytest.raises(ItemError):
        grpc_client.score_steps(QUESTION, [])

    rewards = grpc_client.score_batch([(QUESTION, "\\boxed{2}", "2"), (QUESTION, "\\boxed{2}", " ")])
    assert rewards[0].reward == 1.0 and rewards[1].reward == -1.0
    assert rewards[1].error is not None and rewards[1].error.field == "items[1].reference"


def test_too_many_items_and_a_full_queue_are_resource_exhausted(start_server):
    from mathreward.server import ServiceLimits

    server = start_server(server_config(limits=ServiceLimits(max_items=10, max_queue_depth=6)))
    with Client(server.target, timeout=30, batch_items=100) as c:
        with pytest.raises(grpc.RpcError) as exc:
            c.verify_batch([("1", "1")] * 11)
        assert _code(exc) is grpc.StatusCode.RESOURCE_EXHAUSTED and _details(exc).startswith("items:")
        with pytest.raises(grpc.RpcError) as exc:
            c.verify_batch([("1", "1")] * 7)
        assert _code(exc) is grpc.StatusCode.RESOURCE_EXHAUSTED and "queue is full" in _details(exc)
        assert len(c.verify_batch([("1", "1")] * 6)) == 6  # within the depth, nothing is held back


def test_oversized_message_is_resource_exhausted(start_server):
    from mathreward.server import ServiceLimits

    server = start_server(server_config(limits=ServiceLimits(max_message_bytes=4096)))
    with Client(server.target, timeout=30) as c:
        with pytest.raises(grpc.RpcError) as exc:
            c.verify("x" * 10_000, "1")
        assert _code(exc) is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert c.verify("1", "1")  # the server lives on


def _metric(page: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in page.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


# pairs only the SymPy sandbox decides (tens of ms each; verifier.algebra decides polynomial identities
# such as "(x+1)^2" in process in microseconds, too fast for a call to be cut while its work is queued)
HARD = [(f"\\sin^2(x+{k})+\\cos^2(x+{k})", "1") for k in range(1, 2001)]


def test_deadline_and_cancellation_stop_the_work(start_server):
    limits = __import__("mathreward.server").server.ServiceLimits(max_items=4000)
    # small chunks: what a cut call leaves running is a few items, not 8 threads x 64 (seconds of SymPy)
    server = start_server(server_config(limits=limits, verify_chunk_items=8))
    channel, verify = _verify_stub(server.target)
    request = verify_pb2.VerifyRequest(
        items=[verify_pb2.VerifyItem(prediction=p, reference=r) for p, r in HARD]
    )
    with pytest.raises(grpc.RpcError) as exc:
        verify.Verify(request, timeout=0.5)
    assert _code(exc) is grpc.StatusCode.DEADLINE_EXCEEDED

    future = verify.Verify.future(request, timeout=60)
    asyncio.run(asyncio.sleep(0.3))
    future.cancel()
    # the chunks that had not started were dropped, not run: far fewer than all items were verified
    for _ in range(100):
        page = server.metrics()
        if (
            _metric(page, "mathreward_in_flight_requests") == 0
            and _metric(page, "mathreward_queue_depth") == 0
        ):
            break
        asyncio.run(asyncio.sleep(0.1))
    page = server.metrics()
    dropped = _metric(page, "mathreward_cancelled_items_total", engine="verify")
    assert dropped > len(HARD)  # most of both calls' items never reached the verifier
    assert _metric(page, "mathreward_queue_depth", engine="verify") == 0
    assert _metric(page, "mathreward_timeouts_total", kind="deadline") >= 1
    assert _metric(page, "mathreward_requests_total", method="Verify", code="CANCELLED") >= 1
    assert Client(server.target).verify("1", "1")  # and the server answers the next call
    channel.close()


def test_metrics_endpoint(prm_server, grpc_client):
    grpc_client.verify_batch([(p, r) for p, r, _ in PAIRS])
    grpc_client.score_steps(QUESTION, STEPS)
    page = prm_server.metrics()
    assert _metric(page, "mathreward_requests_total", method="Verify", code="OK") >= 1
    assert _metric(page, "mathreward_items_total", method="Verify", outcome="correct") >= 3
    assert _metric(page, "mathreward_request_latency_seconds_count", method="ScoreSteps") >= 1
    assert _metric(page, "mathreward_batch_size_count", engine="prm") >= 1
    assert _metric(page, "mathreward_batch_size_count", engine="verify") >= 1
    assert _metric(page, "mathreward_prm_ready") == 1
    for family in (
        "mathreward_queue_depth",
        "mathreward_judge_calls_total",
        "mathreward_timeouts_total",
        "mathreward_prm_batch_tokens",
        "mathreward_auth_failures_total",
    ):
        assert re.search(rf"^# TYPE {family} ", page, re.M), family
    assert re.search(r'^mathreward_judge_calls_total\{outcome="unavailable"\} 0.0$', page, re.M)


# ---- auth and TLS -----------------------------------------------------------------------------------


def test_bearer_token(start_server):
    server = start_server(server_config(token="s3cret"))
    for token in (None, "wrong"):
        with Client(server.target, token=token, timeout=30) as c:
            with pytest.raises(grpc.RpcError) as exc:
                c.verify("1", "1")
            assert _code(exc) is grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as exc:
                list(c.verify_stream([("1", "1")]))
            assert _code(exc) is grpc.StatusCode.UNAUTHENTICATED
            assert c.health() == "SERVING"  # probes need no token
    with grpc.insecure_channel(server.target) as channel, pytest.raises(grpc.RpcError) as exc:
        _reflection_pool(channel)[0].FindServiceByName("mathreward.v1.VerifyService")
    with Client(server.target, token="s3cret", timeout=30) as c:
        assert c.verify("1", "1")
        assert dict(c.verify_stream([("1", "1")]))[0].correct
    assert _metric(server.metrics(), "mathreward_auth_failures_total") >= 4


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")
def test_tls_and_mutual_tls(start_server, tmp_path):
    from mathreward.server import TLSConfig
    from tests.mathreward.service_helpers import make_certs

    certs = make_certs(tmp_path)
    tls = TLSConfig(cert_file=certs["server.pem"], key_file=certs["server.key"])
    server = start_server(server_config(tls=tls))
    target = f"localhost:{server.port}"
    with Client(target, root_certs=certs["ca.pem"], timeout=30) as c:
        assert c.verify("\\boxed{1}", "1")
    with Client(target, timeout=5, retries=0) as plain, pytest.raises(grpc.RpcError) as exc:
        plain.verify("1", "1")
    assert _code(exc) is grpc.StatusCode.UNAVAILABLE

    mtls = TLSConfig(
        cert_file=certs["server.pem"], key_file=certs["server.key"], client_ca_file=certs["ca.pem"]
    )
    server = start_server(server_config(tls=mtls))
    target = f"localhost:{server.port}"
    with (
        Client(target, root_certs=certs["ca.pem"], timeout=5, retries=0) as c,
        pytest.raises(grpc.RpcError) as exc,
    ):
        c.verify("1", "1")
    assert _code(exc) is grpc.StatusCode.UNAVAILABLE
    with Client(
        target,
        root_certs=certs["ca.pem"],
        client_cert=certs["client.pem"],
        client_key=certs["client.key"],
        timeout=30,
    ) as c:
        assert c.verify("1", "1")


# ---- load -------------------------------------------------------------------------------------------


async def test_64_concurrent_clients_no_failed_call(prm_server):
    async def one(k: int) -> None:
        async with AsyncClient(prm_server.target, timeout=120) as c:
            pairs = [(f"\\boxed{{{k + j}}}", str(k + j + (j % 2))) for j in range(4)]
            verdicts = await c.verify_batch(pairs)
            assert [v.correct for v in verdicts] == [True, False, True, False]
            scores = await c.score_steps(QUESTION, STEPS[: 1 + k % 3])
            assert len(scores.scores) == 1 + k % 3
            reward = await c.score(QUESTION, f"\\boxed{{{k}}}", str(k))
            assert reward.reward == 1.0 and reward.step_rewards

    await asyncio.gather(*(one(k) for k in range(64)))
    page = prm_server.metrics()
    assert _metric(page, "mathreward_requests_total", code="INTERNAL") == 0
    # concurrent single solutions were merged into shared model batches
    batches = _metric(page, "mathreward_batch_size_count", engine="prm")
    solutions = _metric(page, "mathreward_batch_size_sum", engine="prm")
    assert solutions > batches


def test_judge_second_opinion_through_the_server_is_counted(start_server):
    from tests.verifier.chat_server import ChatServer, always
    from verifier import Method, VerifyConfig
    from verifier.judge import JudgeConfig, close_judges

    with ChatServer(always("equivalent")) as judge:
        config = JudgeConfig(base_url=judge.url, model="judge-test", api_key_env="", timeout_s=5.0)
        server = start_server(server_config(verify_config=VerifyConfig(judge=config)))
        try:
            with Client(server.target, timeout=60) as c:
                verdict = c.verify(
                    r"There are $\boxed{\text{twelve}}$ eggs.", "12", question="How many eggs?"
                )
        finally:
            close_judges()
    assert verdict.correct and verdict.method is Method.JUDGE
    assert (
        verdict.judge is not None
        and verdict.judge.model == "judge-test"
        and verdict.judge.label == "equivalent"
    )
    assert _metric(server.metrics(), "mathreward_judge_calls_total", outcome="equivalent") == 1


def test_stream_options_only_on_the_first_message(prm_server):
    channel, verify = _verify_stub(prm_server.target)
    item = verify_pb2.VerifyItem(id="a", prediction="1", reference="1")
    messages = [
        verify_pb2.VerifyStreamRequest(items=[item], options=verify_pb2.VerifyOptions(timeout_s=2)),
        verify_pb2.VerifyStreamRequest(items=[item], options=verify_pb2.VerifyOptions(timeout_s=3)),
    ]
    with pytest.raises(grpc.RpcError) as exc:
        list(verify.VerifyStream(iter(messages), timeout=30))
    assert _code(exc) is grpc.StatusCode.INVALID_ARGUMENT and _details(exc).startswith("options:")
    got = list(verify.VerifyStream(iter(messages[:1]), timeout=30))
    assert [(r.index, r.result.id, r.result.correct) for r in got] == [(0, "a", True)]
    channel.close()


def test_prm_work_of_an_expired_call_is_skipped(prm_server, grpc_client):
    def cancelled() -> float:
        return _metric(prm_server.metrics(), "mathreward_cancelled_items_total", engine="prm")

    before = cancelled()
    channel = grpc.insecure_channel(prm_server.target)
    stub = process_reward_pb2_grpc.ProcessRewardServiceStub(channel)
    # 300 solutions of about 300 tokens: several model batches, far longer than the deadline
    steps = ["we add 1 and 1 so the sum is 2 and then we check it again"] * 12
    item = process_reward_pb2.ScoreStepsItem(
        question=QUESTION, steps=process_reward_pb2.StepList(steps=steps)
    )
    with pytest.raises(grpc.RpcError) as exc:
        stub.ScoreSteps(process_reward_pb2.ScoreStepsRequest(items=[item] * 300), timeout=0.1)
    assert _code(exc) is grpc.StatusCode.DEADLINE_EXCEEDED
    for _ in range(300):  # the batcher drops the expired call's solutions when it forms its next batch
        if (
            cancelled() > before
            and _metric(prm_server.metrics(), "mathreward_queue_depth", engine="prm") == 0
        ):
            break
        asyncio.run(asyncio.sleep(0.1))
    assert cancelled() - before >= 300 - 2 * 64  # at most the batches already running were scored
    assert len(grpc_client.score_steps(QUESTION, STEPS).scores) == 3
    channel.close()


def test_request_options_reach_the_verifier(grpc_client):
    pairs = [(r"\boxed{25\%}", "0.25")]
    assert grpc_client.verify_batch(pairs)[0].correct
    strict = grpc_client.verify_batch(pairs, options={"percent_matches_fraction": False})[0]
    assert strict.status.value == "incorrect"


def test_bytes_that_are_not_a_request_are_invalid_argument(prm_server):
    """A string field that is not UTF-8 (as a C++ or Go client can send) or plain garbage."""
    channel = grpc.insecure_channel(prm_server.target)
    raw = {"request_serializer": None, "response_deserializer": None}
    not_utf8 = b"\n\x07\x12\x03\xff\xfe\xfd\x1a\x00"  # VerifyRequest.items[0].prediction = b"\xff\xfe\xfd"
    for path, body in (
        ("/mathreward.v1.VerifyService/Verify", not_utf8),
        ("/mathreward.v1.VerifyService/Verify", b"\xff\xff\xff"),
        ("/mathreward.v1.RewardService/Score", b"\x0a\xff"),
    ):
        with pytest.raises(grpc.RpcError) as exc:
            channel.unary_unary(path, **raw)(body, timeout=30)
        assert _code(exc) is grpc.StatusCode.INVALID_ARGUMENT, (path, _details(exc))
        assert _details(exc).startswith("request: not a valid mathreward.v1.")
    stream = channel.stream_stream("/mathreward.v1.VerifyService/VerifyStream", **raw)
    with pytest.raises(grpc.RpcError) as exc:
        list(stream(iter([not_utf8]), timeout=30))
    assert _code(exc) is grpc.StatusCode.INVALID_ARGUMENT
    assert _details(exc).startswith("message 0: not a valid")
    channel.close()
    with Client(prm_server.target) as c:
        assert c.verify("1", "1")


def test_a_loading_prm_is_unavailable_so_clients_retry(tiny_prm):
    from mathreward.server import ServerConfig, ServerState
    from mathreward.service.errors import Unavailable, status_for

    state = ServerState(ServerConfig(prm_model=tiny_prm))  # built, weights not loaded yet
    assert state.prm.state.value == "loading"
    with pytest.raises(Unavailable) as exc:
        state.prm.check_ready()
    assert status_for(exc.value)[0] is grpc.StatusCode.UNAVAILABLE  # what Client retries on
    state.verify.close()
