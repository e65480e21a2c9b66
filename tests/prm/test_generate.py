"""The generator seam against a real loopback completions server (the scripted policy) and a tiny real
causal LM in process: n samples per request, retries, time limits, the concurrency bound, the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from prm.generate import (
    CachedGenerator,
    GenerationError,
    HTTPOptions,
    OpenAICompletions,
    Request,
    RolloutStore,
    SamplingParams,
    backend_of,
    completions_url,
    cut_at_stop,
    generate,
    open_generator,
)
from tests.prm.scripted_policy import ScriptedServer, sample

PARAMS = SamplingParams(n=4, temperature=0.7, max_tokens=64, seed=3)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://h:8000/v1", "http://h:8000/v1/completions"),
        ("http://h:8000/v1/", "http://h:8000/v1/completions"),
        ("http://h:8000", "http://h:8000/v1/completions"),
        ("http://h/proxy/v1", "http://h/proxy/v1/completions"),
        ("http://h:8000/v1/completions", "http://h:8000/v1/completions"),
    ],
)
def test_completions_url_from_the_base_openai_clients_take(base: str, url: str) -> None:
    assert completions_url(base) == url


def test_backend_of() -> None:
    assert backend_of("https://x/v1") == "openai"
    assert backend_of("transformers") == "transformers"
    assert backend_of("vllm") == "vllm"
    with pytest.raises(ValueError, match="base URL"):
        backend_of("localhost:8000")


def test_cut_at_stop() -> None:
    assert cut_at_stop("a\n\nb</s>c", ["</s>", "\n\n"]) == "a"
    assert cut_at_stop("abc", []) == "abc"


def test_sampling_params_reject_bad_values() -> None:
    with pytest.raises(ValueError):
        SamplingParams(n=0)
    with pytest.raises(ValueError):
        SamplingParams(top_p=0)


def test_n_samples_in_one_request_with_the_seed() -> None:
    prompts = [f"Q key={k} likely" for k in range(5)]
    with ScriptedServer() as srv:
        gen = OpenAICompletions(srv.base_url, "scripted")
        try:
            got = generate(gen, [Request(p, PARAMS) for p in prompts])
        finally:
            gen.close()
        assert len(srv.log.requests) == 5  # one request per prompt, all 4 samples in it
        assert {r["n"] for r in srv.log.requests} == {4}
        assert {r["seed"] for r in srv.log.requests} == {3}
    assert got == [sample(p, 4, 3, 64) for p in prompts]  # in request order, choices by index


def test_transient_failures_are_retried_with_backoff() -> None:
    with ScriptedServer(fail_first=2) as srv:
        gen = OpenAICompletions(srv.base_url, "m", HTTPOptions(retries=3, backoff_s=0.01, concurrency=1))
        try:
            assert generate(gen, [Request("Q key=1", PARAMS)]) == [sample("Q key=1", 4, 3, 64)]
        finally:
            gen.close()
        assert srv.failed == 2 and gen.tries == 3


def test_retries_spent_fail_the_request() -> None:
    with ScriptedServer(fail_first=10) as srv:
        gen = OpenAICompletions(srv.base_url, "m", HTTPOptions(retries=1, backoff_s=0.01))
        try:
            with pytest.raises(GenerationError, match=r"HTTP 503.*2 tries"):
                generate(gen, [Request("Q key=1", PARAMS)])
        finally:
            gen.close()


def test_a_client_error_is_not_retried() -> None:
    with ScriptedServer() as srv:
        gen = OpenAICompletions(srv.base_url, "m", HTTPOptions(retries=3, backoff_s=0.01))
        try:  # the scripted policy answers 400 to a prompt without key=K
            with pytest.raises(GenerationError, match="HTTP 400"):
                generate(gen, [Request("no key here", PARAMS)])
        finally:
            gen.close()
        assert gen.tries == 1


@pytest.mark.parametrize(
    ("broken", "message"),
    [("short", "returned 3 samples, asked for n=4"), ("garbage", "not a completions reply")],
)
def test_a_malformed_reply_fails_closed(broken: str, message: str) -> None:
    with ScriptedServer(broken=broken) as srv:
        gen = OpenAICompletions(srv.base_url, "m", HTTPOptions(retries=2, backoff_s=0.01))
        try:
            with pytest.raises(GenerationError, match=message):
                generate(gen, [Request("Q key=1", PARAMS)])
        finally:
            gen.close()
        assert gen.tries == 1  # not retried: the server answered, wrongly


def test_time_limit_per_request() -> None:
    with ScriptedServer(delay_s=3.0) as srv:
        gen = OpenAICompletions(srv.base_url, "m", HTTPOptions(timeout_s=0.2, retries=1, backoff_s=0.01))
        try:
            with pytest.raises(GenerationError, match="timed out"):
                generate(gen, [Request("Q key=1", PARAMS)])
        finally:
            gen.close()
        assert gen.tries == 2


def test_requests_in_flight_together_up_to_the_bound() -> None:
    with ScriptedServer(delay_s=0.5) as srv:
        gen = OpenAICompletions(srv.base_url, "m", HTTPOptions(concurrency=3))
        try:
            generate(gen, [Request(f"Q key={k}", PARAMS) for k in range(9)])
        finally:
            gen.close()
        assert 2 <= srv.max_in_flight <= 3


def test_identical_requests_are_sent_once_and_the_cache_survives_a_restart(tmp_path: Path) -> None:
    cache = tmp_path / "rollouts.jsonl"
    prompts = ["Q key=1", "Q key=2", "Q key=1", "Q key=2 sure", "Q key=1"]
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "m", cache_path=cache)
        first = generate(gen, [Request(p, PARAMS) for p in prompts])
        gen.close()
        assert len(srv.log.requests) == 3 and gen.sent == 3 and gen.reused == 2
        # a cut-off last line (a process killed while appending) is dropped and cut off the file
        with cache.open("a", encoding="utf-8") as f:
            f.write('{"key": "abc", "tex')
        gen = open_generator(srv.base_url, "m", cache_path=cache)
        again = generate(gen, [Request(p, PARAMS) for p in [*prompts, "Q key=3"]])
        gen.close()
        assert again[:5] == first
        assert len(srv.log.requests) == 4 and gen.sent == 1  # only the new prompt went out
        assert cache.read_text(encoding="utf-8").count("\n") == 4
        # another seed, another model name or other parameters are other requests
        gen = open_generator(srv.base_url, "m", cache_path=cache)
        generate(gen, [Request("Q key=1", SamplingParams(n=4, temperature=0.7, max_tokens=64, seed=4))])
        gen.close()
        assert len(srv.log.requests) == 5


def test_a_malformed_cache_line_is_a_clear_error(tmp_path: Path) -> None:
    cache = tmp_path / "rollouts.jsonl"
    cache.write_text('{"nokey": 1}\n', encoding="utf-8")
    with ScriptedServer() as srv, pytest.raises(GenerationError, match="malformed cache line"):
        open_generator(srv.base_url, "m", cache_path=cache)


def test_transformers_backend_matches_a_plain_generate_call(tmp_path: Path) -> None:
    """The in-process backend on a tiny real causal LM: n samples per request, equal to a direct
    ``model.generate`` seeded the same way, and the same samples whatever ran before."""
    torch = pytest.importorskip("torch")
    from tests.prm.conftest import load_builder

    path = load_builder().ensure_built()["math-shepherd"]  # a MistralForCausalLM with its tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prm.generate import prompt_seed

    params = SamplingParams(n=3, temperature=1.0, max_tokens=6, seed=7)
    gen = open_generator("transformers", str(path), device="cpu", cache_path=tmp_path / "c.jsonl")
    prompts = ["what is the sum of 2 and 3", "find x"]
    got = generate(gen, [Request(p, params) for p in prompts])
    alone = generate(CachedGenerator(gen.inner), [Request(prompts[1], params)])
    gen.close()
    assert alone[0] == got[1]

    tok = AutoTokenizer.from_pretrained(path)
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    for prompt, texts in zip(prompts, got, strict=True):
        assert len(texts) == 3
        enc = tok(prompt, return_tensors="pt")
        torch.manual_seed(prompt_seed(7, prompt))
        with torch.inference_mode():
            out = lm.generate(
                **enc,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=6,
                num_return_sequences=3,
                pad_token_id=tok.pad_token_id,
            )
        assert texts == tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def test_vllm_backend_says_how_to_install_when_absent() -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(GenerationError, match="pip install vllm"):
            open_generator("vllm", "some/model")
    else:  # pragma: no cover - vLLM machines
        pytest.skip("vLLM is installed: the GPU tests cover it")


def test_streams_from_two_threads_share_the_bound_and_their_requests() -> None:
    """Two chunks in flight at once: identical requests go out once, the bound holds over both."""
    import threading

    a = [Request(f"Q key={k}", PARAMS) for k in range(8)]
    b = [Request(f"Q key={k}", PARAMS) for k in range(4, 12)]  # 4..7 shared with a
    with ScriptedServer(delay_s=0.3) as srv:
        gen = open_generator(srv.base_url, "m", http=HTTPOptions(concurrency=3))
        got: dict[str, list[list[str]]] = {}

        def run(name: str, reqs: list[Request]) -> None:
            got[name] = generate(gen, reqs)

        threads = [threading.Thread(target=run, args=(n, r)) for n, r in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gen.close()
        keys = [r[0] for r in srv.log.entries()]
        assert sorted(keys) == sorted({f"Q key={k}" for k in range(12)})  # each prompt once
        assert srv.max_in_flight <= 3
    assert got["a"][4:] == got["b"][:4]
    assert gen.sent == 12 and gen.reused == 4


def test_the_store_claims_answers_and_wakes_waiters(tmp_path: Path) -> None:
    """One store, several owners: a key is sent by the owner that claimed it, the others wait for it;
    an owner claiming again gets its own keys back (a retried chunk); the first answer stands; a key
    given up wakes its waiters with no answer, and the next claim takes it."""
    import threading

    store = RolloutStore(tmp_path / "r.jsonl")
    assert store.claim("A", ["k1", "k2", "k1"]) == ({}, ["k1", "k2"])
    assert store.claim("B", ["k2", "k3"]) == ({}, ["k3"])  # k2 is A's
    assert store.claim("A", ["k2"]) == ({}, ["k2"])  # A again (its chunk retried): still A's to send
    got: dict[str, list[str] | None] = {}
    waiter = threading.Thread(target=lambda: got.update(store.wait(["k1", "k2"])))
    waiter.start()
    assert store.put("k1", ["one"]) == ["one"]
    assert waiter.is_alive()  # k2 still unanswered
    store.release("B", ["k2"])  # not B's: nothing happens
    assert waiter.is_alive()
    assert store.wait(["k2"], timeout=0.05) == {"k2": None}  # a bounded wait comes back empty-handed
    store.release("A", ["k1", "k2"])  # k1 answered stays; k2 given up
    waiter.join(10)
    assert got == {"k1": ["one"], "k2": None}
    assert store.put("k1", ["other"]) == ["one"]  # the first answer stands
    assert store.claim("C", ["k1", "k2"]) == ({"k1": ["one"]}, ["k2"])
    assert store.answers() == 2
    store.close()
    again = RolloutStore(tmp_path / "r.jsonl")  # the answers survive, the claims do not
    assert again.claim("D", ["k1", "k2", "k3"]) == ({"k1": ["one"]}, ["k2", "k3"])
    again.close()


def test_a_claim_of_a_process_that_stopped_beating_is_taken_over() -> None:
    """A Ray actor claims with its incarnation and beats for it; once it dies (no beat for stale_s),
    its claims go to whoever asks, so chunks queued behind a dead chunk's retry never wait forever."""
    import time

    store = RolloutStore(stale_s=0.2)
    store.beat("actor-1")
    assert store.claim("chunk@0", ["k"], "actor-1") == ({}, ["k"])
    assert store.claim("chunk@5", ["k"], "actor-2") == ({}, [])  # actor-1 is alive: wait for it
    time.sleep(0.3)
    assert store.claim("chunk@5", ["k"], "actor-2") == ({}, ["k"])  # no beat for 0.3 s: taken over
    assert store.claim("chunk@7", ["k"], "actor-3") == ({}, [])  # actor-2's claim counts as its beat
    assert RolloutStore().claim("a", ["k"], "x") == ({}, ["k"])
    local = RolloutStore()  # without stale_s (threads of one process) a claim never goes stale
    local.claim("a", ["k"], "x")
    time.sleep(0.05)
    assert local.claim("b", ["k"], "y") == ({}, [])


def test_a_stream_waiting_on_a_dead_process_takes_its_request_over() -> None:
    """The request is held by a process that stopped beating (its actor died, its chunk's retry queued
    behind this one): after stale_s the waiting stream claims it and sends it, once."""
    store = RolloutStore(stale_s=0.3)
    key = Request("Q key=2", PARAMS).key("m")
    store.beat("dead actor")
    assert store.claim("chunk@0", [key], "dead actor") == ({}, [key])
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "m", store=store)
        gen.incarnation, gen.wait_s = "live actor", 0.1
        assert generate(gen, [Request("Q key=2", PARAMS)]) == [sample("Q key=2", 4, 3, 64)]
        assert len(srv.log.entries()) == 1 and gen.sent == 1


def test_a_rollout_that_cannot_be_written_frees_its_claim_and_cuts_no_line(tmp_path: Path) -> None:
    """A full disk (/dev/full) while storing an answer: the error reaches the sender, the claim ends and
    its waiter is woken (it claims the key again), and the file keeps whole lines."""
    import os
    import threading

    store = RolloutStore(tmp_path / "r.jsonl")
    store.put("k0", ["zero"])
    assert store.claim("A", ["k"]) == ({}, ["k"])
    got: dict[str, list[str] | None] = {}
    waiter = threading.Thread(target=lambda: got.update(store.wait(["k"])))
    waiter.start()
    good = store.cache._fd
    store.cache._fd = os.open("/dev/full", os.O_WRONLY)
    with pytest.raises(OSError):
        store.put("k", ["texts"])
    os.close(store.cache._fd)
    store.cache._fd = good
    waiter.join(10)
    assert not waiter.is_alive() and got == {"k": None}
    assert store.claim("B", ["k"]) == ({}, ["k"])  # the next caller sends it
    store.close()
    assert RolloutStore(tmp_path / "r.jsonl").claim("C", ["k0", "k"]) == ({"k0": ["zero"]}, ["k"])


def test_generators_sharing_one_store_send_each_request_once() -> None:
    """Two generators with their own backends and one store (as the actors of a Ray run share the
    driver's): a request in flight in one is not sent by the other, which gets the same samples."""
    import threading

    a = [Request(f"Q key={k}", PARAMS) for k in range(6)]
    b = [Request(f"Q key={k}", PARAMS) for k in range(3, 9)]  # 3..5 shared
    store = RolloutStore()
    with ScriptedServer(delay_s=0.3) as srv:
        gens = {n: open_generator(srv.base_url, "m", store=store) for n in "ab"}
        got: dict[str, list[list[str]]] = {}

        def run(name: str, reqs: list[Request]) -> None:
            got[name] = generate(gens[name], reqs)

        threads = [threading.Thread(target=run, args=(n, r)) for n, r in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        prompts = [r[0] for r in srv.log.entries()]
    assert sorted(prompts) == sorted({f"Q key={k}" for k in range(9)})
    assert got["a"][3:] == got["b"][:3]
    assert gens["a"].sent + gens["b"].sent == 9 and gens["a"].reused + gens["b"].reused == 3
    with pytest.raises(ValueError, match="not both"):
        CachedGenerator(gens["a"].inner, Path("x.jsonl"), store)


def test_a_request_its_owner_gave_up_is_sent_by_the_waiter_once() -> None:
    """Another chunk held the request and failed (released it): the waiting stream claims it and sends
    it itself, once, instead of failing with the other chunk."""
    import threading

    store = RolloutStore()
    key = Request("Q key=1", PARAMS).key("m")
    assert store.claim("other chunk", [key]) == ({}, [key])
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "m", store=store)
        threading.Timer(0.2, store.release, args=("other chunk", [key])).start()
        assert generate(gen, [Request("Q key=1", PARAMS)]) == [sample("Q key=1", 4, 3, 64)]
        assert len(srv.log.entries()) == 1 and gen.sent == 1 and gen.reused == 0


def test_the_data_side_imports_nothing_heavy_and_not_mathreward() -> None:
    import subprocess
    import sys

    code = (
        "import sys, prm.generate, prm.annotate, prm.pts\n"
        "heavy = ('torch', 'transformers', 'httpx', 'vllm', 'sympy', 'mathreward')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
