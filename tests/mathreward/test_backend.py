"""The backend seam: the in-process step scorer on the tiny Math-Shepherd PRM, the choice of backend and the
server settings read from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mathreward.backend import (
    ENV_SERVER,
    ENV_TLS_CA,
    ENV_TOKEN,
    LocalBackend,
    RemoteBackend,
    ServerSpec,
    choose_backend,
)


def test_a_bad_item_gets_its_own_error_and_the_rest_are_scored(tiny_prm: Path) -> None:
    backend = LocalBackend(prm_model=str(tiny_prm))
    good = ("What is 1 + 1?", "1 + 1 = 2.\n\nThe answer is 2.")
    too_long = ("What is 1 + 1?", "x " * 5000)
    empty = ("What is 1 + 1?", "")
    out = backend.score_steps_batch([good, too_long, empty, good])

    assert out[1].scores is None and out[1].error.startswith("PRMTooLongError")
    assert out[2].scores is None and out[2].error == "no steps: the solution is empty"
    for r in (out[0], out[3]):
        assert r.scores is not None
        assert len(r.scores.scores) == 2 and r.aggregate("min") == min(r.scores.scores)
    # the good items score the same as alone, and the same given as text or as its steps
    alone = backend.score_steps_batch([good])[0]
    as_steps = backend.score_steps_batch([("What is 1 + 1?", ["1 + 1 = 2.", "The answer is 2."])])[0]
    assert alone.scores is not None and out[0].scores is not None and as_steps.scores is not None
    assert max(abs(a - b) for a, b in zip(alone.scores.scores, out[0].scores.scores, strict=True)) < 1e-5
    assert as_steps.scores.scores == alone.scores.scores


def test_the_parts_of_a_split_share_one_model(tiny_prm: Path) -> None:
    parts = LocalBackend(workers=2, prm_model=str(tiny_prm)).split(2)
    assert parts[0].prm() is parts[1].prm()  # type: ignore[attr-defined]


def test_no_prm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from mathreward.backend import ENV_PRM_MODEL, BackendError

    monkeypatch.delenv(ENV_PRM_MODEL, raising=False)
    with pytest.raises(BackendError, match="step scores need a PRM"):
        LocalBackend().score_steps_batch([("q", ["a step"])])


def test_the_server_comes_from_the_argument_then_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (ENV_SERVER, ENV_TOKEN, ENV_TLS_CA):
        monkeypatch.delenv(name, raising=False)
    assert ServerSpec.resolve() is None
    assert isinstance(choose_backend(), LocalBackend)

    monkeypatch.setenv(ENV_SERVER, "10.0.0.1:50051")
    monkeypatch.setenv(ENV_TOKEN, "s3cret")
    monkeypatch.setenv(ENV_TLS_CA, str(tmp_path / "ca.pem"))
    spec = ServerSpec.resolve()
    assert spec is not None and spec.target == "10.0.0.1:50051" and spec.token == "s3cret"
    assert spec.root_certs == tmp_path / "ca.pem"
    assert "s3cret" not in repr(spec)  # the token never reaches a log line
    assert ServerSpec.resolve(["a:1", "b:2"], token="t") == ServerSpec(
        "a:1,b:2", token="t", root_certs=tmp_path / "ca.pem"
    )
    backend = choose_backend("127.0.0.1:1")
    assert isinstance(backend, RemoteBackend) and backend.where == "127.0.0.1:1"
    backend.close()


def test_the_remote_backend_answers_as_the_local_one_and_fails_whole_calls(start_server: Any) -> None:
    import asyncio

    from mathreward.backend import BackendError
    from tests.mathreward.service_helpers import server_config

    server = start_server(server_config())
    pairs = [("\\boxed{2}", "2"), ("so $x = 3$", "4"), ("\\frac{1}{2}", "0.5")]
    remote = RemoteBackend(ServerSpec(server.target))
    local = LocalBackend(workers=1)
    try:
        want = [(v.status, v.pred_answer) for v in local.verify_batch(pairs)]
        assert [(v.status, v.pred_answer) for v in remote.verify_batch(pairs)] == want
        assert [(v.status, v.pred_answer) for v in asyncio.run(remote.averify_batch(pairs))] == want
        # the canonical answer key travels too (maj@k groups by it, in process or not)
        keys = [v.answer_key for v in local.verify_batch(pairs)]
        assert [v.answer_key for v in remote.verify_batch(pairs)] == keys
        with pytest.raises(BackendError, match="NotReady"):  # the server has no PRM
            remote.score_steps_batch([("q", ["a step"])])
        assert remote.score_steps_batch([("q", [" "])])[0].error == "no steps: the solution is empty"
    finally:
        remote.close()
    down = RemoteBackend(ServerSpec("127.0.0.1:1"), timeout=1.0)
    with pytest.raises(BackendError, match=r"127\.0\.0\.1:1 failed"):
        down.verify_batch(pairs)
    down.close()
