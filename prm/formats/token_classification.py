"""``token-classification``: an ``AutoModelForTokenClassification`` PRM as TRL's PRMTrainer trains it.

TRL's ``PRMTrainer.tokenize_row`` tokenises the pieces separately (not joined text): ``[BOS]``,
the prompt's ids, then each step's ids followed by the separator's ids (``"\\n"`` by default); the
label sits on the last token of each step + separator. The engine builds the same ids piece by
piece. Score: softmax(logits)[1] there (label 1 = the step is correct). ``format="auto"`` picks
it for a ``*ForTokenClassification`` with two labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from prm.errors import PRMFormatError, PRMInputError
from prm.formats.base import ClassifierHead, Encoded, Format, Head, check_text, load_strict, piece_ids

if TYPE_CHECKING:
    import torch


def _num_labels(config: dict[str, Any]) -> int:
    if isinstance(config.get("id2label"), dict):
        return len(config["id2label"])
    return int(config.get("num_labels") or 2)


class TokenClassification(Format):
    """A 2-label token classifier read at the last token of each step + separator."""

    name = "token-classification"
    options: ClassVar[frozenset[str]] = frozenset({"step_separator"})
    architectures = "a *ForTokenClassification with 2 labels"

    def __init__(self, tokenizer: Any, config: dict[str, Any], **options: Any) -> None:
        super().__init__(tokenizer, config, **options)
        self.step_separator: str = options.get("step_separator") or "\n"
        self.sep_ids = list(tokenizer.encode(self.step_separator, add_special_tokens=False))
        self.bos_id = tokenizer.bos_token_id
        if _num_labels(config) != 2:
            raise PRMFormatError(
                f"a token-classification PRM needs 2 labels, this one has {_num_labels(config)}"
            )

    @classmethod
    def matches_architecture(cls, archs: Sequence[str]) -> bool:
        return any(a.endswith("ForTokenClassification") for a in archs)

    @classmethod
    def detects(cls, config: dict[str, Any]) -> bool:
        return cls.matches_architecture(config.get("architectures") or []) and _num_labels(config) == 2

    def load(
        self,
        path: Path,
        dtype: Any,
        attn: str,
        device_map: Any = None,
        max_memory: dict[int, int] | None = None,
    ) -> tuple[torch.nn.Module, Head]:
        import copy

        import torch
        from transformers import AutoModelForTokenClassification

        model = load_strict(
            AutoModelForTokenClassification,
            path,
            self.name,
            dtype=dtype,
            attn=attn,
            device_map=device_map,
            max_memory=max_memory,
        )
        head = getattr(model, "score", None) or getattr(model, "classifier", None)
        if not isinstance(head, torch.nn.Linear):
            raise PRMFormatError(f"{type(model).__name__} has no linear `score`/`classifier` head")
        if head.out_features != 2:
            raise PRMFormatError(
                f"a token-classification PRM needs 2 labels, this one has {head.out_features}"
            )
        backbone = getattr(model, model.base_model_prefix)
        return backbone.eval(), ClassifierHead(copy.deepcopy(head).cpu(), positive=1)

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        check_text(question, "question")
        ids = [] if self.bos_id is None else [int(self.bos_id)]
        ids.extend(piece_ids(self.tokenizer, question))
        prefix_len = len(ids)
        positions = []
        for i, step in enumerate(steps):
            check_text(step, f"step {i}")
            piece = piece_ids(self.tokenizer, step) + self.sep_ids
            if not piece:
                raise PRMInputError(f"step {i} is empty and the step separator has no tokens")
            ids.extend(piece)
            positions.append(len(ids) - 1)
        return Encoded(ids, positions, prefix_len)
