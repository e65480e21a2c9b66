"""``rescore`` under careless input (issue 12): unknown columns, line separators inside rows, NaN and
Infinity, the umask, and a ``--server`` that wants a token and TLS. Each test failed before its fix."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mathreward.backend import LocalBackend
from mathreward.rescore import RescoreOptions, run_rescore
from tests.mathreward.test_rescore_cli import DATA, cli_env, mathreward, read_jsonl

# the characters Python's str.splitlines (and JavaScript's line terminators) treat as line ends
LINE_SEPARATORS = ("\u2028", "\u2029", "\x85")


def strict_json(text: str) -> Any:
    """json.loads that refuses NaN, Infinity and -Infinity (as every JSON parser but Python's does)."""

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def rescore(src: Path, out: Path, **kw: Any) -> None:
    opts = RescoreOptions(input=src, output=out, progress="none", **kw)
    run_rescore(opts, LocalBackend(workers=1), stream=io.StringIO())


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_an_unknown_column_is_a_usage_error_that_lists_the_columns(tmp_path: Path) -> None:
    for flag, name in (
        ("--ref-col", "gold"),
        ("--responses-col", "outs"),
        ("--question-col", "extra.q"),
        ("--id-col", "uid"),
        ("--source-col", "origin"),
    ):
        out = tmp_path / f"{name}.jsonl"
        proc = mathreward("rescore", DATA / "small.jsonl", "-o", out, flag, name, check=False)
        assert proc.returncode == 2, (flag, proc.stderr)
        assert name in proc.stderr and flag in proc.stderr
        for column in ("answer", "id", "problem", "responses", "source"):  # what the file has
            assert column in proc.stderr, (flag, proc.stderr)
        assert not out.exists()


def test_rejects_and_rows_stay_one_per_line_whatever_the_characters(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    rows = []
    for i, sep in enumerate(LINE_SEPARATORS):
        rows.append(
            {
                "id": f"ok{sep}{i}",
                "problem": f"a{sep}b",
                "answer": "2",
                "responses": [f"so{sep}the answer is $\\boxed{{2}}$"],
            }
        )
        rows.append({"id": f"bad{sep}{i}", "problem": f"a{sep}b", "responses": [f"x{sep}y"]})  # no answer
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    rescore(src, out, chunk_size=2)

    for path, n in ((tmp_path / "out.rejects.jsonl", 3), (out, 3)):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) == n, path  # any reader's idea of a line gives one row per line
        assert not any(sep in text for sep in LINE_SEPARATORS)
        back = [json.loads(line) for line in text.splitlines()]
        assert {r["id"][-1] for r in back} == {"0", "1", "2"}
        assert all(any(sep in r["id"] for sep in LINE_SEPARATORS) for r in back)  # the text survives


def test_json_outputs_never_contain_nan_or_infinity(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    good = {
        "id": "a",
        "answer": "2",
        "responses": ["$\\boxed{2}$"],
        "temp": float("nan"),
        "logprob": float("-inf"),
        "nested": {"x": [1.0, float("inf")]},
    }
    bad = {"id": "b", "responses": ["1"], "weight": float("nan")}  # no answer: rejected, with its data
    src.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    rescore(src, out)
    (row,) = [strict_json(line) for line in out.read_text().splitlines()]
    assert row["temp"] is None and row["logprob"] is None and row["nested"] == {"x": [1.0, None]}
    (reject,) = [strict_json(line) for line in (tmp_path / "out.rejects.jsonl").read_text().splitlines()]
    assert reject["data"]["weight"] is None
    strict_json((tmp_path / "out.summary.json").read_text())

    # a Parquet input's NaN stays a NaN in Parquet (a float column may hold one), and never in the JSON
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{**good, "nested": None}]), tmp_path / "in.parquet")
    rescore(tmp_path / "in.parquet", tmp_path / "out.parquet")
    assert math.isnan(pq.read_table(tmp_path / "out.parquet").to_pylist()[0]["temp"])
    strict_json((tmp_path / "out.summary.json").read_text())


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_outputs_follow_the_umask(tmp_path: Path, mask: int) -> None:
    src = tmp_path / "in.jsonl"
    shutil.copy(DATA / "small.jsonl", src)  # it holds rejected rows, so a rejects file is written
    want = 0o666 & ~mask
    with umask(mask):
        rescore(src, tmp_path / "out.jsonl")
        rescore(DATA / "small_verl.parquet", tmp_path / "out.parquet")
    for name in ("out.jsonl", "out.rejects.jsonl", "out.summary.json", "out.parquet"):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == want, (name, oct(mode), oct(want))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")
def test_server_with_token_and_tls(start_server: Any, tmp_path: Path) -> None:
    from mathreward.server import TLSConfig
    from tests.mathreward.service_helpers import make_certs, server_config

    certs = make_certs(tmp_path / "certs")
    tls = TLSConfig(
        cert_file=certs["server.pem"], key_file=certs["server.key"], client_ca_file=certs["ca.pem"]
    )
    server = start_server(server_config(tls=tls, token="s3cret"))
    target = f"localhost:{server.port}"
    tls_flags = [
        "--tls-ca",
        certs["ca.pem"],
        "--tls-cert",
        certs["client.pem"],
        "--tls-key",
        certs["client.key"],
    ]
    small = DATA / "small.jsonl"

    env = {**cli_env(), "MATHREWARD_TOKEN": "s3cret"}
    out = tmp_path / "remote.jsonl"
    mathreward("rescore", small, "-o", out, "--server", target, *tls_flags, env=env)
    mathreward("rescore", small, "-o", tmp_path / "local.jsonl", "--workers", "2")
    assert read_jsonl(out) == read_jsonl(tmp_path / "local.jsonl")

    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    token_file.chmod(0o600)
    mathreward(
        "rescore",
        small,
        "-o",
        tmp_path / "t.jsonl",
        "--server",
        target,
        *tls_flags,
        "--token-file",
        token_file,
    )
    assert read_jsonl(tmp_path / "t.jsonl") == read_jsonl(out)

    # a wrong token and a missing client certificate fail at start-up, with a usage error and no output
    bad = mathreward(
        "rescore",
        small,
        "-o",
        tmp_path / "bad.jsonl",
        "--server",
        target,
        *tls_flags,
        env={**cli_env(), "MATHREWARD_TOKEN": "wrong"},
        check=False,
    )
    assert bad.returncode == 2 and "UNAUTHENTICATED" in bad.stderr, bad.stderr
    bad = mathreward(
        "rescore",
        small,
        "-o",
        tmp_path / "bad.jsonl",
        "--server",
        target,
        "--tls-ca",
        certs["ca.pem"],
        "--connect-timeout",
        "3",
        env=env,
        check=False,
    )
    assert bad.returncode == 2 and "cannot start" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad.jsonl").exists()
