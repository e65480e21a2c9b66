"""Print whole corpus records by id (or id prefix), for adjudicating disagreements by hand.

python -m bench.corpus.show ID [ID ...] [--raw]
"""

from __future__ import annotations

import argparse
import json

from bench.corpus import load


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="+")
    args = ap.parse_args(argv)
    rows = load()
    for want in args.ids:
        for row in rows:
            if row["id"] == want or (want.endswith("*") and row["id"].startswith(want[:-1])):
                print(
                    f"=== {row['id']} [{row['convention']}] label={row['label']} source={row['source_label']}"
                )
                print(f"ref: {row['reference']!r}   meta: {json.dumps(row['meta'])}")
                print(f"Q: {row['question']}\n--- response ---\n{row['response']}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
