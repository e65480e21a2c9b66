"""``step-tag``: any causal-LM PRM read at a step tag token, configured as vLLM's step pooler is.

``step_tag_id`` is the tag token after each step, ``returned_token_ids`` the pair of label tokens
whose logits are read there, the positive one first; the step score is the softmax over the pair,
its first entry. The input is Math-Shepherd's layout: ``question step_1 TAG\\nstep_2 TAG ...``
(``f"{question} {output}"``, each step followed by a space and the tag, steps joined by
``step_separator``, ``"\\n"`` by default), tokenised in one piece as the card does. A new
Math-Shepherd-style PRM loads with configuration, no code::

    ProcessRewardModel.from_pretrained(path, format="step-tag", step_tag_id=12902,
                                       returned_token_ids=[648, 387])
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from prm.errors import PRMFormatError
from prm.formats.base import Encoded, Format, Head, LabelRowsHead, Layout, encode_layout, load_strict

if TYPE_CHECKING:
    import torch


def _token_id(value: Any, what: str) -> int:
    """An int token id (numpy and torch integers too); a PRMFormatError for anything else."""
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        raise PRMFormatError(f"{what} must hold int token ids, got {value!r}") from None


class StepTag(Format):
    """A causal LM read at a step tag: P(positive label) from two rows of its LM head."""

    name = "step-tag"
    options: ClassVar[frozenset[str]] = frozenset({"step_tag_id", "returned_token_ids", "step_separator"})
    architectures = "a *ForCausalLM"

    def __init__(self, tokenizer: Any, config: dict[str, Any], **options: Any) -> None:
        super().__init__(tokenizer, config, **options)
        self.step_separator: str = options.get("step_separator") or "\n"
        tag_id, labels = self._tag_and_labels(options)
        vocab = int(config.get("vocab_size") or len(tokenizer))
        for what, i in (("step_tag_id", tag_id), *(("returned_token_ids", x) for x in labels)):
            if not 0 <= i < min(vocab, len(tokenizer)):
                raise PRMFormatError(
                    f"{what} {i!r} is not a token id of this tokenizer (0..{len(tokenizer) - 1})"
                )
        if len(labels) != 2 or labels[0] == labels[1]:
            raise PRMFormatError(
                f"returned_token_ids must be two different token ids (positive label first), got {labels}"
            )
        self.tag_id = tag_id
        self.label_ids = list(labels)
        self.tag_text = self._tag_text()

    def _tag_and_labels(self, options: dict[str, Any]) -> tuple[int, list[int]]:
        tag_id, labels = options.get("step_tag_id"), options.get("returned_token_ids")
        if tag_id is None or labels is None:
            raise PRMFormatError(
                "format 'step-tag' needs step_tag_id= (the tag token after each step) and "
                "returned_token_ids= (the positive and the negative label tokens), as vLLM's step pooler"
            )
        if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
            raise PRMFormatError(f"returned_token_ids must be a list of two token ids, got {labels!r}")
        return _token_id(tag_id, "step_tag_id"), [_token_id(x, "returned_token_ids") for x in labels]

    def _tag_text(self) -> str:
        token = self.tokenizer.convert_ids_to_tokens(self.tag_id)
        text: str = self.tokenizer.convert_tokens_to_string([token])
        return text.strip() or text

    @classmethod
    def matches_architecture(cls, archs: Sequence[str]) -> bool:
        return any(a.endswith("ForCausalLM") for a in archs)

    def load(
        self,
        path: Path,
        dtype: Any,
        attn: str,
        device_map: Any = None,
        max_memory: dict[int, int] | None = None,
    ) -> tuple[torch.nn.Module, Head]:
        from transformers import AutoModelForCausalLM

        model = load_strict(
            AutoModelForCausalLM,
            path,
            self.name,
            dtype=dtype,
            attn=attn,
            device_map=device_map,
            max_memory=max_memory,
        )
        lm_head = model.get_output_embeddings()
        rows = lm_head.weight[self.label_ids].detach().float().cpu().clone()
        bias = getattr(lm_head, "bias", None)
        bias_rows = None if bias is None else bias[self.label_ids].detach().float().cpu().clone()
        return model.get_decoder().eval(), LabelRowsHead(rows, bias_rows)

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        # the card: output = "\n".join(f"{step} {tag}"); input_for_prm = f"{question} {output}"
        layout = Layout().add_user(question, "question").template(" ")
        for i, step in enumerate(steps):
            if i:
                layout.template(self.step_separator)
            layout.add_user(step, f"step {i}", response=True).template(" ").tag(self.tag_text)
        return encode_layout(
            self.tokenizer, layout, tag_id=self.tag_id, add_special_tokens=True, specials=self.specials
        )
