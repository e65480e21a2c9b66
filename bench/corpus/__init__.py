"""A corpus of real model responses that nobody on this project wrote, rebuilt from pinned commits of
public repositories (see docs/verifier/corpus.md).

    python -m bench.corpus.build        # writes bench/corpus/data/corpus.jsonl (needs the mirrors)
    python -m bench.corpus.measure      # this verifier vs math-verify, per source and convention

    from bench.corpus import load
    rows = load()   # list of dicts: source, id, question, response, reference, label, convention, ...
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPUS = DATA_DIR / "corpus.jsonl"


def load(path: Path | None = None) -> list[dict[str, Any]]:
    """The built corpus, one dict per response; raises FileNotFoundError with the build command."""
    path = path or CORPUS
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: build it with `python -m bench.corpus.build` (docs/verifier/corpus.md)"
        )
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
