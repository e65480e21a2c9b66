"""Turning what trainers hand over (chat messages, prompt+response strings) into plain text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["message_text", "prompt_question", "response_from_query", "strip_special_tail"]

# special tokens a tokenizer's decode(skip_special_tokens=False) leaves at the end of a sequence:
# <|im_end|>, <|endoftext|>, <|eot_id|>, </s>, <eos>, <pad>, <｜end▁of▁sentence｜>
_SPECIAL_TAIL = re.compile(r"(?:\s*(?:<\|[^<>|]{1,64}\|>|<｜[^<>｜]{1,64}｜>|</s>|<eos>|<pad>))+\s*\Z")


def strip_special_tail(text: str) -> str:
    """``text`` without the special tokens (EOS, padding) a decoder left at its end."""
    return _SPECIAL_TAIL.sub("", text)


def _content_text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: [{"type": "text", "text": ...}, {"type": "image"}]
        parts = [
            block["text"]
            for block in content
            if isinstance(block, Mapping) and isinstance(block.get("text"), str)
        ]
        return "".join(parts)
    return None


def message_text(completion: Any, role: str = "assistant") -> Any:
    """The text of a completion: a plain string as is; for a list of chat messages (TRL's
    conversational format), the content of the last message with ``role`` (or of the last
    message when none has a role). Anything else is returned unchanged, for the caller to reject.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        text = _content_text(completion.get("content"))
        return completion if text is None else text
    if isinstance(completion, list) and completion and all(isinstance(m, Mapping) for m in completion):
        chosen = [m for m in completion if m.get("role") == role] or [completion[-1]]
        text = _content_text(chosen[-1].get("content"))
        return completion if text is None else text
    return completion


def prompt_question(prompt: Any) -> str | None:
    """The problem statement in a prompt: the string itself, or the last user message's content."""
    if isinstance(prompt, str):
        return prompt or None
    text = message_text(prompt, role="user")
    return text if isinstance(text, str) and text else None


def response_from_query(query: str, prompt: str | None) -> tuple[str, str]:
    """The response inside OpenRLHF's ``query`` (prompt + response, decoded with special tokens).

    Returns ``(response, how)``, ``how`` being one of:

    - ``"prefix"``: the query starts with the prompt; the response is what follows it;
    - ``"found"``: the prompt occurs later in the query (a BOS token or a chat template the decoder
      put in front of it); the response is what follows its first occurrence;
    - ``"whole"``: the prompt is missing, empty, or not in the query; the whole query is graded.
      The verifier reads the *last* stated answer, which is the response's, so a worked example
      in the prompt does not leak into the grade unless the response states no answer at all.

    Special tokens the decoder left at the end (EOS, padding) are dropped in every case.
    """
    if prompt:
        if query.startswith(prompt):
            return strip_special_tail(query[len(prompt) :]), "prefix"
        at = query.find(prompt)
        if at >= 0:
            return strip_special_tail(query[at + len(prompt) :]), "found"
    return strip_special_tail(query), "whole"
