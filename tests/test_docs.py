"""The documentation: the site builds strictly, and the Python snippets in it run.

Every ```python block of README.md and docs/**/*.md runs, the blocks of one page in order in one fresh
interpreter (like a doctest session), from the repo root. A block that needs what a test machine does
not have (a GPU, model weights, a running endpoint) is marked by an HTML comment `<!-- notest: why -->`
on the line before its fence; the reason is required.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_NOTEST = re.compile(r"<!--\s*notest:\s*\S.*-->\s*$")


def snippets(page: Path) -> tuple[list[str], int]:
    """(runnable blocks in order, number of blocks marked notest)."""
    text = page.read_text(encoding="utf-8")
    runnable: list[str] = []
    skipped = 0
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S):
        prev_line = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if _NOTEST.search(prev_line):
            skipped += 1
        elif "notest" in prev_line:
            raise AssertionError(f"{page}: a notest marker needs a reason: {prev_line!r}")
        else:
            runnable.append(m.group(1))
    return runnable, skipped


def _with_code() -> list[Path]:
    return [page for page in PAGES if snippets(page)[0]]


@pytest.mark.parametrize("page", _with_code(), ids=lambda p: str(p.relative_to(ROOT)))
def test_python_snippets_run(page: Path, tmp_path: Path) -> None:
    blocks, _ = snippets(page)
    script = tmp_path / "page.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, f"{page.relative_to(ROOT)}: a snippet failed\n{proc.stderr[-3000:]}"


def test_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.fail("mkdocs is not installed: it is part of the test set-up ('.[test]')")
    proc = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
