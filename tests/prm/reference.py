"""Plain one-solution-at-a-time, full-logits forwards, written the way each model card does it.

These are the anchors the engine is compared against: no batching, no padding, no head tricks.
"""

from __future__ import annotations

import random
from itertools import chain
from pathlib import Path

import torch

QWEN_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."

_WORDS = [
    "the",
    "sum",
    "of",
    "12",
    "and",
    "7",
    "is",
    "19",
    "so",
    "we",
    "get",
    "x",
    "=",
    "3",
    "then",
    "2",
    "*",
    "5",
    "+",
    "1",
    "=",
    "11",
    "therefore",
    "answer",
    "is",
    "\\frac{1}{2}",
    "each",
    "box",
    "costs",
    "4",
    "dollars",
    "and",
    "there",
    "are",
    "6",
    "boxes",
    "total",
    "cost",
    "24",
    "find",
    "the",
    "area",
    "of",
    "a",
    "circle",
    "radius",
    "r",
]


def ragged_items(n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    """``n`` (question, steps) items of very different lengths (1-9 steps of 1-40 words)."""
    rng = random.Random(seed)
    items = []
    for _ in range(n):
        question = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 30))) + "?"
        steps = [
            " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 40))) for _ in range(rng.randint(1, 9))
        ]
        items.append((question, steps))
    return items


def math_shepherd_reference(path: Path, items: list[tuple[str, list[str]]]) -> list[list[float]]:
    """The math-shepherd-mistral-7b-prm model card loop."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    good_token, bad_token, step_tag = "+", "-", "ки"
    candidate_tokens = tokenizer.encode(f"{good_token} {bad_token}", add_special_tokens=False)
    step_tag_id = tokenizer.encode(f"{step_tag}")[-1]
    out = []
    for question, steps in items:
        output = "\n".join(f"{s} {step_tag}" for s in steps)
        input_for_prm = f"{question} {output}"
        input_id = torch.tensor([tokenizer.encode(input_for_prm)])
        with torch.no_grad():
            logits = model(input_id).logits[:, :, candidate_tokens]
            scores = logits.softmax(dim=-1)[:, :, 0]
            step_scores = scores[input_id == step_tag_id]
        out.append(step_scores.tolist())
    return out


class QwenPRMReference(torch.nn.Module):
    """The remote code's ``Qwen2ForProcessRewardModel``: Qwen2 backbone, score = Linear, ReLU, Linear."""

    def __init__(self, config) -> None:
        super().__init__()
        from transformers import Qwen2Model

        self.model = Qwen2Model(config)
        self.score = torch.nn.Sequential(
            torch.nn.Linear(config.hidden_size, config.hidden_size),
            torch.nn.ReLU(),
            torch.nn.Linear(config.hidden_size, 2),
        )

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor]:
        hidden = self.model(input_ids=input_ids).last_hidden_state
        return (self.score(hidden),)


def qwen_prm_reference(path: Path, items: list[tuple[str, list[str]]]) -> list[list[float]]:
    """The Qwen2.5-Math-PRM-7B model card: whole checkpoint loaded strictly into the reference module."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, Qwen2Config

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = QwenPRMReference(Qwen2Config.from_pretrained(str(path)))
    model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    model.eval()

    def make_step_rewards(logits, token_masks):
        probabilities = torch.nn.functional.softmax(logits, dim=-1)
        probabilities = probabilities * token_masks.unsqueeze(-1)
        all_scores_res = []
        for i in range(probabilities.size(0)):
            sample = probabilities[i]
            positive_probs = sample[sample != 0].view(-1, 2)[:, 1]
            all_scores_res.append(positive_probs.cpu().tolist())
        return all_scores_res

    out = []
    for question, steps in items:
        messages = [
            {"role": "system", "content": QWEN_SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"},
        ]
        conversation_str = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=False
        )
        input_ids = tokenizer.encode(conversation_str, return_tensors="pt")
        with torch.no_grad():
            outputs = model(input_ids=input_ids)
        step_sep_id = tokenizer.encode("<extra_0>")[0]
        token_masks = input_ids == step_sep_id
        out.append(make_step_rewards(outputs[0], token_masks)[0])
    return out


def trl_tokenize_row(tokenizer, prompt: str, completions: list[str], step_separator: str = "\n"):
    """TRL's ``PRMTrainer.tokenize_row`` (no truncation; every label set to 1)."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completions_ids = [tokenizer(c, add_special_tokens=False)["input_ids"] for c in completions]
    labels = [1] * len(completions)
    separator_ids = tokenizer.encode(step_separator, add_special_tokens=False)
    completions_ids = [c + separator_ids for c in completions_ids]
    labels = [[-100] * (len(c) - 1) + [lab] for c, lab in zip(completions_ids, labels, strict=True)]
    completion_ids = list(chain(*completions_ids))
    labels = list(chain(*labels))
    if tokenizer.bos_token_id is not None:
        prompt_ids = [tokenizer.bos_token_id, *prompt_ids]
    return prompt_ids + completion_ids, [-100] * len(prompt_ids) + labels


def token_classification_reference(path: Path, items: list[tuple[str, list[str]]]) -> list[list[float]]:
    """An AutoModelForTokenClassification PRM read at TRL's label positions."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForTokenClassification.from_pretrained(str(path), dtype=torch.float32).eval()
    out = []
    for question, steps in items:
        input_ids, labels = trl_tokenize_row(tokenizer, question, steps)
        ids = torch.tensor([input_ids])
        with torch.no_grad():
            probs = model(input_ids=ids).logits.softmax(-1)[0, :, 1]
        out.append(probs[torch.tensor(labels) != -100].tolist())
    return out


def step_tag_reference(path: Path, items: list[tuple[str, list[str]]]) -> list[list[float]]:
    """vLLM's step pooler on the Math-Shepherd layout: the fixture's tag ``<|step|>``, labels ``+``/``-``.

    The text is built as the card builds it, with this model's tag; the probabilities are the
    softmax over the ``returned_token_ids`` logits at every position holding ``step_tag_id``.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).eval()
    step_tag = "<|step|>"
    step_tag_id = tokenizer.convert_tokens_to_ids(step_tag)
    returned_token_ids = [tokenizer.convert_tokens_to_ids("+"), tokenizer.convert_tokens_to_ids("-")]
    out = []
    for question, steps in items:
        text = f"{question} " + "\n".join(f"{s} {step_tag}" for s in steps)
        input_id = torch.tensor([tokenizer.encode(text)])
        with torch.no_grad():
            logits = model(input_id).logits[:, :, returned_token_ids]
        probs = logits.softmax(dim=-1)[input_id == step_tag_id]
        out.append(probs[:, 0].tolist())
    return out


class QwenRMReference(QwenPRMReference):
    """The remote code's ``Qwen2ForRewardModel``: the same backbone, a 1-output head read at the end."""

    def __init__(self, config) -> None:
        super().__init__(config)
        self.score[2] = torch.nn.Linear(config.hidden_size, 1)
        self.pad_token_id = config.pad_token_id

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor]:
        logits = super().forward(input_ids)[0]
        # the remote code's pooling: the token before the first pad, the last token when there is none
        sequence_lengths = (torch.eq(input_ids, self.pad_token_id).int().argmax(-1) - 1) % input_ids.shape[-1]
        return (logits[torch.arange(input_ids.shape[0]), sequence_lengths],)


def qwen_rm_reference(path: Path, items: list[tuple[str, list[str]]]) -> list[list[float]]:
    """The Qwen2.5-Math-RM-72B model card: the response as the assistant turn, the reward at the end."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, Qwen2Config

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = QwenRMReference(Qwen2Config.from_pretrained(str(path)))
    model.load_state_dict(load_file(str(path / "model.safetensors")), strict=True)
    model.eval()
    out = []
    for question, steps in items:
        chat = [
            {"role": "system", "content": QWEN_SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": "\n\n".join(steps)},
        ]
        conversation_str = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
        input_ids = tokenizer.encode(conversation_str, return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            outputs = model(input_ids=input_ids)
        out.append([outputs[0][0, 0].item()])
    return out


REFERENCES = {
    "math-shepherd": math_shepherd_reference,
    "qwen2.5-math-prm": qwen_prm_reference,
    "token-classification": token_classification_reference,
    "step-tag": step_tag_reference,
    "qwen2.5-math-rm": qwen_rm_reference,
}

# items whose pieces meet at boundaries where joined text and pieces tokenise differently: a first
# step that starts with newlines (Qwen2's byte-level BPE merges them with the template's "\n"),
# indents, spaces at the ends, an empty step, a question ending in a newline, an empty question
BOUNDARY_ITEMS: list[tuple[str, list[str]]] = [
    ("What is 1+1?", ["\n2", "so 2"]),
    ("Find x.", ["\n\nx = 3", "\n  then 3", "  spaced  "]),
    ("the sum of 12 and 7\n", ["\nis 19", "", "19"]),
    ("", ["x = 3", "\n"]),
    ("q ", [" leading space", "trailing space ", "\ttab"]),
    ("unicode: é ü ∑ √ 中文 🙂", ["Привет in a step", "∑ = 3 🙂"]),
]
