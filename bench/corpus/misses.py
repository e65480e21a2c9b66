"""The families of this verifier's misses on the corpus, as Markdown, from the last measure run.

    python -m bench.corpus.misses [--out PATH]

Reads bench/corpus/data/verdicts.jsonl (written by ``python -m bench.corpus.measure``) and groups
every right answer not read as correct, and every wrong answer accepted, into named families (rules
below, first match wins), grouped by answer convention, ordered by count, each with up to three
verbatim response tails.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.corpus import DATA_DIR, load
from bench.corpus.measure import RESULT, VERDICTS, out_dir

Row = dict[str, Any]
EXAMPLES = 3
TAIL = 260

FAMILIES: list[tuple[str, Callable[[Row, Row], bool]]] = [
    (
        '"the answer is ..." with an ellipsis read as an empty answer',
        lambda v, r: v["ours"]["reason"].startswith("the answer is empty"),
    ),
    (
        'answer given as an option letter with its text ("A (Yes)", "(D) Rs. 750", "**(B)**, No")',
        lambda v, r: "choice" in v["ours"]["reason"] or "the text of options" in v["ours"]["reason"],
    ),
    (
        "rounded decimal reference vs a more precise or exact answer (0.03045 vs 0.0304, 17/3 vs 5.667)",
        lambda v, r: (
            "decimal approximation" in v["ours"]["reason"] or _close(v["ours"]["pred"], r["reference"])
        ),
    ),
    (
        "another number of the response read as the answer (not the one it states last)",
        lambda v, r: "!=" in v["ours"]["reason"],
    ),
    (
        "a percent for a fraction reference (23% vs 0.23)",
        lambda v, r: (
            "%" in r["response"][-80:]
            and not r["reference"].endswith("%")
            and v["ours"]["status"] != "correct"
            and _is_fraction(r["reference"])
        ),
    ),
    (
        'marker followed by a whole sentence read as the answer ("Answer:\\nJanet makes $18 every day...", '
        '"the answer is that there are 20 ...")',
        lambda v, r: (
            v["ours"]["status"] == "incorrect"
            and bool(
                re.search(
                    r"text is not a number|parts, the reference one|chain of equalities|relation is not",
                    v["ours"]["reason"],
                )
            )
        ),
    ),
    (
        'bold final answer in a sentence ("... = **18 feet**.")',
        lambda v, r: v["ours"]["status"] == "no_answer" and "**" in r["response"][-300:],
    ),
    (
        'concluding sentence with no marker ("Therefore, the total ... is $95,200.")',
        lambda v, r: v["ours"]["status"] == "no_answer",
    ),
    ("other", lambda v, r: True),
]


def _number(text: str | None) -> float | None:
    if not text:
        return None
    cleaned = re.sub(r"[$,\s]|\\!|(?:m|meters|degrees)$", "", text)
    frac = re.fullmatch(r"\\frac\{(-?\d+)\}\{(\d+)\}|(-?\d+)/(\d+)", cleaned)
    try:
        if frac:
            num, den = (frac.group(1), frac.group(2)) if frac.group(1) else (frac.group(3), frac.group(4))
            return int(num) / int(den)
        return float(cleaned)
    except (ValueError, ZeroDivisionError):
        return None


def _close(pred: str | None, ref: str) -> bool:
    """Two numbers within 5% of each other: a rounding question, not a misread."""
    a, b = _number(pred), _number(ref)
    return a is not None and b is not None and a != b and abs(a - b) <= 0.05 * max(abs(b), 1e-12)


def _is_fraction(ref: str) -> bool:
    try:
        return 0 < abs(float(ref)) < 1
    except ValueError:
        return False


def family_of(v: Row, r: Row) -> str:
    for name, pred in FAMILIES:
        if pred(v, r):
            return name
    return "other"


def tail(text: str) -> str:
    text = text.rstrip()
    return text if len(text) <= TAIL else "…" + text[-TAIL:]


def render(verdicts: list[Row], rows: dict[str, Row], measured: Row | None) -> str:
    misses: dict[str, dict[str, list[tuple[Row, Row]]]] = defaultdict(lambda: defaultdict(list))
    fps: list[tuple[Row, Row]] = []
    for v in verdicts:
        r = rows[v["id"]]
        if v["label"] and not v["ours"]["correct"]:
            misses[v["convention"]][family_of(v, r)].append((v, r))
        elif not v["label"] and v["ours"]["correct"]:
            fps.append((v, r))
    out: list[str] = ["# Misses of our verifier on the real-response corpus", ""]
    if measured:
        t = measured["total"]
        out.append(
            f"Measured {measured['date']} with the verifier code at `{measured['verifier_code']}` "
            f"(`python -m bench.corpus.measure`): {t['right']} right answers of {t['n']}; ours reads "
            f"{t['ours_tp']} ({100 * t['ours_tp'] / t['right']:.1f}%), false positives {t['ours_fp']}; "
            f"math-verify reads {t['mv_tp']} ({100 * t['mv_tp'] / t['right']:.1f}%), "
            f"false positives {t['mv_fp']}."
        )
        out.append("")
    out.append(
        "Regenerate (in the corpus checkout): `python -m bench.corpus.measure --no-speed "
        "[--verifier-path DIR --tag T] && python -m bench.corpus.misses [--tag T] --out <this file>`."
    )
    out.append("Rows are corpus ids (`python -m bench.corpus.show ID` prints one whole). Tails are verbatim.")
    out.append("")
    out.append(f"## False positives (wrong answers accepted): {len(fps)}")
    for v, r in fps:
        out.append(
            f"- `{v['id']}` ref `{r['reference']}`, ours read `{v['ours']['pred']}` ({v['ours']['reason']}); "
            f"why wrong: {r.get('override') or 'source label'}"
        )
        out.append(f"  > {tail(r['response'])!r}")
    out.append("")
    total = sum(len(x) for fam in misses.values() for x in fam.values())
    out.append(f"## Right answers not read as correct: {total}, by convention then family")
    for conv, fams in sorted(misses.items(), key=lambda kv: -sum(len(x) for x in kv[1].values())):
        n = sum(len(x) for x in fams.values())
        out.append("")
        out.append(f"### convention `{conv}`: {n}")
        for fam, items in sorted(fams.items(), key=lambda kv: -len(kv[1])):
            srcs: dict[str, int] = defaultdict(int)
            for v, _ in items:
                srcs[v["source"]] += 1
            out.append("")
            out.append(f"**{fam}**: {len(items)} ({', '.join(f'{k} {c}' for k, c in sorted(srcs.items()))})")
            for v, r in items[:EXAMPLES]:
                out.append(
                    f"- `{v['id']}` ref `{r['reference']}`; ours: {v['ours']['status']} "
                    f"pred={v['ours']['pred']!r} ({v['ours']['reason']})"
                )
                out.append(f"  > {tail(r['response'])!r}")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DATA_DIR / "misses.md")
    ap.add_argument("--tag", help="read the run written with measure --tag")
    args = ap.parse_args(argv)
    rows = {r["id"]: r for r in load()}
    src = out_dir(args.tag)
    with (src / VERDICTS).open(encoding="utf-8") as f:
        verdicts = [json.loads(line) for line in f if line.strip()]
    result = src / RESULT
    measured = json.loads(result.read_text(encoding="utf-8")) if result.exists() else None
    args.out.write_text(render(verdicts, rows, measured), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
