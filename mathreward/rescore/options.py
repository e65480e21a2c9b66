"""What one rescoring run is asked to do: paths, columns, k values, filters, resume, progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathreward.rescore.exports import ExportOptions
from mathreward.rescore.filters import FilterOptions


@dataclass(frozen=True)
class RescoreOptions:
    input: Path
    output: Path
    layout: str = "auto"  # auto | verl | plain
    column_overrides: dict[str, str | None] = field(default_factory=dict)  # role -> dotted path
    ks: tuple[int, ...] | None = None  # pass@k / maj@k values; None: 1, powers of 2 and n
    chunk_size: int = 64  # rows per chunk (the unit of checkpointing)
    filters: FilterOptions = field(default_factory=FilterOptions)
    rejects: Path | None = None  # default: OUT.rejects.jsonl
    summary: Path | None = None  # default: OUT.summary.json
    report_dir: Path | None = None
    resume: bool = False
    with_prm: bool = False  # step scores requested (the scorer is passed to run_rescore)
    prm_aggregate: str = "min"  # how step scores make one score per response: one of prm.scores.AGGREGATES
    step_mode: str = "auto"  # how a response is cut into steps (the modes of prm.split_steps)
    # engine settings that must be the same when a run is resumed
    fingerprint_extra: dict[str, Any] = field(default_factory=dict)
    progress: str = "auto"  # auto | bar | log | none
    log_every_s: float = 10.0
    limit: int | None = None  # rescore only the first N rows (a quick look at a big file)
    export: ExportOptions | None = None  # also write TRL's SFT or DPO dataset (rescore.exports)
