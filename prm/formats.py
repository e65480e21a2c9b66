"""PRM formats: one small adapter class each.

An adapter knows three things about its format:

1. ``load``: how to get the backbone (the transformer without its output layer) and a small head
   that maps hidden states at the step positions to P(step correct); the head holds only what is
   needed (two rows of the LM head for Math-Shepherd), in float32.
2. ``encode``: the token ids of one (question, steps) input and the positions whose hidden state
   scores each step. Step tags and separators go in as token ids at the step ends; each piece of
   text is tokenised on its own, never glued to a tag by string concatenation.
3. ``detects``: whether a checkpoint (its config.json and tokenizer) is of this format.

torch and transformers are imported inside the methods (``import prm`` stays light).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from prm.errors import PRMFormatError, PRMInputError, PRMPathError

if TYPE_CHECKING:
    import torch

log = logging.getLogger("prm")


@dataclass(frozen=True)
class Encoded:
    """One input: token ids, the positions to score (one per step), and the question's token count."""

    ids: list[int]
    positions: list[int]
    prefix_len: int  # tokens before the first step (question and template)


def _piece_ids(tokenizer: Any, text: str, *, add_special_tokens: bool = False) -> list[int]:
    """Ids of a piece of user text; special-token strings in it are read as text."""
    ids: list[int] = tokenizer(text, add_special_tokens=add_special_tokens, split_special_tokens=True)[
        "input_ids"
    ]
    return ids


def _ids_after(tokenizer: Any, context: str, context_ids: list[int], text: str, **kw: bool) -> list[int]:
    """Ids ``text`` gets when it follows ``context`` (whose ids are ``context_ids``) in one string.

    Sentencepiece tokenizers mark a word that follows a space with ``▁`` but not one that follows
    a newline, and add a ``▁`` to the first piece of any string: ``"Step 2"`` alone and after
    ``"ки\n"`` get different ids. Reading the piece in its context keeps the model card's ids; when
    the context's ids are not a prefix (a merge across the boundary), the piece is read alone.
    """
    ids = _piece_ids(tokenizer, context + text, **kw)
    if ids[: len(context_ids)] == context_ids:
        return ids[len(context_ids) :]
    return _piece_ids(tokenizer, text)


def _single_token_id(tokenizer: Any, text: str, what: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise PRMFormatError(f"the tokenizer encodes the {what} {text!r} as {len(ids)} tokens {ids}, not one")
    return int(ids[0])


def _suffix_ids(tokenizer: Any, anchor: str, text: str) -> list[int]:
    """Ids ``text`` gets right after ``anchor`` (sentencepiece adds a space to a leading piece)."""
    a = tokenizer.encode(anchor, add_special_tokens=False)
    b = tokenizer.encode(anchor + text, add_special_tokens=False)
    if b[: len(a)] == a:
        return list(b[len(a) :])
    return list(tokenizer.encode(text, add_special_tokens=False))


class TwoRowHead:
    """Math-Shepherd's head: the ``+`` and ``-`` rows of the LM head; P(+) = softmax over the two."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight = weight  # [2, hidden], float32: rows of "+" then "-"
        self.bias = bias

    def to(self, device: Any) -> TwoRowHead:
        return TwoRowHead(self.weight.to(device), None if self.bias is None else self.bias.to(device))

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        import torch

        logits = torch.nn.functional.linear(hidden.float(), self.weight, self.bias)
        return logits.softmax(-1)[:, 0]


class ClassifierHead:
    """A classifier head (a ``torch.nn.Module`` on hidden states); P(correct) = softmax(...)[positive]."""

    def __init__(self, module: torch.nn.Module, positive: int = 1) -> None:
        self.module = module.float().eval()
        self.positive = positive

    def to(self, device: Any) -> ClassifierHead:
        import copy

        return ClassifierHead(copy.deepcopy(self.module).to(device), self.positive)

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.module(hidden.float()).softmax(-1)[:, self.positive]


Head = TwoRowHead | ClassifierHead


def read_config(path: Path) -> dict[str, Any]:
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise PRMPathError(f"{path} has no config.json: not a transformers checkpoint directory")
    try:
        cfg: dict[str, Any] = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise PRMPathError(f"cannot read {cfg_file}: {exc}") from exc
    return cfg


class Format:
    """Base class of the format adapters."""

    name: ClassVar[str]

    def __init__(self, tokenizer: Any, config: dict[str, Any]) -> None:
        self.tokenizer = tokenizer
        self.config = config

    @classmethod
    def detects(cls, config: dict[str, Any], tokenizer: Any) -> bool:
        raise NotImplementedError

    def load(self, path: Path, dtype: torch.dtype, attn: str) -> tuple[torch.nn.Module, Head]:
        raise NotImplementedError

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        raise NotImplementedError


class MathShepherd(Format):
    """peiyi9979/math-shepherd-mistral-7b-prm: a causal LM read at the step tag ``ки``.

    Input (the model card's ``f"{question} {output}"`` with ``output`` the steps each ending in
    `` ки`` and joined by newlines): ``[BOS] question step_1 ки \\n step_2 ки ...``; the step score is
    the softmax over the logits of ``+`` and ``-`` at the tag, P(``+``).
    """

    name = "math-shepherd"
    STEP_TAG = "ки"
    GOOD, BAD = "+", "-"

    def __init__(self, tokenizer: Any, config: dict[str, Any]) -> None:
        super().__init__(tokenizer, config)
        # the model card: candidate_tokens = tokenizer.encode("+ -")[1:], step_tag_id = encode("ки")[-1]
        candidates = tokenizer.encode(f"{self.GOOD} {self.BAD}", add_special_tokens=False)
        if len(candidates) != 2:
            raise PRMFormatError(f"the tokenizer encodes '+ -' as {candidates}, not two tokens")
        self.good_id, self.bad_id = int(candidates[0]), int(candidates[1])
        tag_ids = tokenizer.encode(self.STEP_TAG, add_special_tokens=False)
        if not tag_ids:
            raise PRMFormatError("the tokenizer encodes the step tag 'ки' as nothing")
        self.tag_id = int(tag_ids[-1])
        self.newline_ids = _suffix_ids(tokenizer, self.STEP_TAG, "\n")
        self._after_tag = self.STEP_TAG + "\n"  # what precedes every step but the first
        self._after_tag_ids = _piece_ids(tokenizer, self._after_tag)

    @classmethod
    def detects(cls, config: dict[str, Any], tokenizer: Any) -> bool:
        archs = config.get("architectures") or []
        if not any(a.endswith("ForCausalLM") for a in archs):
            return False
        ids = tokenizer.encode(cls.STEP_TAG, add_special_tokens=False)
        return len(ids) == 1 and ids[0] != tokenizer.unk_token_id

    def load(self, path: Path, dtype: torch.dtype, attn: str) -> tuple[torch.nn.Module, Head]:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, attn_implementation=attn)
        lm_head = model.get_output_embeddings()
        rows = lm_head.weight[[self.good_id, self.bad_id]].detach().float().clone()
        bias = lm_head.bias
        bias_rows = None if bias is None else bias[[self.good_id, self.bad_id]].detach().float().clone()
        backbone = model.get_decoder()
        return backbone.eval(), TwoRowHead(rows, bias_rows)

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        ids = _piece_ids(self.tokenizer, question, add_special_tokens=True)
        question_ids = list(ids)
        prefix_len = len(ids)
        positions = []
        for i, step in enumerate(steps):
            if i == 0:  # the card's f"{question} {output}": the first step follows a space
                ids.extend(
                    _ids_after(self.tokenizer, question + " ", question_ids, step, add_special_tokens=True)
                    if question
                    else _piece_ids(self.tokenizer, step)
                )
            else:  # "... ки\n" then the step
                ids.extend(self.newline_ids)
                ids.extend(_ids_after(self.tokenizer, self._after_tag, self._after_tag_ids, step))
            ids.append(self.tag_id)
            positions.append(len(ids) - 1)
        return Encoded(ids, positions, prefix_len)


class QwenMathPRM(Format):
    """Qwen/Qwen2.5-Math-PRM-7B/72B: a Qwen2 backbone and a 2-way head, read at each ``<extra_0>``.

    Input: the chat template with the system prompt, the question as the user turn and, as the
    assistant turn, the steps each followed by ``<extra_0>``. Score: softmax(head)[1] at each
    ``<extra_0>``. The checkpoint's ``Qwen2ForProcessRewardModel`` is remote code; the engine loads
    the backbone as ``Qwen2Model`` and the head (``score.0``: hidden->hidden, ReLU, ``score.2``:
    hidden->2) straight from the safetensors, so no remote code runs.
    """

    name = "qwen2.5-math-prm"
    SEP = "<extra_0>"
    SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
    ARCH = "Qwen2ForProcessRewardModel"
    _SENTINEL = "\x00PRM-STEPS\x00"

    def __init__(self, tokenizer: Any, config: dict[str, Any]) -> None:
        super().__init__(tokenizer, config)
        self.sep_id = _single_token_id(tokenizer, self.SEP, "step separator")
        if getattr(tokenizer, "chat_template", None) is None:
            raise PRMFormatError("the Qwen2.5-Math-PRM format needs a tokenizer with a chat template")

    @classmethod
    def detects(cls, config: dict[str, Any], tokenizer: Any) -> bool:
        return cls.ARCH in (config.get("architectures") or [])

    def load(self, path: Path, dtype: torch.dtype, attn: str) -> tuple[torch.nn.Module, Head]:
        import torch
        from transformers import Qwen2Config, Qwen2Model

        class QwenPRMBackbone(Qwen2Model):  # the checkpoint's head is read below, not by the backbone
            _keys_to_ignore_on_load_unexpected = [r"^score\.", r"^lm_head\."]  # noqa: RUF012

        config = Qwen2Config.from_pretrained(str(path))
        backbone = QwenPRMBackbone.from_pretrained(
            str(path), config=config, dtype=dtype, attn_implementation=attn
        )
        tensors = _load_tensors(path, ["score.0.weight", "score.0.bias", "score.2.weight", "score.2.bias"])
        w0, w2 = tensors["score.0.weight"], tensors["score.2.weight"]
        if w2.shape[0] != 2 or w0.shape[1] != config.hidden_size:
            raise PRMFormatError(
                f"unexpected head shapes score.0 {tuple(w0.shape)}, score.2 {tuple(w2.shape)}"
            )
        first = torch.nn.Linear(w0.shape[1], w0.shape[0], bias="score.0.bias" in tensors)
        last = torch.nn.Linear(w2.shape[1], w2.shape[0], bias="score.2.bias" in tensors)
        with torch.no_grad():
            first.weight.copy_(w0)
            last.weight.copy_(w2)
            if first.bias is not None:
                first.bias.copy_(tensors["score.0.bias"])
            if last.bias is not None:
                last.bias.copy_(tensors["score.2.bias"])
        head = torch.nn.Sequential(first, torch.nn.ReLU(), last)
        return backbone.eval(), ClassifierHead(head, positive=1)

    def _template_prefix(self, question: str) -> str:
        messages = [
            {"role": "system", "content": self.SYSTEM},
            {"role": "user", "content": question},
            {"role": "assistant", "content": self._SENTINEL},
        ]
        text: str = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        if text.count(self._SENTINEL) != 1:
            raise PRMFormatError("the chat template does not place the assistant turn's content once")
        return text.split(self._SENTINEL)[0]

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        # The prefix (system, user turn with the question, assistant header) is template text:
        # its special tokens count. The question inside it is user text, but the template owns it.
        ids = list(self.tokenizer(self._template_prefix(question), add_special_tokens=True)["input_ids"])
        prefix_len = len(ids)
        positions = []
        for step in steps:
            ids.extend(_piece_ids(self.tokenizer, step))
            ids.append(self.sep_id)
            positions.append(len(ids) - 1)
        # what follows the last <extra_0> (<|im_end|>...) cannot change a causal model's scores
        return Encoded(ids, positions, prefix_len)


class TokenClassification(Format):
    """An ``AutoModelForTokenClassification`` PRM as TRL's PRMTrainer trains it.

    Input (``PRMTrainer.tokenize_row``): ``[BOS] prompt`` then each step followed by the step
    separator (``"\\n"`` by default); the label sits on the last token of each step+separator.
    Score: softmax(logits)[1] there (label 1 = the step is correct).
    """

    name = "token-classification"

    def __init__(self, tokenizer: Any, config: dict[str, Any], step_separator: str = "\n") -> None:
        super().__init__(tokenizer, config)
        self.step_separator = step_separator
        self.sep_ids = list(tokenizer.encode(step_separator, add_special_tokens=False))
        self.bos_id = tokenizer.bos_token_id

    @classmethod
    def detects(cls, config: dict[str, Any], tokenizer: Any) -> bool:
        return any(a.endswith("ForTokenClassification") for a in config.get("architectures") or [])

    def load(self, path: Path, dtype: torch.dtype, attn: str) -> tuple[torch.nn.Module, Head]:
        import copy

        import torch
        from transformers import AutoModelForTokenClassification

        model = AutoModelForTokenClassification.from_pretrained(
            str(path), dtype=dtype, attn_implementation=attn
        )
        head = getattr(model, "score", None) or getattr(model, "classifier", None)
        if not isinstance(head, torch.nn.Linear):
            raise PRMFormatError(f"{type(model).__name__} has no linear `score`/`classifier` head")
        if head.out_features != 2:
            raise PRMFormatError(
                f"a token-classification PRM needs 2 labels, this one has {head.out_features}"
            )
        backbone = getattr(model, model.base_model_prefix)
        return backbone.eval(), ClassifierHead(copy.deepcopy(head), positive=1)

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        ids = [] if self.bos_id is None else [int(self.bos_id)]
        ids.extend(_piece_ids(self.tokenizer, question))
        prefix_len = len(ids)
        positions = []
        for i, step in enumerate(steps):
            piece = _piece_ids(self.tokenizer, step) + self.sep_ids
            if not piece:
                raise PRMInputError(f"step {i} is empty and the step separator has no tokens")
            ids.extend(piece)
            positions.append(len(ids) - 1)
        return Encoded(ids, positions, prefix_len)


FORMATS: dict[str, type[Format]] = {f.name: f for f in (MathShepherd, QwenMathPRM, TokenClassification)}


def _load_tensors(path: Path, names: list[str]) -> dict[str, torch.Tensor]:
    """Read the named tensors (those present) from a checkpoint's safetensors, sharded or not."""
    from safetensors import safe_open

    index = path / "model.safetensors.index.json"
    if index.is_file():
        weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
        files = {n: path / weight_map[n] for n in names if n in weight_map}
    elif (path / "model.safetensors").is_file():
        files = {n: path / "model.safetensors" for n in names}
    else:
        raise PRMPathError(f"{path} has no model.safetensors (or index): the engine reads safetensors only")
    out: dict[str, torch.Tensor] = {}
    for file in sorted(set(files.values())):
        with safe_open(str(file), framework="pt") as f:
            keys = set(f.keys())
            for n, fn in files.items():
                if fn == file and n in keys:
                    out[n] = f.get_tensor(n).float()
    missing = [n for n in names if n.endswith("weight") and n not in out]
    if missing:
        raise PRMFormatError(f"{path}: the head weights {missing} are not in the checkpoint")
    return out


def detect(config: dict[str, Any], tokenizer: Any) -> str:
    """The format of a checkpoint, from its config.json and tokenizer."""
    for name, cls in FORMATS.items():
        if cls.detects(config, tokenizer):
            return name
    archs = config.get("architectures")
    raise PRMFormatError(
        f"cannot tell the PRM format of a checkpoint with architectures={archs}; "
        f"pass format= one of {', '.join(FORMATS)}"
    )
