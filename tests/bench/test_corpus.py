"""bench.corpus: the convention classifier, reading a pinned commit from a real local git mirror, and
the clear failures when a source or the built corpus is missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bench.corpus import load
from bench.corpus.build import SOURCES
from bench.corpus.build import main as build_main
from bench.corpus.common import ENV_MIRRORS, Pin, SourceMissing, find_git_dir, read_at, spread
from bench.corpus.conventions import classify
from bench.corpus.measure import Cell

ROOT = Path(__file__).resolve().parents[2]
CASES = [
    json.loads(line)
    for line in (ROOT / "fixtures" / "corpus_conventions.jsonl").read_text().splitlines()
    if line
]


@pytest.mark.parametrize("case", CASES, ids=[c["why"] for c in CASES])
def test_classify(case: dict[str, str]) -> None:
    assert classify(case["response"]) == case["convention"]


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
            "HOME": str(cwd),
            "PATH": "/usr/bin:/bin",
        },
    )
    return out.stdout.strip()


def test_read_at_reads_the_pinned_commit_not_the_newest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "mirrors" / "someone+outputs"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    (repo / "out.json").write_text('{"v": 1}')
    _git(repo, "add", "out.json")
    _git(repo, "commit", "-qm", "one")
    first = _git(repo, "rev-parse", "HEAD")
    (repo / "out.json").write_text('{"v": 2}')
    _git(repo, "commit", "-qam", "two")
    monkeypatch.setenv(ENV_MIRRORS, str(tmp_path / "mirrors"))
    pin = Pin("someone/outputs", first)
    assert find_git_dir(pin) == repo / ".git"
    assert json.loads(read_at(pin, "out.json")) == {"v": 1}
    with pytest.raises(SourceMissing, match=r"has no missing\.json"):
        read_at(pin, "missing.json")
    with pytest.raises(SourceMissing, match="but not commit"):
        find_git_dir(Pin("someone/outputs", "0" * 40))


def test_build_fails_with_the_command_that_gets_a_missing_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(ENV_MIRRORS, str(tmp_path))
    out = tmp_path / "corpus.jsonl"
    assert build_main(["--out", str(out)]) == 2
    err = capsys.readouterr().err
    first = next(iter(SOURCES.values())).PIN
    assert f"git clone https://github.com/{first.repo}" in err and first.commit in err
    assert not out.exists()


def test_load_names_the_build_command_when_the_corpus_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"python -m bench\.corpus\.build"):
        load(tmp_path / "absent.jsonl")


def test_every_override_names_a_reason() -> None:
    for module in SOURCES.values():
        for rid, (label, why) in module.OVERRIDES.items():
            assert rid.startswith(module.NAME + "/") and isinstance(label, bool) and len(why) > 10, rid


def test_spread_is_even_and_deterministic() -> None:
    assert spread(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert spread([1, 2], 5) == [1, 2]


def test_cell_counts_recall_and_false_positives() -> None:
    cell = Cell()
    for label, ours, mv in [
        (True, True, False),
        (True, False, True),
        (False, True, False),
        (False, False, False),
    ]:
        cell.add(label, ours, mv)
    assert (cell.n, cell.right, cell.ours_tp, cell.ours_fp, cell.mv_tp, cell.mv_fp) == (4, 2, 1, 1, 1, 0)
