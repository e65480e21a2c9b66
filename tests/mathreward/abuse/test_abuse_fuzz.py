"""Fuzzing the request decoding of both protocols (hypothesis, a bounded number of examples).

Whatever bytes or JSON arrive, the answer is a status the client can act on (never INTERNAL/UNKNOWN, never
HTTP 500), a successful answer has one result per item, and the server answers the next call.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mathreward._proto import verify_pb2
from tests.mathreward.service_helpers import ServerThread, server_config

FUZZ = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,  # ScoreSteps without a PRM
}
UNARY = (
    "/mathreward.v1.VerifyService/Verify",
    "/mathreward.v1.RewardService/Score",
    "/mathreward.v1.ProcessRewardService/ScoreSteps",
)


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[ServerThread]:
    from mathreward.server import ServiceLimits

    thread = ServerThread(
        server_config(http_port=0, limits=ServiceLimits(max_items=50, max_item_chars=2000))
    ).start()
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def channel(fuzzed: ServerThread) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(fuzzed.target) as ch:
        yield ch


def _code(call: Any, *args: Any) -> tuple[grpc.StatusCode, Any]:
    try:
        return grpc.StatusCode.OK, call(*args, timeout=60)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()  # type: ignore[attr-defined]


@FUZZ
@given(path=st.sampled_from(UNARY), body=st.binary(max_size=300))
def test_grpc_random_bytes_get_a_status(channel: grpc.Channel, path: str, body: bytes) -> None:
    call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
    code, details = _code(call, body)
    assert code in ALLOWED, (code, details)


@FUZZ
@given(bodies=st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_grpc_stream_of_random_bytes_gets_a_status(channel: grpc.Channel, bodies: list[bytes]) -> None:
    call = channel.stream_stream(
        "/mathreward.v1.VerifyService/VerifyStream", request_serializer=None, response_deserializer=None
    )
    code, details = _code(lambda it, timeout: list(call(it, timeout=timeout)), iter(bodies))
    assert code in ALLOWED, (code, details)


TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=64)


@st.composite
def verify_requests(draw: Any) -> verify_pb2.VerifyRequest:
    request = verify_pb2.VerifyRequest()
    for _ in range(draw(st.integers(0, 6))):
        item = request.items.add(id=draw(TEXT), prediction=draw(TEXT), reference=draw(TEXT))
        if draw(st.booleans()):
            item.question = draw(TEXT)
    options = request.options
    if draw(st.booleans()):
        options.timeout_s = draw(FLOATS)
    if draw(st.booleans()):
        options.float_rel_tol = draw(FLOATS)
    if draw(st.booleans()):
        options.allow_rounded_decimals = draw(st.booleans())
    return request


@FUZZ
@given(request=verify_requests())
def test_grpc_random_verify_requests_answer_every_item_or_say_why(
    channel: grpc.Channel, request: verify_pb2.VerifyRequest
) -> None:
    call = channel.unary_unary(
        "/mathreward.v1.VerifyService/Verify",
        request_serializer=verify_pb2.VerifyRequest.SerializeToString,
        response_deserializer=verify_pb2.VerifyResponse.FromString,
    )
    code, answer = _code(call, request)
    assert code in ALLOWED, (code, answer)
    if code is grpc.StatusCode.OK:
        assert [r.id for r in answer.results] == [item.id for item in request.items]


JSON = st.recursive(
    st.none() | st.booleans() | FLOATS | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=20,
)
SHAPED = st.fixed_dictionaries(
    {"query": st.lists(JSON, max_size=5)}, optional={"prompts": JSON, "labels": st.lists(JSON, max_size=5)}
) | st.fixed_dictionaries({"prompt": JSON, "response": JSON, "label": JSON})


@pytest.fixture(scope="module")
def http(fuzzed: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://127.0.0.1:{fuzzed.server.http_port}", timeout=60) as client:
        yield client


@settings(FUZZ, max_examples=40)
@given(
    path=st.sampled_from(["/get_reward", "/slime/reward"]),
    body=st.one_of(
        st.binary(max_size=300),
        JSON.map(lambda v: json.dumps(v).encode()),
        SHAPED.map(lambda v: json.dumps(v).encode()),
        st.lists(SHAPED, max_size=4).map(lambda v: json.dumps(v).encode()),
    ),
    query=st.sampled_from(["", "?correct_reward=nan", "?incorrect_reward=1e999", "?correct_reward=2"]),
)
def test_http_random_bodies_get_a_4xx_or_an_answer(
    fuzzed: ServerThread, path: str, body: bytes, query: str
) -> None:
    url = f"http://127.0.0.1:{fuzzed.server.http_port}{path}{query}"
    response = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=60)
    assert response.status_code in (200, 400, 413), (response.status_code, response.text[:300])
    answer = response.json()
    if response.status_code != 200:
        assert isinstance(answer.get("error"), str) and answer["error"]


def test_the_fuzzed_server_counted_no_internal_error(fuzzed: ServerThread) -> None:
    from tests.mathreward.abuse.helpers import metric

    page = fuzzed.metrics()
    assert metric(page, "mathreward_requests_total") > 0
    assert metric(page, "mathreward_requests_total", code="INTERNAL") == 0
