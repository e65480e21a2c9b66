"""``mathreward metrics IN``: recompute the summary of an already rescored file (no verification)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mathreward.commands.rescore import add_column_options, column_overrides, parse_ks


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "metrics",
        help="recompute accuracy, pass@k, maj@k of a rescored file",
        description="Recompute the metrics of a file written by `mathreward rescore` from its per-response "
        "columns (correct, answer_group, status, method, judge, prm_score), without verifying again. "
        "A filtered output gives the metrics of what the filters kept.",
    )
    p.add_argument("input", type=Path, help="a rescored JSONL, Parquet or datasets folder")
    p.add_argument(
        "--k",
        type=parse_ks,
        default=None,
        help="k values for pass@k and maj@k (default: 1, powers of 2, and n)",
    )
    add_column_options(p)
    p.add_argument("-o", "--output", type=Path, default=None, help="also write the summary JSON here")
    p.add_argument("--report", type=Path, default=None, metavar="DIR", help="write PNG plots into DIR")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mathreward.rescore.errors import RescoreError
    from mathreward.rescore.file_accuracy import metrics_of_file
    from mathreward.rescore.io import DatasetError, atomic_write_text, dumps_json

    if not args.input.exists():
        sys.stderr.write(f"mathreward metrics: {args.input}: no such file or folder\n")
        return 2
    try:
        summary = metrics_of_file(
            args.input, ks=args.k, layout=args.layout, column_overrides=column_overrides(args)
        )
    except (RescoreError, DatasetError) as e:
        sys.stderr.write(f"mathreward metrics: {e}\n")
        return 2
    d = summary.to_dict()
    if args.output is not None:
        atomic_write_text(args.output, dumps_json(d, indent=2) + "\n")
    if args.report is not None:
        from mathreward.rescore.report import write_report

        for path in write_report(summary, args.report):
            sys.stderr.write(f"mathreward metrics: wrote {path}\n")
    sys.stdout.write(dumps_json(d, indent=2) + "\n" if args.json else summary.format_table() + "\n")
    return 0
