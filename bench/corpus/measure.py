"""This verifier and math-verify over the real-response corpus, against the adjudicated labels.

    python -m bench.corpus.measure [--corpus PATH] [--no-speed] [--show-disagreements]
    python -m bench.corpus.measure --verifier-path ../other-checkout --tag other   # another verifier

Prints, per source and per answer convention, the right answers (label true) read as correct
(recall) and the wrong answers accepted (false positives) for both verifiers; every disagreement
between the source's label, the adjudicated label, this verifier and math-verify (written in full to
bench/corpus/data/disagreements.txt); then single-worker speed over the whole corpus for both: cold
(a fresh process, interpreter start and imports included, one pass) and warm (a second pass in the
same process), as pairs per second. Writes everything to bench/corpus/data/measure.json (with --tag T:
to bench/corpus/data/T/).

math-verify is called as bench/verifier.py calls it: ``verify(parse(gold), parse(response))`` with the
gold wrapped in ``$...$``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.corpus import CORPUS, DATA_DIR, load

DISAGREEMENTS = "disagreements.txt"
VERDICTS = "verdicts.jsonl"
RESULT = "measure.json"


def out_dir(tag: str | None) -> Path:
    """Where a run writes: bench/corpus/data/, or bench/corpus/data/<tag>/ for a tagged run."""
    return DATA_DIR / tag if tag else DATA_DIR


def describe_code(root: str) -> str:
    """The checkout holding the measured verifier: path, commit, and whether verifier/ has local edits."""
    head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "-C", root, "status", "--porcelain", "--", "verifier"], capture_output=True, text=True
    )
    if head.returncode != 0:
        return root
    edits = " + uncommitted edits in verifier/" if dirty.stdout.strip() else ""
    return f"{root} @ {head.stdout.strip()}{edits}"


def use_verifier(path: str | None) -> None:
    """Import ``verifier`` from ``path`` (another checkout) instead of the first one on sys.path."""
    if path:
        sys.path.insert(0, str(Path(path).resolve()))


TAIL = 400


@dataclass
class Cell:
    n: int = 0
    right: int = 0
    ours_tp: int = 0
    ours_fp: int = 0
    mv_tp: int = 0
    mv_fp: int = 0

    def add(self, label: bool, ours: bool, mv: bool) -> None:
        self.n += 1
        self.right += label
        self.ours_tp += label and ours
        self.ours_fp += (not label) and ours
        self.mv_tp += label and mv
        self.mv_fp += (not label) and mv

    def row(self, name: str) -> str:
        def pct(k: int) -> str:
            return f"{100 * k / self.right:5.1f}%" if self.right else "    -"

        return (
            f"| {name} | {self.n} | {self.right} | {pct(self.ours_tp)} | {self.ours_fp} "
            f"| {pct(self.mv_tp)} | {self.mv_fp} |"
        )


HEADER = (
    "| {what} | n | right | ours recall | ours FP | math-verify recall | math-verify FP |\n"
    "|---|---:|---:|---:|---:|---:|---:|"
)


def ours_verdict(row: dict[str, Any]) -> dict[str, Any]:
    from verifier import verify

    v = verify(row["response"], row["reference"], question=row["question"])
    return {"correct": bool(v), "status": v.status.value, "pred": v.pred_answer, "reason": v.reason}


def mv_verdict(row: dict[str, Any]) -> dict[str, Any]:
    from math_verify import parse, verify

    from bench.verifier import mv_gold

    try:
        pred = parse(row["response"])
        ok = bool(verify(parse(mv_gold(row["reference"])), pred))
        shown = str(pred[-1]) if pred else None
    except Exception as exc:  # math-verify's own failures count as "not correct", as its users see them
        return {"correct": False, "pred": f"error: {type(exc).__name__}"}
    return {"correct": ok, "pred": shown}


def is_option_letter(ref: str) -> bool:
    """A multiple-choice reference (a single letter A-J), which math-verify's default parse does not read."""
    return len(ref.strip()) == 1 and "A" <= ref.strip() <= "J"


def tail(text: str, n: int = TAIL) -> str:
    text = text.rstrip()
    return text if len(text) <= n else "..." + text[-n:]


# ----------------------------------------------------------------------------------------- speed
def _speed_child(which: str, corpus: Path, t0: float, verifier_path: str | None) -> None:
    """One worker over the whole corpus: first pass cold (timed from the parent's spawn), then warm."""
    use_verifier(verifier_path)
    rows = load(corpus)
    if which == "ours":
        from verifier import verify

        def call(r: dict[str, Any]) -> Any:
            return verify(r["response"], r["reference"], question=r["question"])
    else:
        import logging

        from math_verify import parse
        from math_verify import verify as mverify

        from bench.verifier import mv_gold

        logging.getLogger("math_verify").setLevel(logging.CRITICAL)

        def call(r: dict[str, Any]) -> Any:
            try:
                return mverify(parse(mv_gold(r["reference"])), parse(r["response"]))
            except Exception:
                return False

    first_s = 0.0
    for i, r in enumerate(rows):
        call(r)
        if i == 0:
            first_s = time.time() - t0
    cold_end = time.time()
    start = time.perf_counter()
    for r in rows:
        call(r)
    warm_s = time.perf_counter() - start
    print(json.dumps({"n": len(rows), "cold_s": cold_end - t0, "warm_s": warm_s, "first_s": first_s}))


def speed(which: str, corpus: Path, verifier_path: str | None) -> dict[str, float]:
    extra = ["--verifier-path", verifier_path] if verifier_path else []
    t0 = time.time()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.corpus.measure",
            "--speed-child",
            which,
            "--corpus",
            str(corpus),
            "--t0",
            repr(t0),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    got: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return got


# ------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--show-disagreements", action="store_true", help="print them, not only write them")
    ap.add_argument("--verifier-path", help="a checkout whose verifier package to measure")
    ap.add_argument("--tag", help="write to bench/corpus/data/<tag>/ instead of bench/corpus/data/")
    ap.add_argument("--speed-child", choices=("ours", "mv"), help=argparse.SUPPRESS)
    ap.add_argument("--t0", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.speed_child:
        _speed_child(args.speed_child, args.corpus, args.t0, args.verifier_path)
        return 0

    import logging

    use_verifier(args.verifier_path)
    import verifier

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    rows = load(args.corpus)
    code = describe_code(str(Path(verifier.__file__).resolve().parents[1]))
    by_source: dict[str, Cell] = defaultdict(Cell)
    by_conv: dict[str, Cell] = defaultdict(Cell)
    total = Cell()
    no_letters = Cell()  # math-verify's default extraction does not read option letters
    disagreements: list[str] = []
    verdict_rows: list[dict[str, Any]] = []
    for row in rows:
        o = ours_verdict(row)
        m = mv_verdict(row)
        label = bool(row["label"])
        for cell in (by_source[row["source"]], by_conv[row["convention"]], total):
            cell.add(label, o["correct"], m["correct"])
        if not is_option_letter(row["reference"]):
            no_letters.add(label, o["correct"], m["correct"])
        verdict_rows.append(
            {
                "id": row["id"],
                "source": row["source"],
                "convention": row["convention"],
                "label": label,
                "ours": o,
                "mv": m,
            }
        )
        if len({label, bool(row["source_label"]), o["correct"], m["correct"]}) > 1:
            disagreements.append(
                f"--- {row['id']} [{row['convention']}] label={label} source={row['source_label']} "
                f"ours={o['correct']} mv={m['correct']}"
                + (f" override: {row['override']}" if row.get("override") else "")
                + f"\n    ref: {row['reference']!r}"
                + f"\n    ours: {o['status']} pred={o['pred']!r} ({o['reason']})"
                + f"\n    mv: pred={m['pred']!r}\n    tail: {tail(row['response'])!r}\n"
            )

    out = out_dir(args.tag)
    out.mkdir(parents=True, exist_ok=True)
    (out / DISAGREEMENTS).write_text("".join(disagreements), encoding="utf-8")
    with (out / VERDICTS).open("w", encoding="utf-8") as f:
        for v in verdict_rows:
            f.write(json.dumps(v, ensure_ascii=False) + "\n")

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"corpus: {args.corpus} ({len(rows)} responses); verifier code: {code}; {stamp}\n")
    print(HEADER.format(what="source"))
    for name in sorted(by_source):
        print(by_source[name].row(name))
    print(total.row("**all**"))
    print(no_letters.row("**all but option-letter references**"))
    print()
    print(HEADER.format(what="convention"))
    for name, cell in sorted(by_conv.items(), key=lambda kv: -kv[1].n):
        print(cell.row(name))
    print(total.row("**all**"))
    print()
    print(
        f"disagreements (label, source label, ours, math-verify not all equal): {len(disagreements)} "
        f"-> {out / DISAGREEMENTS}"
    )
    if args.show_disagreements:
        print("".join(disagreements))

    result: dict[str, Any] = {
        "date": stamp,
        "verifier_code": code,
        "n": len(rows),
        "by_source": {k: vars(v) for k, v in by_source.items()},
        "by_convention": {k: vars(v) for k, v in by_conv.items()},
        "total": vars(total),
        "total_no_option_letters": vars(no_letters),
    }
    if not args.no_speed:
        print("\nspeed, one worker, whole corpus (cold: fresh process, start-up and imports included):")
        sp: dict[str, dict[str, float]] = {}
        for which in ("ours", "mv"):
            sp[which] = speed(which, args.corpus, args.verifier_path)
        for which, name in (("ours", "ours"), ("mv", "math-verify")):
            s = sp[which]
            print(
                f"  {name:<12} cold {s['n'] / s['cold_s']:8.1f} pairs/s ({s['cold_s']:.2f} s)"
                f"   warm {s['n'] / s['warm_s']:8.1f} pairs/s ({s['warm_s']:.2f} s)"
                f"   first verdict {s['first_s']:.2f} s after spawn"
            )
        cold_ratio = (sp["ours"]["n"] / sp["ours"]["cold_s"]) / (sp["mv"]["n"] / sp["mv"]["cold_s"])
        warm_ratio = (sp["ours"]["n"] / sp["ours"]["warm_s"]) / (sp["mv"]["n"] / sp["mv"]["warm_s"])
        print(f"  ratio ours/math-verify: cold {cold_ratio:.2f}x, warm {warm_ratio:.2f}x")
        result["speed"] = sp
        result["speed_ratio"] = {"cold": cold_ratio, "warm": warm_ratio}
    (out / RESULT).write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
