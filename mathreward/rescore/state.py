"""The state folder of one run: part files, rejects parts, and the checkpoint that names the complete ones.

A checkpoint records the run's fingerprint (input file, columns, engine settings), how many chunks and
input rows are done, and the running counts. A resumed run must have the same fingerprint; it deletes any
part past the checkpoint and goes on from the next input row.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, TextIO

from mathreward.rescore import io as rio
from mathreward.rescore.errors import RescoreError

STATE_VERSION = 2  # 2: answer groups by verifier.group_answers (canonical keys), not pairwise verify


def file_fingerprint(path: Path) -> dict[str, Any]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return {
            "path": str(path.resolve()),
            "size": sum(p.stat().st_size for p in files),
            "mtime_ns": max((p.stat().st_mtime_ns for p in files), default=0),
        }
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class RunState:
    """The state folder of one run: part files, rejects parts and the checkpoint."""

    def __init__(self, root: Path, part_ext: str) -> None:
        self.root = root
        self.part_ext = part_ext
        self.checkpoint_path = root / "checkpoint.json"

    def part(self, i: int) -> Path:
        return self.root / f"part-{i:06d}.{self.part_ext}"

    def rejects_part(self, i: int) -> Path:
        return self.root / f"rejects-{i:06d}.jsonl"

    def load(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.exists():
            return None
        data: dict[str, Any] = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        return data

    def save(self, cp: dict[str, Any]) -> None:
        rio.atomic_write_text(self.checkpoint_path, json.dumps(cp, indent=1, sort_keys=True))

    def drop_parts_from(self, first: int) -> None:
        """Delete parts (and stray temp files) that the checkpoint does not count."""
        for p in self.root.iterdir():
            if p.name.startswith("."):
                p.unlink()
                continue
            stem = p.name.split(".", 1)[0]
            if stem.startswith(("part-", "rejects-")) and int(stem.split("-", 1)[1]) >= first:
                p.unlink()

    def open(
        self, fingerprint: dict[str, Any], chunk_size: int, resume: bool, stream: TextIO
    ) -> dict[str, Any]:
        """The checkpoint to go on from: the interrupted run's with ``resume`` (same fingerprint), else a
        fresh one in an emptied folder."""
        cp = self.load() if self.root.exists() else None
        if cp is not None and resume:
            diff = sorted(
                k
                for k in set(fingerprint) | set(cp["fingerprint"])
                if fingerprint.get(k) != cp["fingerprint"].get(k)
            )
            if diff:
                raise RescoreError(
                    f"cannot resume: {', '.join(diff)} changed since the interrupted run "
                    f"(state in {self.root}); run without --resume to start over"
                )
            stream.write(f"rescore: resuming at row {cp['rows_done']} ({cp['chunks_done']} chunks done)\n")
            self.drop_parts_from(cp["chunks_done"])
            return cp
        if self.root.exists():
            if not resume:
                stream.write(f"rescore: discarding the unfinished run in {self.root} (no --resume)\n")
            shutil.rmtree(self.root)
        elif resume:
            stream.write("rescore: nothing to resume; starting from the first row\n")
        self.root.mkdir(parents=True)
        cp = {
            "fingerprint": fingerprint,
            "chunk_size": chunk_size,
            "chunks_done": 0,
            "rows_done": 0,
            "responses": 0,
            "rejected": 0,
            "max_n": 0,
            "prm_failures": 0,
            "scoring_s": 0.0,
            "input_done": False,
        }
        self.save(cp)
        return cp
