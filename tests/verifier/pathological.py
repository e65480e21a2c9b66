"""Pathological inputs for verify, and a child-process runner that reports each verdict as it comes.

The test runs ``python -m tests.verifier.pathological`` in a child and reads one JSON line per
case, with a deadline per line: a verify call that overruns its limit (in the caller's process,
where a thread cannot be stopped) fails the test in seconds instead of hanging the suite.
"""

from __future__ import annotations

import json
import sys
import time

TIMEOUT_S = 2.0  # the verify limit in the child
NEVER_CORRECT = ("timeout", "unparseable", "no_answer", "incorrect")
LIMITED = ("timeout", "unparseable")

# (name, pred, ref, allowed statuses)
CASES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("power tower", "$9^{9^{9^{9}}}$", "1", LIMITED),
    ("tower vs tower", "\\boxed{9^{9^{9^{9}}}}", "9^{9^{9^{9}}}", (*NEVER_CORRECT, "correct")),
    ("1000000!", "\\boxed{1000000!}", "5", LIMITED),
    ("huge power", "\\boxed{2^{10^{10}}}", "2", LIMITED),
    ("1 MB without an answer", "So. " * 250_000, "3", NEVER_CORRECT),
    ("1 MB response, boxed at the end", "We compute. " * 90_000 + "\\boxed{3}", "3", ("correct",)),
    (
        "10,000 nested braces, boxed",
        "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}",
        "1",
        (*NEVER_CORRECT, "correct"),
    ),
    (
        "\\frac nested 5,000 deep",
        "\\boxed{" + "\\frac{1}{" * 5_000 + "2" + "}" * 5_000 + "}",
        "1",
        NEVER_CORRECT,
    ),
    ("5,000 nested parentheses", "\\boxed{" + "(" * 5_000 + "1" + ")" * 5_000 + "}", "2", NEVER_CORRECT),
    ("a sum of 20,000 terms", "\\boxed{" + "x+" * 20_000 + "1}", "1", NEVER_CORRECT),
    ("reference is a tower", "\\boxed{1}", "9^{9^{9^{9}}}", NEVER_CORRECT),
    (
        "490 nested parentheses",
        "\\boxed{" + "(" * 490 + "1" + ")" * 490 + "}",
        "1",
        (*NEVER_CORRECT, "correct"),
    ),
    ("x^{x^{...}} 150 deep", "\\boxed{" + "x^{" * 150 + "x" + "}" * 150 + "}", "x", NEVER_CORRECT),
    (
        "a sum of 150 symbols",
        "\\boxed{" + "+".join(f"x_{{{i}}}" for i in range(150)) + "}",
        "0",
        NEVER_CORRECT,
    ),
    # long runs without spaces: the marker search must stay linear in the response length
    ("1 MB of digits", "1" * 1_000_000, "1", NEVER_CORRECT),
    ("10,000 nested braces, bare", "{" * 10_000 + "1" + "}" * 10_000, "1", (*NEVER_CORRECT, "correct")),
]


def main() -> int:
    from verifier import VerifyConfig, verify

    config = VerifyConfig(timeout_s=TIMEOUT_S)
    for name, pred, ref, _allowed in CASES:
        start = time.monotonic()
        verdict = verify(pred, ref, config=config)
        seconds = time.monotonic() - start
        print(
            json.dumps(
                {"name": name, "status": verdict.status.value, "seconds": seconds, "reason": verdict.reason}
            ),
            flush=True,
        )
    alive = verify("\\boxed{\\frac{1}{2}}", "0.5", config=config).correct
    print(json.dumps({"name": "after", "alive": alive}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
