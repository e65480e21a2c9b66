"""Pivotal token search against the scripted policy: the pivotal positions, the pairs and their
probabilities equal the scripted truth; no probability is estimated twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prm.annotate import RolloutConfig, Timing, local_verify_batch, render_prompt
from prm.generate import SamplingParams, open_generator
from prm.pts import PTSConfig, PTSItem, dpo_rows, search
from tests.prm.scripted_policy import ALTERNATIVES, ScriptedServer, build_word_tokenizer, success_p

pytest.importorskip("transformers")

N = 4
CONFIG = PTSConfig(RolloutConfig(SamplingParams(n=N, seed=5, max_tokens=32)), threshold=0.2)

ITEMS = [
    PTSItem("Q key=17", "17", "step one sure then oops so \\boxed{18}"),
    PTSItem("Q key=4 oops", "4", "a b c likely d \\boxed{4}"),
    PTSItem("Q key=9", "9", "a b hmm c \\boxed{9}"),  # 0.5 .. 0.5, then the answer: one pivot, last
    PTSItem("Q key=3 sure", "3", "a b c \\boxed{3}"),  # p stays 1: nothing pivotal, one estimate
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_word_tokenizer(tmp_path_factory.mktemp("tok"))


def truth(item: PTSItem) -> list[tuple[int, float, float]]:
    """(position, p before, p after) of every token whose p jump is >= the threshold."""
    words = item.solution.split()
    head = render_prompt(CONFIG.rollout.template, item.question)

    def p(i: int) -> float:
        if i == len(words):
            return success_p(head + item.solution)
        return round(success_p(head + " ".join(words[:i])) * N) / N

    return [(i, p(i), p(i + 1)) for i in range(len(words)) if abs(p(i + 1) - p(i)) >= CONFIG.threshold]


def test_pivotal_tokens_and_pairs_equal_the_scripted_truth(tokenizer: Any) -> None:
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "scripted")
        timing = Timing()
        found = search(ITEMS, tokenizer, gen, CONFIG, local_verify_batch, timing)
        gen.close()
        asked = srv.log.entries()
    assert len(asked) == len(set(asked))  # no prefix, alternative or pivot asked twice
    for item, pivots in zip(ITEMS, found, strict=True):
        assert [(pv.position, pv.p_before, pv.p_after) for pv in pivots] == truth(item)
        words = item.solution.split()
        for pv in pivots:
            assert pv.token.strip() == words[pv.position] and pv.prefix == " ".join(words[: pv.position])
            # every distinct alternative's p is the scripted one
            for alt, p_alt in pv.alternatives.items():
                assert alt.strip() in ALTERNATIVES and alt.strip() != words[pv.position]
                head = render_prompt(CONFIG.rollout.template, item.question)
                assert p_alt == round(success_p(head + pv.prefix + alt) * N) / N
    assert [pv.position for pv in found[0]] == [2, 4]
    assert found[3] == []
    # the first: " sure" raises p from 0.5 to 1, chosen against " oops" (0); the second: " oops" lowers
    # p from 1 to 0, rejected against the best alternative (1.0)
    assert found[0][0].pair == (" sure", 1.0, " oops", 0.0)
    assert found[0][1].pair is not None
    assert found[0][1].pair[1:] == (1.0, " oops", 0.0) and found[0][1].pair[0] in (" sure", " so")


def test_dpo_rows(tokenizer: Any) -> None:
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "scripted")
        found = search(ITEMS[:1], tokenizer, gen, CONFIG, local_verify_batch)
        gen.close()
    rows = dpo_rows(ITEMS[0], found[0], CONFIG.rollout.template)
    assert rows[0] == {
        "prompt": "Q key=17\n\nstep one",
        "chosen": " sure",
        "rejected": " oops",
        "chosen_p": 1.0,
        "rejected_p": 0.0,
        "p_before": 0.5,
        "position": 2,
        "token_id": tokenizer.convert_tokens_to_ids("sure"),
        "original_is_chosen": True,
    }
    assert rows[1]["rejected"] == " oops" and rows[1]["original_is_chosen"] is False


def test_a_rise_and_fall_inside_an_interval_whose_ends_agree_is_not_searched(tokenizer: Any) -> None:
    """The bisection's known blind spot (as in the Phi-4 report's algorithm), pinned."""
    item = PTSItem("Q key=1", "1", "a sure hmm b c d e \\boxed{1}")  # p: .5 1 .5 .5 .5 .5 .5 .5 | 1
    with ScriptedServer() as srv:
        gen = open_generator(srv.base_url, "scripted")
        found = search([item], tokenizer, gen, CONFIG, local_verify_batch)
        gen.close()
    assert [pos for pos, _, _ in truth(item)] == [1, 2, 7]
    assert [pv.position for pv in found[0]] == [7]  # [0, 4] has equal ends: the jumps at 1 and 2 are missed


def test_threshold_bounds() -> None:
    with pytest.raises(ValueError):
        PTSConfig(threshold=0)


def test_tokenizer_is_built_locally(tmp_path: Path) -> None:
    tok = build_word_tokenizer(tmp_path)
    ids = tok.encode("a b \\boxed{3}", add_special_tokens=False)
    assert len(ids) == 3 and tok.decode(ids) == "a b \\boxed{3}"


def test_token_texts_rebuild_the_solution_with_a_sentencepiece_style_tokenizer() -> None:
    """With the tiny Math-Shepherd model's Llama-style tokenizer (spaces inside tokens, BOS on encode),
    each token's text continues its prefix exactly and the prefixes rebuild the decoded solution."""
    from transformers import AutoTokenizer

    from prm.pts import _Tokens
    from tests.prm.conftest import load_builder

    tok = AutoTokenizer.from_pretrained(load_builder().ensure_built()["math-shepherd"])
    text = "we have 12 + 30 = 42 so the answer is \\boxed{42}"
    t = _Tokens(tok, text)
    assert t.ids and t.ids[0] != tok.bos_token_id  # no special tokens in the searched sequence
    pieces = [t.token_text(i) for i in range(len(t.ids))]
    assert all(p is not None for p in pieces)
    assert "".join(p or "" for p in pieces) == t.text(len(t.ids)) == tok.decode(t.ids)
    assert t.text(len(t.ids)).replace(" ", "") == text.replace(" ", "")
