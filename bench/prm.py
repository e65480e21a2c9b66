"""PRM engine vs the model-card loop, on the same ragged solutions, in one run.

Contenders (each in its own subprocess, so peak memory is its own):

- ``model-card loop``: the math-shepherd-mistral-7b-prm card: one solution per forward,
  ``AutoModelForCausalLM`` with full [1, length, vocab] logits, ``torch.no_grad``.
- ``engine``: ``ProcessRewardModel.score_batch`` on all the solutions at once.

Reported: solutions/s, tokens/s (real tokens, no padding), peak RSS growth while scoring (CPU: the
high-water mark is reset with /proc/self/clear_refs after loading and warm-up, so weights are
excluded and only what scoring allocates counts; GPU: torch.cuda.max_memory_allocated growth),
ratios engine/loop, and the largest score difference between the two (a sanity check).

    .venv/bin/python bench/prm.py         # CPU: Math-Shepherd format, hidden 1024, 2 layers, vocab 32,000
    .venv/bin/python bench/prm.py --gpu   # GPU: Mistral-7B shape in bf16, achieved FLOP/s vs peak
    .venv/bin/python bench/prm.py --encode --rounds 5   # encoding only (the tiny models), ms per item

The model is built by fixtures/make_tiny_models.py (random weights, fixed seed) and cached in
bench/out/. Results are printed as a table and written to bench/out/prm_<device>.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"

# dense bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s (no sparsity)
PEAK_BF16_TFLOPS = {
    "H200": 989.0,
    "H100 SXM": 989.0,
    "H100 80GB HBM3": 989.0,
    "H100 PCIe": 756.0,
    "H100": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "A10G": 70.0,
}

_WORDS = [
    "the",
    "sum",
    "of",
    "12",
    "and",
    "7",
    "is",
    "19",
    "so",
    "we",
    "get",
    "x",
    "=",
    "3",
    "then",
    "2",
    "*",
    "5",
    "+",
    "1",
    "=",
    "11",
    "therefore",
    "the",
    "answer",
    "is",
    "\\frac{1}{2}",
    "each",
    "box",
    "costs",
    "4",
    "dollars",
    "and",
    "there",
    "are",
    "6",
    "boxes",
    "so",
    "the",
    "total",
    "cost",
    "is",
    "24",
    "find",
    "the",
    "area",
    "of",
    "a",
    "circle",
    "with",
    "radius",
    "r",
    "we",
    "subtract",
    "8",
    "from",
    "both",
    "sides",
    "divide",
    "by",
    "2",
    "and",
    "check",
    "the",
    "result",
    "45",
    "+",
    "17",
    "=",
    "62",
]


def make_items(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """``n`` ragged (question, steps) items: a 10-40 word question, 2-8 steps of 5-35 words."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        question = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(10, 40))) + "?"
        steps = [
            " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 35))) for _ in range(rng.randint(2, 8))
        ]
        items.append((question, steps))
    return items


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "make_tiny_models", ROOT / "fixtures" / "make_tiny_models.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_model(args: argparse.Namespace) -> Path:
    import torch

    builder = _builder()
    shape = dict(
        hidden=args.hidden,
        layers=args.layers,
        intermediate=args.intermediate,
        heads=args.heads,
        kv_heads=args.kv_heads,
        vocab_size=args.vocab,
        max_positions=4096,
        initializer_range=0.02,
    )
    key = (
        f"{builder.cache_key()}-"
        + "-".join(f"{k}{v}" for k, v in shape.items())
        + ("-bf16" if args.gpu else "")
    )
    path = OUT / f"prm-bench-{key}"
    if not (path / "DONE").exists():
        print(f"building the benchmark model in {path} ...", file=sys.stderr)
        if args.gpu:
            builder.build_math_shepherd(path, dtype=torch.bfloat16, device="cuda", **shape)
        else:
            builder.build_math_shepherd(path, **shape)
        (path / "DONE").write_text("ok\n")
    return path


# ---- measurement inside one subprocess -------------------------------------------------------
def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    """Hand freed heap back to the OS (glibc), then reset the peak-RSS mark (VmHWM, Linux >= 4.0)."""
    import ctypes

    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")


def _card_loop(path: Path, device: str, dtype: Any) -> Any:
    """The model card's loop, as a callable over items."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype).to(device).eval()
    candidate_tokens = tokenizer.encode("+ -", add_special_tokens=False)
    step_tag_id = tokenizer.encode("ки")[-1]

    def run(items: list[tuple[str, list[str]]]) -> list[list[float]]:
        out = []
        for question, steps in items:
            output = "\n".join(f"{s} ки" for s in steps)
            input_id = torch.tensor([tokenizer.encode(f"{question} {output}")], device=device)
            with torch.no_grad():
                logits = model(input_id).logits[:, :, candidate_tokens]
                scores = logits.softmax(dim=-1)[:, :, 0]
                out.append(scores[input_id == step_tag_id].float().cpu().tolist())
        return out

    return run


def _engine(path: Path, device: str, dtype: Any, max_batch_tokens: int | None) -> Any:
    sys.path.insert(0, str(ROOT))
    from prm import ProcessRewardModel

    model = ProcessRewardModel.from_pretrained(
        path, format="math-shepherd", device=device, dtype=dtype, max_batch_tokens=max_batch_tokens
    )

    def run(items: list[tuple[str, list[str]]]) -> list[list[float]]:
        return [list(s.scores) for s in model.score_batch(items)]

    return run


def worker(args: argparse.Namespace) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    items = [(q, s) for q, s in json.loads(Path(args.items).read_text())]
    device = "cuda:0" if args.gpu else "cpu"
    dtype = torch.bfloat16 if args.gpu else torch.float32
    if args.worker == "loop":
        run = _card_loop(Path(args.model), device, dtype)
    else:
        run = _engine(Path(args.model), device, dtype, args.max_batch_tokens)
    run(items[:2])  # warm-up
    times, cpu_times, peak_growth_mb = [], [], 0.0
    scores: list[list[float]] = []
    for _ in range(args.repeats):
        if args.gpu:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            _reset_peak()
            base = _rss_kb("VmRSS") * 1024
        t0, c0 = time.perf_counter(), time.process_time()
        scores = run(items)
        if args.gpu:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        peak = torch.cuda.max_memory_allocated() if args.gpu else _rss_kb("VmHWM") * 1024
        peak_growth_mb = max(peak_growth_mb, (peak - base) / 2**20)
    weights_mb = (torch.cuda.memory_allocated() if args.gpu else _rss_kb("VmRSS") * 1024) / 2**20
    print(
        json.dumps(
            {
                "times": times,
                "cpu_times": cpu_times,
                "peak_growth_mb": peak_growth_mb,
                "resident_mb": weights_mb,
                "scores": scores,
            }
        )
    )
    return 0


# ---- the driver ------------------------------------------------------------------------------
def _lengths(path: Path, items: list[tuple[str, list[str]]]) -> list[int]:
    """Tokens of each solution as the model card builds it (the engine feeds the same ids)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    return [len(tok.encode(f"{q} " + "\n".join(f"{s} ки" for s in steps))) for q, steps in items]


def _flops(args: argparse.Namespace, lengths: list[int]) -> float:
    """Forward FLOPs of the backbone (dense matmuls + attention), 2 per multiply-add."""
    h, layers, inter = args.hidden, args.layers, args.intermediate
    kv = h * args.kv_heads // args.heads
    per_token = layers * 2 * (2 * h * h + 2 * h * kv + 3 * h * inter)
    attention = sum(layers * 2 * 2 * n * n * h / 2 for n in lengths)  # causal: half of QK^T and AV
    return per_token * sum(lengths) + attention


def encode_bench(args: argparse.Namespace) -> int:
    """Milliseconds to encode one item (tokenise, place the tags, check them), per tiny model.

    Runs whichever ``prm`` is first on PYTHONPATH (printed), so two trees can be compared.
    """
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here] + [str(ROOT)]
    import prm
    from prm import ProcessRewardModel

    builder = _builder()
    paths = builder.ensure_built()
    long_steps = [f"step {i}: we have {i} apples and so the sum is {i * 7}" for i in range(120)]
    cases = {
        "32 ragged items": make_items(32, args.seed),
        "one 120-step item": [("What is the total?", long_steps)],
    }
    print(f"prm from {Path(prm.__file__).parent}; best of {args.rounds} rounds\n")
    print("| model | items | tokens | ms per item |")
    print("|---|---|---:|---:|")
    for name in ("math-shepherd", "qwen2.5-math-prm-bpe"):
        model = ProcessRewardModel.from_pretrained(paths[name], format=builder.FORMAT_OF[name], device="cpu")
        model.max_length = 1 << 30  # encoding only: no length limit
        for label, items in cases.items():
            best = float("inf")
            for _ in range(args.rounds):
                start = time.perf_counter()
                encoded = [model.encode(q, s) for q, s in items]
                best = min(best, time.perf_counter() - start)
            tokens = sum(len(e.ids) for e in encoded)
            print(f"| {name} | {label} | {tokens} | {1000 * best / len(items):.2f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encode", action="store_true", help="time encoding only (tiny models), no forward")
    p.add_argument("--gpu", action="store_true", help="7B-shaped bf16 model on cuda:0, FLOP/s vs peak")
    p.add_argument("--n", type=int, default=None, help="solutions (default: 32 on CPU, 256 on GPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rounds", type=int, default=3, help="rounds; each runs loop then engine (best reported)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs per contender per round")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--max-batch-tokens", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--intermediate", type=int, default=None)
    p.add_argument("--heads", type=int, default=None)
    p.add_argument("--kv-heads", type=int, default=None)
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--peak-tflops", type=float, default=None, help="GPU bf16 dense peak (default: by name)")
    p.add_argument("--worker", choices=["loop", "engine"], help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--items", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    big = {"hidden": 4096, "layers": 32, "intermediate": 14336, "heads": 32, "kv_heads": 8}
    small = {"hidden": 1024, "layers": 2, "intermediate": 2816, "heads": 16, "kv_heads": 8}
    for k, v in (big if args.gpu else small).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.n is None:
        args.n = 256 if args.gpu else 32
    if args.worker:
        return worker(args)
    if args.encode:
        return encode_bench(args)

    OUT.mkdir(parents=True, exist_ok=True)
    model = build_model(args)
    items = make_items(args.n, args.seed)
    items_file = OUT / "prm_items.json"
    items_file.write_text(json.dumps(items))
    lengths = _lengths(model, items)
    n_tokens = sum(lengths)
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {
        name: {"times": [], "cpu_times": [], "peak_growth_mb": 0.0} for name in ("loop", "engine")
    }
    for name in ("loop", "engine") * args.rounds:  # interleaved, so both see the same machine load
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--model",
            str(model),
            "--items",
            str(items_file),
            "--repeats",
            str(args.repeats),
            "--threads",
            str(args.threads),
            "--vocab",
            str(args.vocab),
        ]
        for k in ("hidden", "layers", "intermediate", "heads", "kv_heads"):
            cmd += [f"--{k.replace('_', '-')}", str(getattr(args, k))]
        if args.max_batch_tokens:
            cmd += ["--max-batch-tokens", str(args.max_batch_tokens)]
        if args.gpu:
            cmd.append("--gpu")
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"}
        )
        if proc.returncode:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        res = results[name]
        res["times"] += got["times"]
        res["cpu_times"] += got["cpu_times"]
        res["peak_growth_mb"] = max(res["peak_growth_mb"], got["peak_growth_mb"])
        res["resident_mb"], res["scores"] = got["resident_mb"], got["scores"]
    load_after = os.getloadavg()[0]

    loop, eng = results["loop"], results["engine"]
    diff = max(
        abs(a - b)
        for x, y in zip(loop["scores"], eng["scores"], strict=True)
        for a, b in zip(x, y, strict=True)
    )
    rows = []
    for name, label in (("loop", "model-card loop"), ("engine", "engine score_batch")):
        r = results[name]
        best = min(r["times"])
        rows.append(
            {
                "contender": label,
                "seconds": best,
                "seconds_median": statistics.median(r["times"]),
                "cpu_seconds": min(r["cpu_times"]),
                "solutions_per_s": args.n / best,
                "tokens_per_s": n_tokens / best,
                "peak_growth_mb": r["peak_growth_mb"],
                "resident_mb": r["resident_mb"],
            }
        )
    speedup = rows[0]["seconds"] / rows[1]["seconds"]
    cpu_ratio = rows[0]["cpu_seconds"] / rows[1]["cpu_seconds"]
    mem_ratio = rows[1]["peak_growth_mb"] / max(rows[0]["peak_growth_mb"], 1e-9)
    import torch

    threads = args.threads or torch.get_num_threads()
    device = torch.cuda.get_device_name(0) if args.gpu else f"CPU, {threads} torch threads"
    shape = (
        f"Math-Shepherd format (MistralForCausalLM), hidden {args.hidden}, {args.layers} layers, "
        f"intermediate {args.intermediate}, vocab {args.vocab}, {'bf16' if args.gpu else 'fp32'}"
    )
    print(
        f"\n{args.n} ragged solutions, {n_tokens} tokens ({min(lengths)}-{max(lengths)} per solution); "
        f"{shape}; {device}; best of {args.rounds * args.repeats} interleaved runs; "
        f"load average {load_before:.1f} -> {load_after:.1f}\n"
    )
    print("| contender | wall s | CPU s | solutions/s | tokens/s | peak memory growth (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['contender']} | {r['seconds']:.2f} | {r['cpu_seconds']:.1f} | {r['solutions_per_s']:.2f} "
            f"| {r['tokens_per_s']:.0f} | {r['peak_growth_mb']:.0f} |"
        )
    print(
        f"| **loop / engine** (time), **engine / loop** (rate, memory) | **{speedup:.2f}x** "
        f"| **{cpu_ratio:.2f}x** | **{speedup:.2f}x** | **{speedup:.2f}x** | **{mem_ratio:.2f}x** |"
    )
    print(f"\nmax |score difference| engine vs loop: {diff:.2e}")
    report: dict[str, Any] = {
        "n": args.n,
        "tokens": n_tokens,
        "shape": shape,
        "device": device,
        "rows": rows,
        "throughput_ratio": speedup,
        "cpu_time_ratio": cpu_ratio,
        "load_average": [load_before, load_after],
        "peak_memory_ratio": mem_ratio,
        "max_score_diff": diff,
    }
    if args.gpu:
        flops = _flops(args, lengths)
        name = torch.cuda.get_device_name(0)
        peak = args.peak_tflops or next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
        for r in rows:
            achieved = flops / r["seconds"] / 1e12
            util = f"{100 * achieved / peak:.1f}% of {peak:.0f}" if peak else "peak unknown (--peak-tflops)"
            print(f"{r['contender']}: {achieved:.1f} TFLOP/s of backbone work ({util} TFLOP/s bf16 dense)")
            r["achieved_tflops"] = achieved
        report["peak_tflops"] = peak
    out = OUT / f"prm_{'gpu' if args.gpu else 'cpu'}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
