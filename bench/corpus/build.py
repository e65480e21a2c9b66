"""Rebuild the real-response corpus from the pinned sources into bench/corpus/data/corpus.jsonl.

    python -m bench.corpus.build [--mirrors DIR] [--only SOURCE ...] [--out PATH]

Each source module (bench/corpus/sources/) reads its files at its pinned commit from a local git
mirror (no network; see bench/corpus/common.py for where it looks and how to get one). The
adjudicated label is the source's own label unless the module's OVERRIDES says otherwise (with the
reason). A missing source stops the build with the command that gets it.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

from bench.corpus import CORPUS
from bench.corpus.common import Record, SourceMissing
from bench.corpus.conventions import classify
from bench.corpus.sources import bbh, mathvista, mmlu_pro, plan_and_solve, rereading, tabmwp, theoremqa

SOURCES: dict[str, ModuleType] = {
    m.NAME: m for m in (rereading, plan_and_solve, bbh, mathvista, theoremqa, tabmwp, mmlu_pro)
}


def build_source(module: ModuleType, mirrors: Path | None) -> list[Record]:
    records: list[Record] = module.build(mirrors)
    seen: set[str] = set()
    for rec in records:
        if rec.id in seen:
            raise ValueError(f"{module.NAME}: duplicate id {rec.id}")
        seen.add(rec.id)
        rec.convention = classify(rec.response)
        rec.label = rec.source_label
        if rec.id in module.OVERRIDES:
            label, why = module.OVERRIDES[rec.id]
            rec.label, rec.override = label, why
    unknown = set(module.OVERRIDES) - seen
    if unknown:
        raise ValueError(f"{module.NAME}: OVERRIDES name ids the build did not make: {sorted(unknown)[:5]}")
    return records


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mirrors", type=Path, default=None, help="folder holding the source mirrors")
    ap.add_argument("--only", nargs="*", choices=sorted(SOURCES), help="build only these sources")
    ap.add_argument("--out", type=Path, default=CORPUS)
    args = ap.parse_args(argv)

    records: list[Record] = []
    for name, module in SOURCES.items():
        if args.only and name not in args.only:
            continue
        try:
            got = build_source(module, args.mirrors)
        except SourceMissing as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"{name:<16} {len(got):>5} responses  {module.PIN.repo}@{module.PIN.commit[:12]}")
        records.extend(got)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(rec.to_json() + "\n")
    tmp.replace(args.out)
    conv = Counter(r.convention for r in records)
    print(f"total            {len(records):>5} responses -> {args.out}")
    print("conventions: " + ", ".join(f"{k} {v}" for k, v in conv.most_common()))
    print(
        f"labels: {sum(r.label for r in records)} right, {sum(not r.label for r in records)} wrong; "
        f"{sum(bool(r.override) for r in records)} overridden"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
