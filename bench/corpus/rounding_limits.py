"""How the minimum significant digits of verifier/rounding.py were chosen, on the real-response corpus.

    PYTHONPATH=$PWD python -m bench.corpus.rounding_limits

For each candidate pair (digits a decimal reference needs to be read as rounded, digits a coarser
decimal answer needs), verifies every corpus row whose reference holds a decimal and prints the right
answers read and the wrong ones accepted, by the adjudicated label and by the source's own label
(where the adjudication overrode a source's "wrong", e.g. "23%" for 0.23, the row counts as
source-wrong under every candidate).
"""

from __future__ import annotations

import re

import verifier.rounding as rounding
from bench.corpus import load
from verifier import verify

# (99, 99): no decimal reads as rounded (only the prints-of-one-double rule is left)
HEADER = (
    "| reference digits | coarser answer digits | right read | label-wrong accepted | source-wrong accepted |"
)
CANDIDATES = [(99, 99), (1, 3), (2, 2), (2, 3), (2, 4), (3, 3), (3, 4)]


def main() -> None:
    rows = [r for r in load() if re.search(r"\d\.\d|\de-", r["reference"])]
    print(f"{len(rows)} corpus rows with a decimal in the reference\n")
    print(HEADER)
    print("|---:|---:|---:|---:|---:|")
    chosen = (rounding.REFERENCE_MIN_SIG_DIGITS, rounding.ANSWER_MIN_SIG_DIGITS)
    try:
        for ref_min, ans_min in CANDIDATES:
            rounding.REFERENCE_MIN_SIG_DIGITS, rounding.ANSWER_MIN_SIG_DIGITS = ref_min, ans_min
            right = wrong = source_wrong = 0
            for r in rows:
                ok = bool(verify(r["response"], r["reference"], question=r["question"]))
                right += ok and r["label"]
                wrong += ok and not r["label"]
                source_wrong += ok and not r["source_label"]
            mark = " (chosen)" if (ref_min, ans_min) == chosen else ""
            print(f"| {ref_min}{mark} | {ans_min} | {right} | {wrong} | {source_wrong} |")
    finally:
        rounding.REFERENCE_MIN_SIG_DIGITS, rounding.ANSWER_MIN_SIG_DIGITS = chosen


if __name__ == "__main__":
    main()
