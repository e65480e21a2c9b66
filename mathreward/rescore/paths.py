"""Where a run writes besides its output: the summary, the rejects file and the state folder."""

from __future__ import annotations

from pathlib import Path


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".jsonl", ".ndjson", ".json", ".parquet", ".pq"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def summary_path_for(output: Path) -> Path:
    return output.with_name(_stem(output) + ".summary.json")


def rejects_path_for(output: Path) -> Path:
    return output.with_name(_stem(output) + ".rejects.jsonl")


def state_dir_for(output: Path) -> Path:
    return output.with_name(output.name + ".rescore-state")
