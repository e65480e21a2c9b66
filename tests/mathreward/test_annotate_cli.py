"""``mathreward annotate`` and ``mathreward pts`` as a user runs them: real subprocesses against the
scripted completions server on a loopback port; SIGKILL and resume; ``--server`` verification through a
real gRPC service; the in-process transformers backend on a tiny model; outputs loaded by TRL."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from prm.annotate import RolloutConfig, prefix_text, render_prompt
from prm.generate import Request, SamplingParams
from tests.mathreward.job_helpers import kill_after_chunks
from tests.mathreward.test_rescore_cli import ROOT, cli_env, mathreward, read_jsonl, script
from tests.prm.scripted_policy import VOCAB, ScriptedServer, build_word_tokenizer, success_p

ROWS: list[dict[str, Any]] = [
    {
        "id": "a",
        "question": "What is it? key=17",
        "answer": "17",
        "steps": ["we start", "this is likely", "then oops", "so \\boxed{18}"],
    },
    {"id": "b", "problem": "What? key=5 unlikely", "answer": 5, "solution": "a\n\nb sure\n\n\\boxed{5}"},
    {"id": "c", "question": "no reference key=3", "steps": ["x"]},
    {"id": "d", "question": "Q key=8", "answer": "8", "steps": []},
    {"id": "e", "question": "Q key=8 hmm", "answer": "8", "solution": "Step 1: likely\nStep 2: \\boxed{8}"},
]
N = 4
PTS_ROWS: list[dict[str, Any]] = [  # solutions whose pivotal tokens the scripted policy's states make known
    {"id": "a", "question": "Q key=17", "answer": "17", "solution": "step one sure then oops so \\boxed{18}"},
    {"id": "b", "question": "Q key=4 oops", "answer": "4", "solution": "a b c likely d \\boxed{4}"},
    {"id": "c", "question": "Q key=4"},
]


def write_jsonl(path: Path, rows: list[dict[str, Any]], extra: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + extra, encoding="utf-8")
    return path


def expected_labels(question: str, reference: str, steps: list[str]) -> tuple[list[bool], list[float]]:
    soft = []
    for k in range(1, len(steps)):
        prompt = render_prompt(RolloutConfig().template, question) + prefix_text(steps, k, "\n\n")
        soft.append(round(success_p(prompt) * N) / N)
    final = success_p(f"key={reference} " + " ".join(steps)) == 1.0
    return [x > 0 for x in soft] + [final], [*soft, float(final)]


def test_annotate_writes_stepwise_rows_rejects_and_a_summary(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS, "not json\n")
    out = tmp_path / "out.jsonl"
    with ScriptedServer() as srv:
        proc = mathreward(
            "annotate",
            data,
            "-o",
            out,
            "--generator",
            srv.base_url,
            "--model",
            "scripted",
            "--n",
            N,
            "--seed",
            3,
            "--workers",
            1,
        )
        asked = srv.log.entries()
    assert len(asked) == len(set(asked)) == 3 + 2 + 1
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["a", "b", "e"]
    for r in rows:
        labels, soft = expected_labels(r["prompt"], str(r["answer"]), r["completions"])
        assert r["labels"] == labels and r["soft_labels"] == soft
        assert r["rollouts"] == [N] * (len(labels) - 1) + [0]
        assert r["math_shepherd_input"].count("ки") == len(labels)
    assert rows[1]["completions"] == ["a", "b sure", "\\boxed{5}"]  # cut by split_steps
    assert rows[2]["completions"] == ["Step 1: likely", "Step 2: \\boxed{8}"]
    rejects = read_jsonl(tmp_path / "out.rejects.jsonl")
    assert [(r["row"], r["id"]) for r in rejects] == [(2, "c"), (3, "d"), (5, None)]
    assert "reference" in rejects[0]["reason"] and "not valid JSON" in rejects[2]["reason"]
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["rows"] == 6 and summary["output_rows"] == 3 and summary["rejected"] == 3
    assert summary["rollouts"] == 6 * N and summary["requests_sent"] == 6
    assert summary["by_position"]["1"][0] == 3 and "verify_s" in summary and "generate_s" in summary
    assert "labels by step position" in proc.stdout
    assert "annotate: 6/6 rows" in proc.stderr  # the progress log (no terminal: log lines)
    assert not (tmp_path / "out.jsonl.annotate-state").exists()


def test_annotate_output_loads_as_trl_stepwise_supervision(tmp_path: Path) -> None:
    """TRL's stepwise-supervision format: prompt (str), completions (list of str), labels (list of bool).
    (TRL 1.16 has no PRMTrainer to run; the dataset is loaded and its features checked.)"""
    datasets = pytest.importorskip("datasets")
    data = write_jsonl(tmp_path / "in.jsonl", [ROWS[0], ROWS[4]])
    out = tmp_path / "out.parquet"
    with ScriptedServer() as srv:
        mathreward(
            "annotate",
            data,
            "-o",
            out,
            "--generator",
            srv.base_url,
            "--model",
            "scripted",
            "--n",
            N,
            "--workers",
            1,
        )
    ds = datasets.load_dataset("parquet", data_files=str(out), split="train")
    f = ds.features
    assert f["prompt"].dtype == "string"
    assert f["completions"].feature.dtype == "string" and f["labels"].feature.dtype == "bool"
    assert f["soft_labels"].feature.dtype == "float64"
    from trl.data_utils import is_conversational

    assert not is_conversational(ds[0])  # standard (not chat) rows
    assert ds[0]["labels"] == [True, True, False, False]
    # columns of any row are kept (the second row's solution, absent from the first)
    assert ds[0]["solution"] is None and ds[1]["solution"].startswith("Step 1")


def test_rows_that_do_not_fit_one_parquet_schema_get_a_clear_error(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [ROWS[0], {**ROWS[4], "answer": 8, "id": 5}])
    with ScriptedServer() as srv:
        proc = mathreward(
            "annotate",
            data,
            "-o",
            tmp_path / "out.parquet",
            "--generator",
            srv.base_url,
            "--model",
            "scripted",
            "--n",
            N,
            "--workers",
            1,
            check=False,
        )
    assert proc.returncode == 2 and "name the output .jsonl" in proc.stderr


def _request_key(r: dict[str, Any]) -> str:
    params = SamplingParams(
        n=r["n"], temperature=r["temperature"], max_tokens=r["max_tokens"], seed=r["seed"]
    )
    return Request(r["prompt"], params).key("scripted")


def test_sigkill_then_resume_writes_the_same_output_and_asks_nothing_twice(tmp_path: Path) -> None:
    rows = [
        {
            "id": i,
            "question": f"Q{i} key={i}",
            "answer": str(i),
            "steps": ["a", ["likely", "unlikely", "hmm"][i % 3], "b", f"\\boxed{{{i % 2 + i}}}"],
        }
        for i in range(10)
    ]
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    args = ["--model", "scripted", "--n", N, "--chunk-size", 1, "--workers", 1, "--progress", "none"]
    with ScriptedServer(delay_s=0.2) as srv:
        mathreward("annotate", data, "-o", tmp_path / "ref.jsonl", "--generator", srv.base_url, *args)
        reference_requests = len(srv.log.requests)
        srv.log.requests.clear()

        out = tmp_path / "out.jsonl"
        state = tmp_path / "out.jsonl.annotate-state"
        cmd = [*script(), "annotate", str(data), "-o", str(out), "--generator", srv.base_url, *map(str, args)]
        proc = subprocess.Popen(
            cmd, env=cli_env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        kill_after_chunks(proc, state / "checkpoint.json", 3, timeout=120)
        assert proc.returncode == -signal.SIGKILL
        assert not out.exists()  # killed mid-run: no half-written output
        cached = {
            json.loads(line)["key"]
            for line in (state / "rollouts.jsonl").read_text().splitlines()
            if line.endswith("}")
        }
        killed_requests = len(srv.log.requests)
        assert 0 < len(cached) <= killed_requests < reference_requests
        srv.log.requests.clear()

        mathreward("annotate", data, "-o", out, "--generator", srv.base_url, *args, "--resume")
        resumed = srv.log.requests
        assert not cached & {_request_key(r) for r in resumed}  # nothing cached was asked again
        assert len(resumed) == len({_request_key(r) for r in resumed})
        assert len(cached) + len(resumed) == reference_requests
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes()


def test_resume_refuses_changed_settings(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS[:1])
    state = tmp_path / "out.jsonl.annotate-state"
    state.mkdir()
    (state / "checkpoint.json").write_text(json.dumps({"fingerprint": {"version": 1}, "chunks_done": 0}))
    with ScriptedServer() as srv:
        proc = mathreward(
            "annotate",
            data,
            "-o",
            tmp_path / "out.jsonl",
            "--generator",
            srv.base_url,
            "--model",
            "scripted",
            "--resume",
            check=False,
        )
    assert proc.returncode == 2 and "cannot resume" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--generator", "localhost:8000"], "base URL"),
        pytest.param(
            ["--generator", "vllm"],
            "the vllm generator needs vllm: pip install vllm",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("vllm") is not None, reason="vLLM is installed"
            ),
        ),
        (["--generator", "http://127.0.0.1:9/v1", "--n", "0"], "must be >= 1"),
        (
            ["--generator", "http://127.0.0.1:9/v1", "--server", "127.0.0.1:9", "--workers", "2"],
            "server's settings",
        ),
    ],
)
def test_bad_options_get_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS[:1])
    proc = mathreward("annotate", data, "-o", tmp_path / "out.jsonl", "--model", "m", *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_an_unreachable_generator_fails_and_keeps_the_state(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS[:1])
    proc = mathreward(
        "annotate",
        data,
        "-o",
        tmp_path / "out.jsonl",
        "--generator",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--retries",
        "0",
        "--workers",
        "1",
        check=False,
    )
    assert proc.returncode == 1 and "--resume" in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "out.jsonl.annotate-state" / "checkpoint.json").exists()


def test_annotate_verifies_through_a_running_server(tmp_path: Path, start_server: Any) -> None:
    from tests.mathreward.service_helpers import server_config

    server = start_server(server_config())
    data = write_jsonl(tmp_path / "in.jsonl", [ROWS[0], ROWS[1]])
    with ScriptedServer() as srv:
        mathreward(
            "annotate",
            data,
            "-o",
            tmp_path / "out.jsonl",
            "--generator",
            srv.base_url,
            "--model",
            "scripted",
            "--n",
            N,
            "--server",
            server.target,
        )
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert rows[0]["soft_labels"] == [0.5, 0.75, 0.0, 0.0]
    assert rows[1]["labels"] == [True, True, True]


# ------------------------------------------------------------------------------------------------ pts


def tiny_policy(out: Path) -> Any:
    """A tiny Llama over the scripted policy's word vocabulary (fixed seed, tokenizer built here)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_word_tokenizer(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return tok


def test_pts_writes_dpo_rows_that_trls_dpo_trainer_loads(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    tok_dir = tmp_path / "policy"
    tok = tiny_policy(tok_dir)
    data = write_jsonl(tmp_path / "in.jsonl", PTS_ROWS)
    out = tmp_path / "pairs.jsonl"
    with ScriptedServer() as srv:
        proc = mathreward(
            "pts",
            data,
            "-o",
            out,
            "--generator",
            srv.base_url,
            "--model",
            "scripted",
            "--tokenizer",
            tok_dir,
            "--n",
            N,
            "--workers",
            1,
        )
        asked = srv.log.entries()
    assert len(asked) == len(set(asked))
    rows = read_jsonl(out)
    assert [(r["id"], r["position"]) for r in rows] == [("a", 2), ("a", 4), ("b", 3), ("b", 5)]
    assert rows[0]["prompt"] == "Q key=17\n\nstep one" and rows[0]["chosen"] == " sure"
    assert rows[0]["rejected"] == " oops" and (rows[0]["chosen_p"], rows[0]["rejected_p"]) == (1.0, 0.0)
    assert all(r["chosen_p"] > r["rejected_p"] for r in rows)
    assert "pivotal tokens 4" in proc.stdout
    assert read_jsonl(tmp_path / "pairs.rejects.jsonl")[0]["id"] == "c"

    from datasets import load_dataset
    from transformers import AutoModelForCausalLM
    from trl import DPOConfig, DPOTrainer

    ds = load_dataset("json", data_files=str(out), split="train")
    model = AutoModelForCausalLM.from_pretrained(tok_dir)
    cfg = DPOConfig(
        output_dir=str(tmp_path / "dpo"),
        report_to="none",
        per_device_train_batch_size=2,
        max_steps=1,
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
    )
    trainer = DPOTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok)
    prepared = trainer.train_dataset
    assert len(prepared) == 4
    first = prepared[0]
    ids_key = "prompt_ids" if "prompt_ids" in first else "prompt_input_ids"
    assert tok.decode(first[ids_key]).split()[-2:] == ["step", "one"]
    trainer.train()  # one real step on the pairs


def test_annotate_with_the_transformers_backend_on_a_tiny_model(tmp_path: Path, tiny_prm: Path) -> None:
    """End to end in process: the tiny Math-Shepherd model (a MistralForCausalLM) is the policy. Its
    rollouts are noise, so every prefix label is False; the last label is the solution's own verdict;
    a second run from the cache writes the same file."""
    data = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": 1, "question": "what is 2 and 3", "answer": "5", "steps": ["2 + 3", "so 5", "\\boxed{5}"]},
            {"id": 2, "question": "what is 2 and 2", "answer": "4", "steps": ["2 + 2", "\\boxed{5}"]},
        ],
    )
    args = [
        "--generator",
        "transformers",
        "--model",
        tiny_prm,
        "--device",
        "cpu",
        "--n",
        2,
        "--max-tokens",
        6,
        "--workers",
        1,
    ]
    out = tmp_path / "out.jsonl"
    proc = mathreward("annotate", data, "-o", out, *args, "--json", timeout=300)
    rows = read_jsonl(out)
    assert [r["labels"][-1] for r in rows] == [True, False]
    assert rows[0]["rollouts"] == [2, 2, 0] and rows[1]["rollouts"] == [2, 0]
    summary = json.loads(proc.stdout)
    assert summary["requests_sent"] == 3 and summary["rollouts"] == 6


def test_template_and_step_separator_as_typed_on_a_command_line(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", [ROWS[0]])
    tpl = tmp_path / "tpl.txt"
    tpl.write_text("<q>{question}</q>\n", encoding="utf-8")
    with ScriptedServer() as srv:
        mathreward(
            "annotate",
            data,
            "-o",
            tmp_path / "a.jsonl",
            "--generator",
            srv.base_url,
            "--model",
            "m",
            "--n",
            2,
            "--workers",
            1,
            "--template",
            "Q: {question}\\nA:",
            "--step-sep",
            "\\n",
        )
        typed = sorted(r["prompt"] for r in srv.log.requests)
        srv.log.requests.clear()
        mathreward(
            "annotate",
            data,
            "-o",
            tmp_path / "b.jsonl",
            "--generator",
            srv.base_url,
            "--model",
            "m",
            "--n",
            2,
            "--workers",
            1,
            "--template",
            f"@{tpl}",
        )
        from_file = sorted(r["prompt"] for r in srv.log.requests)
    assert typed[0] == "Q: What is it? key=17\nA:we start\n"
    assert from_file[0] == "<q>What is it? key=17</q>\nwe start\n\n"
