"""Phase 2: the parts read in order, finished row by row, and streamed into the output atomically.

Only once the output is in place are the rejects file, the summary JSON and the plots written and the
state folder removed.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any, TextIO

from mathreward.rescore import io as rio
from mathreward.rescore.accuracy import Summary
from mathreward.rescore.columns import Columns
from mathreward.rescore.exports import Exporter
from mathreward.rescore.options import RescoreOptions
from mathreward.rescore.paths import rejects_path_for, summary_path_for
from mathreward.rescore.rows import default_ks, finish_row
from mathreward.rescore.schema import PRM_COLUMNS, RESPONSE_COLUMNS, output_schema
from mathreward.rescore.state import RunState

if TYPE_CHECKING:
    import pyarrow as pa


def assemble_output(
    opts: RescoreOptions,
    cols: Columns,
    state: RunState,
    cp: dict[str, Any],
    out_fmt: rio.Format,
    in_fmt: rio.Format,
    p_schema: pa.Schema | None,
    with_prm: bool,
    stream: TextIO,
) -> Summary:
    for stale in opts.output.parent.glob(f".{opts.output.name}.*.tmp"):  # a run killed while writing
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    ks = tuple(sorted(set(opts.ks))) if opts.ks else default_ks(cp["max_n"])
    summary = Summary(ks=ks)
    summary.rejected = cp["rejected"]
    summary.elapsed_s = cp["scoring_s"]
    schema = output_schema(p_schema, ks, with_prm) if p_schema is not None else None
    writer = rio.OutputWriter(opts.output, out_fmt, schema)
    exporter = Exporter(opts.export, opts.filters, cols) if opts.export is not None else None
    kept_responses = 0
    k_over: dict[int, int] = {}  # requested k -> problems with fewer responses than k
    try:
        for i in range(cp["chunks_done"]):
            part = state.part(i)
            rows = rio.read_jsonl(part) if state.part_ext == "jsonl" else rio.read_parquet_part(part)
            out_rows = []
            for row in rows:
                if opts.ks:
                    c = row.get("correct")
                    n = len(c) if isinstance(c, list | tuple) else 1
                    for k in ks:
                        if k > n:
                            k_over[k] = k_over.get(k, 0) + 1
                done = finish_row(
                    row,
                    cols=cols,
                    ks=ks,
                    with_prm=with_prm,
                    summary=summary,
                    filters=opts.filters,
                    exporter=exporter,
                )
                if done is not None:
                    out_rows.append(done)
                    c = done["correct"]
                    kept_responses += len(c) if isinstance(c, list | tuple) else 1
            writer.write(out_rows)
        summary.kept_rows = writer.rows
        summary.kept_responses = kept_responses
        features = None
        if out_fmt == "hf" and in_fmt == "hf":
            added = set(RESPONSE_COLUMNS + PRM_COLUMNS)
            features = {k: v for k, v in rio.hf_features(opts.input).items() if k not in added}
        writer.commit(features)
        export_summary = exporter.commit() if exporter is not None else None
    except BaseException:
        writer.abort()
        if exporter is not None:
            exporter.abort()
        raise
    warnings = [
        f"k={k} exceeds the responses of {count} problems: their pass@{k} and maj@{k} are empty"
        for k, count in sorted(k_over.items())
    ]
    for line in warnings:
        stream.write(f"rescore: warning: {line}\n")
    if export_summary is not None:
        stream.write(
            f"rescore: wrote {export_summary['rows']} {export_summary['kind']} rows to "
            f"{export_summary['path']}\n"
        )

    rejects_path = opts.rejects or rejects_path_for(opts.output)
    rejects: list[str] = []
    for i in range(cp["chunks_done"]):
        rp = state.rejects_part(i)
        if rp.exists():
            rejects.extend(line for line in rp.read_text(encoding="utf-8").split("\n") if line.strip())
    if rejects or rejects_path.exists():
        rio.atomic_write_text(rejects_path, "".join(line + "\n" for line in rejects))
    if rejects:
        stream.write(f"rescore: {len(rejects)} rows rejected, reasons in {rejects_path}\n")

    result = summary.to_dict()
    result["input"] = str(opts.input)
    result["output"] = {**result.get("output", {}), "path": str(opts.output), "format": out_fmt}
    result["columns"] = cols.to_dict()
    result["filters"] = opts.filters.describe()
    result["rejects_path"] = str(rejects_path) if rejects else None
    result["warnings"] = warnings
    if export_summary is not None:
        result["export"] = export_summary
    summary_path = opts.summary or summary_path_for(opts.output)
    rio.atomic_write_text(summary_path, rio.dumps_json(result, indent=2) + "\n")
    if opts.report_dir is not None:
        from mathreward.rescore.report import write_report

        for p in write_report(summary, opts.report_dir):
            stream.write(f"rescore: wrote {p}\n")
    shutil.rmtree(state.root, ignore_errors=True)
    return summary
