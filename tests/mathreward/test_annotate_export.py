"""``mathreward annotate --export prm`` as a user runs it: the real CLI in a subprocess against the
scripted completions server on a loopback port; the export's rows against the annotate output and the
scripted truth; soft labels through a threshold; rows resting on verifier errors left out; the file
loaded with ``datasets`` and read by TRL's own data utilities (TRL 1.16 ships no PRM trainer)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from mathreward.rescore.exports import prm_row, prm_rows, soft_threshold
from mathreward.rescore.paths import summary_path_for
from tests.mathreward.test_annotate_cli import ROWS, N, expected_labels, write_jsonl
from tests.mathreward.test_rescore_cli import mathreward, read_jsonl
from tests.prm.scripted_policy import ScriptedServer

TRL_COLUMNS = ["prompt", "completions", "labels"]

# shares of right rollouts known in advance (N = 4): likely 3/4, hmm 2/4, unlikely 1/4, oops 0
SOFT_ROWS: list[dict[str, Any]] = [
    {
        "id": "s1",
        "question": "Q key=4",
        "answer": "4",
        "steps": ["likely", "hmm", "unlikely", "oops", "so \\boxed{4}"],
    },
    {"id": "s2", "question": "Q key=6", "answer": "6", "steps": ["unlikely", "likely", "so \\boxed{7}"]},
]


def annotate(tmp_path: Path, rows: list[dict[str, Any]], out: Path, *extra: Any) -> dict[str, Any]:
    data = write_jsonl(tmp_path / "in.jsonl", rows)
    with ScriptedServer() as srv:
        proc = mathreward(
            "annotate",
            data,
            "-o",
            out,
            "--generator",
            srv.base_url,
            "--model",
            "scripted",
            "--n",
            N,
            "--seed",
            3,
            "--workers",
            1,
            "--progress",
            "none",
            *extra,
        )
    summary = json.loads(summary_path_for(out).read_text())
    assert "export" not in summary or "export         prm:" in proc.stdout
    return summary


def test_export_prm_rows_are_the_annotate_labels_in_trls_stepwise_shape(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    summary = annotate(tmp_path, ROWS, out, "--export", "prm")
    annotated = read_jsonl(out)
    exported = read_jsonl(tmp_path / "out.prm.jsonl")  # the default path, beside the output
    assert [list(r) for r in exported] == [TRL_COLUMNS] * 3
    assert exported == [{k: r[k] for k in TRL_COLUMNS} for r in annotated]
    for r, source in zip(exported, annotated, strict=True):  # and the labels are the scripted truth
        assert r["labels"] == expected_labels(r["prompt"], str(source["answer"]), r["completions"])[0]
    export = summary["export"]
    assert export["kind"] == "prm" and export["labels"] == "hard" and export["rows"] == 3
    assert export["counts"] == {
        "rows": 3,
        "rows_exported": 3,
        "steps_exported": 9,
        "steps_labelled_positive": sum(sum(r["labels"]) for r in exported),
    }


def test_the_export_loads_as_trl_stepwise_supervision(tmp_path: Path) -> None:
    """TRL documents stepwise supervision as prompt (str), completions (list of str), labels (list of
    bool). TRL 1.16 has no PRMTrainer or stepwise data utility to run, so the file is loaded with
    ``datasets`` and checked against that schema, and TRL's own data utilities read it as a standard
    (not conversational) example. The annotate output is Parquet here: the export reads it back."""
    datasets = pytest.importorskip("datasets")
    from trl.data_utils import is_conversational

    out = tmp_path / "out.parquet"
    path = tmp_path / "custom" / "prm.jsonl"
    path.parent.mkdir()
    annotate(tmp_path, [ROWS[0], ROWS[4]], out, "--export", "prm", "--export-path", path)
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    assert ds.column_names == TRL_COLUMNS and len(ds) == 2
    f = ds.features
    assert f["prompt"].dtype == "string"
    assert f["completions"].feature.dtype == "string" and f["labels"].feature.dtype == "bool"
    assert not is_conversational(ds[0])
    assert ds[0]["labels"] == [True, True, False, False]


def test_soft_labels_through_a_threshold_are_the_exact_shares(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    summary = annotate(
        tmp_path, SOFT_ROWS, out, "--export", "prm", "--prm-labels", "soft", "--soft-threshold", "50%"
    )
    exported = read_jsonl(tmp_path / "out.prm.jsonl")
    # likely, hmm, unlikely, oops; the last step is the solution's verdict
    assert [r["labels"] for r in exported] == [[True, True, False, False, True], [False, True, False]]
    assert summary["export"]["labels"] == "soft" and summary["export"]["soft_threshold"] == "1/2"
    # the Python function on the same output, at other thresholds: share >= threshold, exactly
    annotated = read_jsonl(out)
    for threshold, want in [
        ("3/4", [[True, False, False, False, True], [False, True, False]]),
        (0.25, [[True, True, True, False, True], [True, True, False]]),
        ("1", [[False, False, False, False, True], [False, False, False]]),
    ]:
        rows, counts = prm_rows(annotated, labels="soft", threshold=threshold)
        assert [r["labels"] for r in rows] == want, threshold
        assert counts["rows_exported"] == 2
    # hard labels of the same rows: any right rollout
    rows, _ = prm_rows(annotated)
    assert [r["labels"] for r in rows] == [[True, True, True, False, True], [True, True, False]]


def test_rows_resting_on_verifier_errors_are_left_out_and_counted(tmp_path: Path) -> None:
    """A reference of punctuation only is the verifier's ERROR ("the reference is empty") for every
    rollout and for the solution itself: annotate writes the row (its errors counted wrong, and
    counted per step in verify_errors); the export leaves it out. The other rows are exported."""
    broken = {"id": "broken", "question": "Q key=1", "answer": "?!", "steps": ["likely", "so \\boxed{1}"]}
    out = tmp_path / "out.jsonl"
    summary = annotate(tmp_path, [SOFT_ROWS[0], broken, SOFT_ROWS[1]], out, "--export", "prm")
    annotated = read_jsonl(out)
    assert [r["verify_errors"] for r in annotated] == [[0] * 5, [N, 1], [0] * 3]
    assert annotated[1]["labels"] == [False, False]  # what annotate writes: errors counted wrong
    assert summary["verify_failures"] == 3  # distinct verifications: 2 rollout texts, the solution
    exported = read_jsonl(tmp_path / "out.prm.jsonl")
    assert exported == [{k: annotated[i][k] for k in TRL_COLUMNS} for i in (0, 2)]
    counts = summary["export"]["counts"]
    assert counts["rows"] == 3 and counts["rows_with_verifier_errors"] == 1 and counts["rows_exported"] == 2


def test_an_export_that_cannot_be_written_keeps_the_output(tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", SOFT_ROWS[1:])
    out = tmp_path / "out.jsonl"
    (tmp_path / "a_file").write_text("")  # the export's folder would have to be inside a file
    with ScriptedServer() as srv:
        proc = mathreward(
            "annotate",
            data,
            "-o",
            out,
            "--generator",
            srv.base_url,
            "--model",
            "scripted",
            "--n",
            N,
            "--workers",
            1,
            "--export",
            "prm",
            "--export-path",
            tmp_path / "a_file" / "prm.jsonl",
            check=False,
        )
    assert proc.returncode == 1 and "the output is written" in proc.stderr
    assert "the prm export failed" in proc.stderr
    assert len(read_jsonl(out)) == 1


GOOD = {
    "prompt": "Q",
    "completions": ["a", "b"],
    "labels": [True, False],
    "rollouts": [4, 0],
    "correct_rollouts": [2, 0],
    "verify_errors": [0, 0],
}


@pytest.mark.parametrize(
    "row, why",
    [
        ({**GOOD, "prompt": ""}, "rows_not_annotated"),
        ({**GOOD, "completions": []}, "rows_not_annotated"),
        ({**GOOD, "labels": [True]}, "rows_not_annotated"),
        ({**GOOD, "labels": [1, 0]}, "rows_not_annotated"),
        ({**GOOD, "verify_errors": [0]}, "rows_not_annotated"),
        ({**GOOD, "verify_errors": [2, 0]}, "rows_with_verifier_errors"),
        ({k: v for k, v in GOOD.items() if k != "verify_errors"}, None),  # an output from before the column
    ],
)
def test_a_row_without_a_whole_annotation_is_named(row: dict[str, Any], why: str | None) -> None:
    got = prm_row(row)
    assert got == why if why else got == {"prompt": "Q", "completions": ["a", "b"], "labels": [True, False]}


def test_soft_labels_need_consistent_rollout_counts() -> None:
    assert prm_row({**GOOD, "correct_rollouts": [5, 0]}, "soft") == "rows_not_annotated"
    assert prm_row({**GOOD, "rollouts": None}, "soft") == "rows_not_annotated"
    assert prm_row(GOOD, "soft", "1/2") == {"prompt": "Q", "completions": ["a", "b"], "labels": [True, False]}
    assert soft_threshold(0.1) == Fraction(1, 10) and soft_threshold("50%") == Fraction(1, 2)
    for bad in ("0", "1.5", "x"):
        with pytest.raises(ValueError):
            soft_threshold(bad)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--prm-labels", "soft"], "need --export prm"),
        (["--export", "prm", "--soft-threshold", "1/2"], "applies to --prm-labels soft"),
        (["--export", "prm", "--prm-labels", "soft", "--soft-threshold", "0"], "threshold must be in (0, 1]"),
        (["--export", "prm", "--export-path", "{out}"], "must not be the input or the output"),
    ],
)
def test_bad_export_options_get_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    data = write_jsonl(tmp_path / "in.jsonl", ROWS[:1])
    out = tmp_path / "out.jsonl"
    args = [a.replace("{out}", str(out)) for a in args]
    proc = mathreward(
        "annotate",
        data,
        "-o",
        out,
        "--generator",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        *args,
        check=False,
    )
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert not out.exists()
