"""The chat-template formats of the Qwen2.5-Math reward models (shared rendering).

The input is the model's chat template with the card's system prompt, the question as the user
turn and the response as the assistant turn, rendered once with placeholders and filled per item,
then tokenised in one piece as the card does (:func:`prm.formats.base.encode_layout`).
"""

from __future__ import annotations

from typing import Any

from prm.errors import PRMFormatError

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
_Q = "\x00PRM-QUESTION\x00"
_A = "\x00PRM-RESPONSE\x00"


def render_template(tokenizer: Any, system: str = SYSTEM) -> tuple[str, str, str]:
    """The template text before the question, between question and response, and after the response."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise PRMFormatError("this format needs a tokenizer with a chat template (tokenizer_config.json)")
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": _Q},
        {"role": "assistant", "content": _A},
    ]
    text: str = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    if text.count(_Q) != 1 or text.count(_A) != 1 or text.index(_Q) > text.index(_A):
        raise PRMFormatError("the chat template does not place the question and the response once each")
    before, rest = text.split(_Q)
    between, after = rest.split(_A)
    return before, between, after
