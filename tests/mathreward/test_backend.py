"""The in-process step scorer of the rescoring pipeline, on the tiny Math-Shepherd PRM."""

from __future__ import annotations

from pathlib import Path

from mathreward.rescore.engines import LocalStepScorer


def test_a_bad_item_gets_its_own_error_and_the_rest_are_scored(tiny_prm: Path) -> None:
    scorer = LocalStepScorer(str(tiny_prm))
    good = ("What is 1 + 1?", "1 + 1 = 2.\n\nThe answer is 2.")
    too_long = ("What is 1 + 1?", "x " * 5000)
    empty = ("What is 1 + 1?", "")
    out = scorer.score_batch([good, too_long, empty, good])

    assert isinstance(out[1], str) and out[1].startswith("PRMTooLongError")
    assert out[2] == "no steps: the response is empty"
    for r in (out[0], out[3]):
        assert not isinstance(r, str)
        scores, aggregate = r
        assert len(scores) == 2 and aggregate == min(scores)
    # the good items score the same as alone
    alone = scorer.score_batch([good])[0]
    assert not isinstance(alone, str) and not isinstance(out[0], str)
    assert max(abs(a - b) for a, b in zip(alone[0], out[0][0], strict=True)) < 1e-5
