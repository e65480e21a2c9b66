"""``qwen2.5-math-prm``: Qwen/Qwen2.5-Math-PRM-7B/72B, a Qwen2 backbone, a 2-way head read at ``<extra_0>``.

The card: the chat template with the system prompt, the question as the user turn and, as the
assistant turn, ``"<extra_0>".join(steps) + "<extra_0>"``; ``tokenizer.encode`` of the whole
string; ``make_step_rewards``: softmax(head)[1] at each ``<extra_0>``. The checkpoint's
``Qwen2ForProcessRewardModel`` is remote code; the engine loads the same layout (``model.*``,
``score.0`` hidden->hidden, ReLU, ``score.2`` hidden->2) with transformers' own Qwen2 classes,
strictly, so no remote code runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from prm.formats.base import (
    ClassifierHead,
    Encoded,
    Head,
    Layout,
    encode_layout,
    single_token_id,
)
from prm.formats.qwen import SYSTEM, QwenScoreFormat, render_template

if TYPE_CHECKING:
    import torch


class QwenMathPRM(QwenScoreFormat):
    """Qwen2.5-Math-PRM: P(step correct) = softmax(score(h))[1] at each ``<extra_0>``."""

    name = "qwen2.5-math-prm"
    architectures = "Qwen2ForProcessRewardModel"
    SEP = "<extra_0>"
    SYSTEM = SYSTEM
    OUTPUTS = 2
    ARCH = "Qwen2ForProcessRewardModel"

    def __init__(self, tokenizer: Any, config: dict[str, Any], **options: Any) -> None:
        super().__init__(tokenizer, config, **options)
        self.sep_id = single_token_id(tokenizer, self.SEP, "step separator")
        self._before, self._between, self._after = render_template(tokenizer)

    def make_head(self, score: torch.nn.Module) -> Head:
        return ClassifierHead(score, positive=1)

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        layout = Layout().template(self._before).add_user(question, "question").template(self._between)
        for i, step in enumerate(steps):
            layout.add_user(step, f"step {i}", response=True).tag(self.SEP)
        layout.template(self._after)
        enc = encode_layout(
            self.tokenizer,
            layout,
            tag_id=self.sep_id,
            add_special_tokens=True,
            specials=self.specials,
            tag_name="step separator <extra_0>",
        )
        # what follows the last <extra_0> (<|im_end|>...) cannot change a causal model's scores
        end = enc.positions[-1] + 1
        return Encoded(enc.ids[:end], enc.positions, min(enc.prefix_len, end))
