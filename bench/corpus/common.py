"""Shared plumbing for the real-response corpus: where the pinned mirrors live, reading a file at a
pinned commit, and the record shape every source builds.

A source is a public GitHub repository pinned to one commit. The build reads it from a local git
directory (no network): either the snapshot the project's ``fetch`` tool leaves under
``/work/.mirror/<owner>+<name>/repo``, or a plain clone. Where to look, in order:

1. ``--mirrors DIR`` and ``$MATHREWARD_CORPUS_MIRRORS`` (folders, ``os.pathsep``-separated), each
   holding ``<owner>+<name>/repo``, ``<owner>+<name>``, ``<name>.git`` or ``<name>`` (a git directory
   or a clone);
2. only when neither is given: ``/work/.mirror`` (the fetch tool's folder).

A missing repository or commit raises :class:`SourceMissing` with the command that gets it.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_MIRRORS = Path("/work/.mirror")
ENV_MIRRORS = "MATHREWARD_CORPUS_MIRRORS"


class SourceMissing(RuntimeError):
    """A pinned source repository (or its pinned commit) is not on this machine."""


@dataclass(frozen=True)
class Pin:
    """One public repository at one commit."""

    repo: str  # owner/name
    commit: str  # 40 hex digits

    def how_to_get(self) -> str:
        owner, name = self.repo.split("/")
        return (
            f"get it with the fetch tool (github:{self.repo}) or:\n"
            f"  git clone https://github.com/{self.repo} $MIRRORS/{owner}+{name}/repo && "
            f"git -C $MIRRORS/{owner}+{name}/repo checkout {self.commit}\n"
            f"then point {ENV_MIRRORS} (or --mirrors) at $MIRRORS"
        )


@dataclass
class Record:
    """One real response with its reference and the source's own grader label."""

    source: str
    id: str
    question: str
    response: str
    reference: str
    source_label: bool  # what the source's own grader said
    label: bool = False  # the adjudicated label (source_label unless an override says otherwise)
    convention: str = ""  # how the response states its final answer (bench.corpus.conventions)
    override: str = ""  # the reason, when the adjudicated label differs from the source's
    meta: dict[str, Any] = field(default_factory=dict)  # model, file, dataset, ...

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def mirror_roots(extra: Path | None = None) -> list[Path]:
    roots: list[Path] = []
    if extra is not None:
        roots.append(extra)
    env = os.environ.get(ENV_MIRRORS)
    if env:
        roots.extend(Path(p) for p in env.split(os.pathsep) if p)
    return roots or [DEFAULT_MIRRORS]


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def find_git_dir(pin: Pin, extra: Path | None = None) -> Path:
    """The git directory holding ``pin``'s commit, or SourceMissing with how to get it."""
    owner, name = pin.repo.split("/")
    tried: list[Path] = []
    for root in mirror_roots(extra):
        for cand in (
            root / f"{owner}+{name}" / "repo",
            root / f"{owner}+{name}",
            root / f"{name}.git",
            root / name,
        ):
            for gd in (cand, cand / ".git"):
                if not _is_git_dir(gd):
                    continue
                tried.append(gd)
                ok = subprocess.run(
                    ["git", "--git-dir", str(gd), "cat-file", "-e", f"{pin.commit}^{{commit}}"],
                    capture_output=True,
                )
                if ok.returncode == 0:
                    return gd
    where = ", ".join(str(r) for r in mirror_roots(extra))
    found = f" (found {', '.join(map(str, tried))} but not commit {pin.commit})" if tried else ""
    raise SourceMissing(f"source {pin.repo}@{pin.commit[:12]} is not in {where}{found};\n{pin.how_to_get()}")


def read_at(pin: Pin, path: str, extra: Path | None = None) -> str:
    """The text of ``path`` at the pinned commit."""
    gd = find_git_dir(pin, extra)
    out = subprocess.run(
        ["git", "--git-dir", str(gd), "show", f"{pin.commit}:{path}"],
        capture_output=True,
    )
    if out.returncode != 0:
        raise SourceMissing(
            f"{pin.repo}@{pin.commit[:12]} has no {path}: {out.stderr.decode(errors='replace').strip()}"
        )
    return out.stdout.decode("utf-8")


def read_json_at(pin: Pin, path: str, extra: Path | None = None) -> Any:
    return json.loads(read_at(pin, path, extra))


def read_jsonl_at(pin: Pin, path: str, extra: Path | None = None) -> list[Any]:
    return [json.loads(line) for line in read_at(pin, path, extra).splitlines() if line.strip()]


def number_text(value: Any) -> str:
    """A reference number as a dataset would write it: 18.0 -> "18", 0.25 -> "0.25"."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def spread(items: list[Any], n: int) -> list[Any]:
    """``n`` items spread evenly over ``items`` (deterministic; all of them when n >= len)."""
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]
