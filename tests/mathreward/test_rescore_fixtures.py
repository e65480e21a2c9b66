"""The committed sample datasets are exactly what their generator writes (fixed seeds, no drift)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"


def test_committed_datasets_match_the_generator(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    spec = importlib.util.spec_from_file_location("make_datasets", DATA / "make_datasets.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    paths = gen.build_all(tmp_path)
    for path in paths:
        committed = DATA / path.name
        if path.suffix == ".parquet":
            assert pq.read_table(path).equals(pq.read_table(committed)), path.name
        else:
            assert path.read_bytes() == committed.read_bytes(), path.name
    rows = gen.sample_rows()
    assert len(rows) == 50 and all(len(r["responses"]) == 4 for r in rows)
    assert {r["source"] for r in rows} == {"gsm8k", "math"}
