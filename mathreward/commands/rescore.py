"""``mathreward rescore IN -o OUT``: grade every response of a dataset, add metrics, filter, summarise."""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from mathreward.commands.server_options import add_server_options, server_spec
from prm.scores import AGGREGATES

EPILOG = """\
column defaults (each can be set by hand; --layout auto tells the layout from the first row):
  verl:  reference reward_model.ground_truth, question extra_info.question (else the user turn
         of prompt), responses responses, id extra_info.index, source data_source
  plain: reference answer, question problem, responses responses (or response), id id, source source

examples:
  mathreward rescore fixtures/datasets/sample.jsonl -o out.jsonl
  mathreward rescore gen.parquet -o sft.parquet --keep-correct --max-pass-rate 0.75
  mathreward rescore gen.parquet -o out.parquet --min-correct 1 --max-pass-rate 1/2 --export dpo
  mathreward rescore gen.parquet -o out.parquet --k 1,4,8 --report report/ --resume
"""


def parse_ks(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--k takes comma-separated integers, got {text!r}") from e
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"--k takes integers >= 1, got {text!r}")
    return ks


def _rate(text: str) -> Fraction:
    from mathreward.rescore.pass_range import parse_rate

    try:
        return parse_rate(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from e
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return v


def add_column_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("columns (dotted paths into nested fields)")
    g.add_argument(
        "--layout",
        choices=("auto", "verl", "plain"),
        default="auto",
        help="column defaults to use (default: auto, told from the first row)",
    )
    g.add_argument("--ref-col", help="the reference answer")
    g.add_argument("--question-col", help="the question (a string, or a chat whose last user turn is used)")
    g.add_argument("--responses-col", help="one response (string) or N responses (list of strings)")
    g.add_argument("--id-col", help="the row id, for the rejects file")
    g.add_argument("--source-col", help="the data source, for accuracy by source")


def column_overrides(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "reference": args.ref_col,
        "question": args.question_col,
        "responses": args.responses_col,
        "id": args.id_col,
        "source": args.source_col,
    }


def register(subparsers: Any) -> None:
    from mathreward.rescore.exports import ExportOptions
    from mathreward.service.config import default_of

    p = subparsers.add_parser(
        "rescore",
        help="grade a dataset of sampled solutions: verdicts, pass@k, maj@k, filters, report",
        description="Grade every response of a JSONL/Parquet/datasets file against its reference, "
        "add per-response verdicts and per-problem metrics, filter, and print a summary.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", type=Path, help="JSONL, Parquet, or a datasets save_to_disk folder")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output path; same format as the input (a .parquet name writes Parquet)",
    )
    add_column_options(p)
    p.add_argument(
        "--k",
        type=parse_ks,
        default=None,
        help="k values for pass@k and maj@k, e.g. 1,4,8 (default: 1, powers of 2, and n)",
    )

    e = p.add_argument_group("engines")
    e.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="where verification runs: this machine's process pool, or CPU actors on Ray Data",
    )
    e.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="with --engine ray: a running cluster (auto on one of its nodes, or HOST:6379 of its head); "
        "default: start a local Ray",
    )
    e.add_argument(
        "--ray-actors",
        type=int,
        default=None,
        metavar="N",
        help="with --engine ray: actors that verify, one CPU each (default: one per CPU of the cluster; "
        "with --prm on GPUs, at most one per --ray-prm-gpus share of the cluster's GPUs)",
    )
    e.add_argument(
        "--ray-prm-gpus",
        type=float,
        default=None,
        metavar="N",
        help="with --engine ray and --prm: GPUs each actor asks for, its PRM loaded once on them "
        "(default: 1; 0.5: two actors share a GPU; 0: the PRM runs on the actor's CPU)",
    )
    e.add_argument("--workers", type=int, default=None, help="verifier processes (default: all cores)")
    e.add_argument("--timeout-s", type=float, default=None, help="time limit per comparison, seconds")
    add_server_options(e)
    e.add_argument(
        "--connect-timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the --server to answer (default: 30)",
    )
    e.add_argument("--judge-url", help="OpenAI-compatible base URL of the LLM second opinion")
    e.add_argument("--judge-model", help="the judge model's name (with --judge-url)")
    e.add_argument(
        "--prm",
        metavar="PATH",
        help="score steps with this PRM (a model folder); with --server, `server` uses the server's PRM",
    )
    e.add_argument(
        "--prm-aggregate",
        choices=AGGREGATES,
        default="min",
        help="how step scores make one score per response (default: min)",
    )
    e.add_argument(
        "--step-mode",
        choices=("auto", "blank_lines", "step_k", "lines"),
        default="auto",
        help="how a response is split into steps (default: auto)",
    )
    e.add_argument("--device", default="auto", help="PRM device (default: auto)")

    f = p.add_argument_group("filters (applied to the output; the summary covers every graded row)")
    rf = f.add_mutually_exclusive_group()
    rf.add_argument(
        "--keep-correct", action="store_true", help="keep only correct responses (rejection sampling for SFT)"
    )
    rf.add_argument(
        "--balanced-pairs",
        action="store_true",
        help="keep m correct and m incorrect responses, m = min of the two (preference data)",
    )
    f.add_argument(
        "--min-pass-rate",
        type=_rate,
        default=None,
        help="keep problems with pass rate >= this (exact: 0.25, 1/4 or 25%%)",
    )
    f.add_argument(
        "--max-pass-rate",
        type=_rate,
        default=None,
        help="keep problems with pass rate <= this (exact: 0.5, 1/2 or 50%%)",
    )
    f.add_argument(
        "--min-correct",
        type=_count,
        default=None,
        help="keep problems with at least this many right samples (1: solved at least once)",
    )
    f.add_argument(
        "--max-correct", type=_count, default=None, help="keep problems with at most this many right samples"
    )

    x = p.add_argument_group("export for TRL (after the problem filters; see docs/trainers/exports.md)")
    x.add_argument(
        "--export",
        choices=("sft", "dpo"),
        default=None,
        help="also write prompt/completion rows of the right responses (sft) or "
        "prompt/chosen/rejected pairs of right and wrong ones (dpo)",
    )
    x.add_argument(
        "--export-path", type=Path, default=None, help="the export file (default: OUT.<kind>.jsonl)"
    )
    x.add_argument(
        "--pairs-per-problem",
        type=int,
        default=None,
        help=f"dpo: at most this many pairs (default: {default_of(ExportOptions, 'pairs_per_problem')})",
    )
    x.add_argument(
        "--export-seed",
        type=int,
        default=None,
        help=f"dpo: seed of the wrong-response draw (default: {default_of(ExportOptions, 'seed')})",
    )
    f.add_argument(
        "--majority-filter",
        action="store_true",
        help="drop problems whose samples all give the same answer or all different answers",
    )

    o = p.add_argument_group("run")
    o.add_argument("--resume", action="store_true", help="continue an interrupted run of the same command")
    o.add_argument("--chunk-size", type=int, default=64, help="rows per checkpointed chunk (default: 64)")
    o.add_argument("--limit", type=int, default=None, help="rescore only the first N rows")
    o.add_argument("--rejects", type=Path, default=None, help="rejected rows (default: OUT.rejects.jsonl)")
    o.add_argument("--summary", type=Path, default=None, help="summary JSON (default: OUT.summary.json)")
    o.add_argument("--report", type=Path, default=None, metavar="DIR", help="write PNG plots into DIR")
    o.add_argument(
        "--progress",
        choices=("auto", "bar", "log", "none"),
        default="auto",
        help="progress bar on a terminal, log lines otherwise (default: auto)",
    )
    o.add_argument("--log-every", type=float, default=10.0, help="seconds between log lines (default: 10)")
    o.add_argument("--json", action="store_true", help="print the summary as JSON instead of a table")
    o.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=run)


def _verify_config(args: argparse.Namespace) -> Any:
    from verifier import VerifyConfig

    kw: dict[str, Any] = {}
    if args.timeout_s is not None:
        kw["timeout_s"] = args.timeout_s
    if args.judge_url:
        from verifier.judge import JudgeConfig

        jkw: dict[str, Any] = {"base_url": args.judge_url}
        if args.judge_model:
            jkw["model"] = args.judge_model
        kw["judge"] = JudgeConfig(**jkw)
    return VerifyConfig(**kw)


def _close(backends: list[Any]) -> None:
    for backend in backends:
        backend.close()


def run(args: argparse.Namespace) -> int:
    from mathreward.backend import PRM_SERVICE, Backend, BackendError, LocalBackend, RemoteBackend
    from mathreward.rescore.columns import ColumnError
    from mathreward.rescore.errors import RescoreError
    from mathreward.rescore.filters import FilterOptions
    from mathreward.rescore.io import DatasetError
    from mathreward.rescore.options import RescoreOptions
    from mathreward.rescore.ray_engine import RayEngine
    from mathreward.rescore.run import configure_logging, run_rescore

    configure_logging(args.verbose)
    err = sys.stderr
    if args.chunk_size < 1:
        err.write("mathreward rescore: --chunk-size must be >= 1\n")
        return 2
    if args.workers is not None and args.workers < 1:
        err.write("mathreward rescore: --workers must be >= 1\n")
        return 2
    if args.limit is not None and args.limit < 1:
        err.write("mathreward rescore: --limit must be >= 1 (leave it out to rescore every row)\n")
        return 2
    export_flags = [
        flag
        for flag, value in (
            ("--export-path", args.export_path),
            ("--pairs-per-problem", args.pairs_per_problem),
            ("--export-seed", args.export_seed),
        )
        if value is not None
    ]
    if export_flags and not args.export:
        err.write(f"mathreward rescore: {', '.join(export_flags)} go with --export sft|dpo\n")
        return 2
    if args.judge_model and not args.judge_url:
        err.write("mathreward rescore: --judge-model needs --judge-url\n")
        return 2
    try:
        spec = server_spec(args)
    except ValueError as e:
        err.write(f"mathreward rescore: {e}\n")
        return 2
    if args.server and (args.judge_url or args.timeout_s is not None or args.workers is not None):
        err.write(
            "mathreward rescore: with --server, the judge, time limit and workers are the server's "
            "settings (start `mathreward serve` with them)\n"
        )
        return 2
    if args.engine == "ray" and (args.server or args.prm == "server" or args.workers is not None):
        err.write(
            "mathreward rescore: --engine ray verifies in Ray actors (one process each): it does not "
            "take --server, --prm server or --workers (use --ray-actors)\n"
        )
        return 2
    if args.engine != "ray" and (args.ray_address or args.ray_actors is not None):
        err.write("mathreward rescore: --ray-address and --ray-actors go with --engine ray\n")
        return 2
    if args.ray_prm_gpus is not None and (args.engine != "ray" or not args.prm):
        err.write("mathreward rescore: --ray-prm-gpus goes with --engine ray and --prm PATH\n")
        return 2
    if args.ray_prm_gpus is not None and not args.ray_prm_gpus >= 0:
        err.write("mathreward rescore: --ray-prm-gpus must be >= 0\n")
        return 2
    if args.engine == "ray" and args.prm and not Path(args.prm).is_dir():
        # the actors load it (at this path on every node); a missing folder is a start-up error here
        err.write(f"mathreward rescore: --prm {args.prm}: no such model folder\n")
        return 2
    if args.ray_actors is not None and args.ray_actors < 1:
        err.write("mathreward rescore: --ray-actors must be >= 1\n")
        return 2
    if args.prm == "server" and not args.server:
        err.write("mathreward rescore: --prm server needs --server\n")
        return 2
    if not args.input.exists():
        err.write(f"mathreward rescore: {args.input}: no such file or folder\n")
        return 2
    try:
        filters = FilterOptions(
            keep_correct=args.keep_correct,
            min_pass_rate=args.min_pass_rate,
            max_pass_rate=args.max_pass_rate,
            majority_filter=args.majority_filter,
            balanced_pairs=args.balanced_pairs,
            min_correct=args.min_correct,
            max_correct=args.max_correct,
        )
        export = None
        if args.export:
            from mathreward.rescore.exports import ExportOptions, default_export_path

            given = {
                name: value
                for name, value in (("pairs_per_problem", args.pairs_per_problem), ("seed", args.export_seed))
                if value is not None
            }
            export = ExportOptions(
                kind=args.export,
                path=args.export_path or default_export_path(args.output, args.export),
                **given,
            )
    except ValueError as e:
        err.write(f"mathreward rescore: {e}\n")
        return 2

    engine: Backend | RayEngine
    remote: RemoteBackend | None = None
    scorer: Backend | None = None
    opened: list[Backend] = []  # closed on the way out, however the run ends
    fingerprint: dict[str, Any] = {}
    try:
        if spec is not None:
            engine = remote = RemoteBackend(spec)
            opened.append(remote)
            remote.wait_ready("", timeout=args.connect_timeout)
            remote.verify_batch([("1", "1")])  # the health probe needs no token: this call does
        else:
            config = _verify_config(args)
            fingerprint["judge"] = [args.judge_url, args.judge_model] if args.judge_url else None
            fingerprint["timeout_s"] = config.timeout_s
            if args.engine == "ray":
                import ray.data  # noqa: F401  (a missing extra is a start-up error, with the install hint)

                engine = RayEngine(
                    config,
                    address=args.ray_address,
                    actors=args.ray_actors,
                    prm_model=str(Path(args.prm).resolve()) if args.prm else None,
                    prm_device=args.device,
                    prm_gpus=1.0 if args.ray_prm_gpus is None else args.ray_prm_gpus,
                )
            else:
                engine = local = LocalBackend(config, workers=args.workers)
                opened.append(local)
        if args.prm == "server":
            assert remote is not None
            # the server loads its PRM in the background: wait until its health reads SERVING
            try:
                remote.wait_ready(PRM_SERVICE, timeout=120.0)
            except BackendError as e:
                raise BackendError(f"{e} (was it started with --prm-model?)") from e
            scorer = remote
        elif args.prm and args.engine != "ray":  # on Ray, each actor loads it
            local_prm = LocalBackend(prm_model=args.prm, device=args.device)
            local_prm.prm()  # load now: a bad model path is a start-up error
            scorer = local_prm
        if args.prm:
            fingerprint["prm_model"] = args.prm
            fingerprint["step_mode"] = args.step_mode
    except ImportError as e:
        _close(opened)
        err.write(f"mathreward rescore: {e}; install the extras: pip install 'mathreward[all,ray]'\n")
        return 2
    except Exception as e:  # a bad model path, an unreachable server: one clear line, no traceback
        _close(opened)
        err.write(f"mathreward rescore: cannot start the engines: {type(e).__name__}: {e}\n")
        return 2

    opts = RescoreOptions(
        input=args.input,
        output=args.output,
        layout=args.layout,
        column_overrides=column_overrides(args),
        ks=args.k,
        chunk_size=args.chunk_size,
        filters=filters,
        rejects=args.rejects,
        summary=args.summary,
        report_dir=args.report,
        resume=args.resume,
        with_prm=bool(args.prm),
        prm_aggregate=args.prm_aggregate,
        step_mode=args.step_mode,
        fingerprint_extra=fingerprint,
        progress=args.progress,
        log_every_s=args.log_every,
        limit=args.limit,
        export=export,
    )
    try:
        summary = run_rescore(opts, engine, scorer)
    except (RescoreError, ColumnError, DatasetError) as e:
        err.write(f"mathreward rescore: {e}\n")
        return 2
    except KeyboardInterrupt:
        err.write("mathreward rescore: interrupted; continue with the same command and --resume\n")
        return 130
    except Exception as e:  # an engine failure mid-run: the finished chunks are kept for --resume
        if args.verbose:
            import traceback

            traceback.print_exc()
        err.write(
            f"mathreward rescore: failed: {type(e).__name__}: {e}\n"
            "the finished chunks are kept: continue with the same command and --resume\n"
        )
        return 1
    finally:
        _close(opened)
    if args.json:
        from mathreward.rescore.io import dumps_json

        sys.stdout.write(dumps_json(summary.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(summary.format_table() + "\n")
    return 0
