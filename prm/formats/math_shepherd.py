"""``math-shepherd``: peiyi9979/math-shepherd-mistral-7b-prm, the step-tag format with the card's tokens.

The card: ``candidate_tokens = tokenizer.encode("+ -")[1:]``, ``step_tag_id = tokenizer.encode("ки")[-1]``;
input ``f"{question} {output}"`` with ``output`` the steps each ending in `` ки``, joined by
newlines; the step score is the softmax over the ``+``/``-`` logits at each tag, P(``+``). A causal
LM is never picked by ``format="auto"`` (``ки`` is an ordinary token of many vocabularies): name
this format, or declare it in the checkpoint's ``prm_format.json``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from prm.errors import PRMFormatError
from prm.formats.step_tag import StepTag


class MathShepherd(StepTag):
    """Math-Shepherd: tag ``ки``, labels ``+`` (correct) and ``-``."""

    name = "math-shepherd"
    options: ClassVar[frozenset[str]] = frozenset()
    STEP_TAG = "ки"
    GOOD, BAD = "+", "-"

    def _tag_and_labels(self, options: dict[str, Any]) -> tuple[int, list[int]]:
        tok = self.tokenizer
        candidates = tok.encode(f"{self.GOOD} {self.BAD}", add_special_tokens=False)
        if len(candidates) != 2:
            raise PRMFormatError(f"the tokenizer encodes '+ -' as {candidates}, not two tokens")
        tag = tok.encode(self.STEP_TAG, add_special_tokens=False)
        if len(tag) != 1 or tag[0] == tok.unk_token_id:
            raise PRMFormatError(
                f"the tokenizer has no 'ки' token (it reads 'ки' as {tok.convert_ids_to_tokens(tag)}): not a "
                "Math-Shepherd checkpoint; for another tag use format='step-tag' with step_tag_id= and "
                "returned_token_ids="
            )
        return int(tag[-1]), [int(c) for c in candidates]

    def _tag_text(self) -> str:
        return self.STEP_TAG
