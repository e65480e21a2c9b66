"""The base class of the format adapters, the heads, strict loading, and card-exact tokenisation.

A format adapter knows three things (the minbpe shape: one small file per format under this class):

1. ``detects``: whether ``format="auto"`` may pick it for a checkpoint. Only what can be confirmed
   from config.json is: a PRM or reward-model architecture, a 2-label token classifier. A causal
   LM is never guessed at (any vocabulary may hold a tag such as ``ки`` as an ordinary token).
2. ``load``: the backbone (the transformer without its output layer) and a small head that maps
   hidden states at the scored positions to scores; loaded strictly (:func:`load_strict`): a
   checkpoint tensor the format does not use, or a tensor it needs and does not find, is refused.
3. ``encode``: the token ids of one (question, steps) input and the positions whose hidden state
   scores each step, equal to the ids the model card's own code gives (:func:`encode_layout`).

torch and transformers are imported inside the functions (``import prm`` stays light).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from prm.errors import PRMError, PRMFormatError, PRMInputError, PRMPathError, PRMPlacementError

if TYPE_CHECKING:
    import torch

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


@dataclass(frozen=True)
class Encoded:
    """One input: token ids, the positions to score (one per step), and the question's token count."""

    ids: list[int]
    positions: list[int]
    prefix_len: int  # tokens before the first token of the response (question and template)


# ---- text checks and tokenisation ---------------------------------------------------------------
def check_text(text: str, what: str) -> None:
    """Refuse text the tokenizer cannot read (a lone surrogate such as ``"\\ud800"``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PRMInputError(
            f"the {what} is not valid Unicode: a lone surrogate {text[exc.start]!r} at character "
            f"{exc.start}; clean it first (e.g. text.encode('utf-8', 'replace').decode())"
        ) from None


def piece_ids(tokenizer: Any, text: str) -> list[int]:
    """Ids of a piece of user text tokenised on its own; special-token strings in it are read as text."""
    ids: list[int] = tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
    return ids


@dataclass
class Layout:
    """The model card's input as one string, with the character spans that matter.

    Built piece by piece: ``template`` text (the card's fixed text, special tokens included),
    ``user`` text (question and steps: special-token strings in it are read as text), and ``tag``
    text (the token read for one step's score).
    """

    text: str = ""
    user: list[tuple[int, int]] = field(default_factory=list)
    tags: list[tuple[int, int]] = field(default_factory=list)
    response_start: int = -1  # where the first step begins (-1: not marked yet)

    def template(self, text: str) -> Layout:
        self.text += text
        return self

    def add_user(self, text: str, what: str, *, response: bool = False) -> Layout:
        check_text(text, what)
        if response and self.response_start < 0:
            self.response_start = len(self.text)
        self.user.append((len(self.text), len(self.text) + len(text)))
        self.text += text
        return self

    def tag(self, text: str) -> Layout:
        self.tags.append((len(self.text), len(self.text) + len(text)))
        self.text += text
        return self


def special_ids(tokenizer: Any) -> frozenset[int]:
    """Ids of the added tokens the tokenizer treats as special (extracted from text unless split)."""
    decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    ids = {int(i) for i, tok in decoder.items() if getattr(tok, "special", False)}
    return frozenset(ids | {int(i) for i in getattr(tokenizer, "all_special_ids", [])})


def _overlaps(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> list[bool]:
    """For each token's [start, end) character span: does it share a character with one of ``spans``?

    Both are in text order (token starts never decrease; spans do not overlap): one sweep.
    """
    live = [sp for sp in spans if sp[1] > sp[0]]
    out = []
    j = 0
    for s, e in offsets:
        if e <= s:
            out.append(False)
            continue
        while j < len(live) and live[j][1] <= s:
            j += 1
        out.append(j < len(live) and live[j][0] < e)
    return out


def _read_typed_specials_as_text(
    tokenizer: Any,
    text: str,
    ids: list[int],
    offsets: list[tuple[int, int]],
    in_user: list[bool],
    specials: frozenset[int],
) -> tuple[list[int], list[tuple[int, int]]]:
    """Retokenise with the template's special tokens kept and special-token text in user spans as text.

    The text between two of the template's special tokens is tokenised as one piece (the card's
    merges across the template/user boundary are kept), with ``split_special_tokens``.
    """
    new_ids: list[int] = []
    new_offsets: list[tuple[int, int]] = []
    k = 0
    while k < len(ids) and offsets[k] == (0, 0):  # tokens the post-processor adds in front (BOS)
        new_ids.append(ids[k])
        new_offsets.append((0, 0))
        k += 1
    j = len(ids)
    while j > k and offsets[j - 1] == (0, 0):  # and behind (EOS), if any
        j -= 1
    tail = ids[j:]

    def piece(a: int, b: int) -> None:
        if b <= a:
            return
        enc = tokenizer(
            text[a:b], add_special_tokens=False, split_special_tokens=True, return_offsets_mapping=True
        )
        new_ids.extend(enc["input_ids"])
        new_offsets.extend((a + s, a + e) for s, e in enc["offset_mapping"])

    cursor = 0
    for i in range(k, j):
        s, e = offsets[i]
        if ids[i] in specials and e > s and not in_user[i]:
            piece(cursor, s)
            new_ids.append(ids[i])
            new_offsets.append((s, e))
            cursor = e
    piece(cursor, len(text))
    new_ids.extend(tail)
    new_offsets.extend([(0, 0)] * len(tail))
    return new_ids, new_offsets


def encode_layout(
    tokenizer: Any,
    layout: Layout,
    *,
    tag_id: int | None,
    add_special_tokens: bool,
    specials: frozenset[int],
    tag_name: str = "step tag",
) -> Encoded:
    """The ids the model card gets by tokenising ``layout.text`` in one call, and the tag positions.

    Tokenising the joined text (as the cards do) keeps every merge across a boundary (Qwen2's
    byte-level BPE reads a first step that starts with a newline as one ``ĊĊ`` with the template's
    newline; sentencepiece marks a word after a space, not after a newline). Policy for special
    tokens typed in user text (question or steps): read as text. When none is typed, the ids are
    the card's exactly; when one is, the text between the template's special tokens is retokenised
    with special-token splitting. Each tag span must come out as exactly one token with id
    ``tag_id`` that holds no user character; otherwise the item is refused (it cannot be scored
    as the card would).
    """
    enc = tokenizer(layout.text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    ids: list[int] = list(enc["input_ids"])
    offsets: list[tuple[int, int]] = [(int(a), int(b)) for a, b in enc["offset_mapping"]]
    in_user = _overlaps(offsets, layout.user)
    if any(u and t in specials for u, t in zip(in_user, ids, strict=True)):
        ids, offsets = _read_typed_specials_as_text(tokenizer, layout.text, ids, offsets, in_user, specials)
        in_user = _overlaps(offsets, layout.user)
    positions: list[int] = []
    if layout.tags:
        hits: list[list[int]] = [[] for _ in layout.tags]
        t = 0
        for i, (s, e) in enumerate(offsets):  # tags and tokens are both in text order
            if e <= s:
                continue
            while t < len(layout.tags) and layout.tags[t][1] <= s:
                t += 1
            u = t
            while u < len(layout.tags) and layout.tags[u][0] < e:
                hits[u].append(i)
                u += 1
        for k, got in enumerate(hits):
            if len(got) != 1 or ids[got[0]] != tag_id or in_user[got[0]]:
                pieces = tokenizer.convert_ids_to_tokens([ids[i] for i in got])
                raise PRMInputError(
                    f"step {k}: the {tag_name} does not come out as its own token after this step's "
                    f"text (tokens there: {pieces}); the card's tokenisation cannot be scored here"
                )
            positions.append(got[0])
    start = layout.response_start if layout.response_start >= 0 else len(layout.text)
    prefix_len = next((i for i, (s, e) in enumerate(offsets) if e > s and e > start), len(ids))
    return Encoded(ids, positions, prefix_len)


# ---- heads ------------------------------------------------------------------------------------
class LabelRowsHead:
    """A causal LM read at a tag: the label tokens' rows of the LM head; score = softmax over them [0]."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.weight = weight  # [labels, hidden], float32: the positive label's row first
        self.bias = bias

    def to(self, device: Any) -> LabelRowsHead:
        return LabelRowsHead(self.weight.to(device), None if self.bias is None else self.bias.to(device))

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        import torch

        logits = torch.nn.functional.linear(hidden.float(), self.weight, self.bias)
        return logits.softmax(-1)[:, 0]


class ClassifierHead:
    """A classifier head (a ``torch.nn.Module`` on hidden states); score = softmax(...)[positive]."""

    def __init__(self, module: torch.nn.Module, positive: int = 1) -> None:
        self.module = module.float().eval()
        self.positive = positive

    def to(self, device: Any) -> ClassifierHead:
        import copy

        return ClassifierHead(copy.deepcopy(self.module).to(device), self.positive)

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.module(hidden.float()).softmax(-1)[:, self.positive]


class ScalarHead:
    """An outcome reward model's head: one raw scalar per position (no softmax)."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module.float().eval()

    def to(self, device: Any) -> ScalarHead:
        import copy

        return ScalarHead(copy.deepcopy(self.module).to(device))

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.module(hidden.float())[:, 0]


Head = LabelRowsHead | ClassifierHead | ScalarHead


# ---- checkpoint files ---------------------------------------------------------------------------
def read_config(path: Path) -> dict[str, Any]:
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise PRMPathError(f"{path} has no config.json: not a transformers checkpoint directory")
    try:
        cfg: dict[str, Any] = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise PRMPathError(f"cannot read {cfg_file}: {exc}") from exc
    if not isinstance(cfg, dict):
        raise PRMPathError(f"{cfg_file} is not a JSON object")
    return cfg


def check_weight_files(path: Path) -> None:
    """A checkpoint directory must hold weights (safetensors or PyTorch, single or sharded)."""
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise PRMPathError(
            f"{path} has no weight files (looked for {', '.join(WEIGHT_FILES)}); "
            "the download may be incomplete: fetch the checkpoint's weights into this directory"
        )


def _names(keys: Any, limit: int = 8) -> str:
    names = sorted(str(k[0] if isinstance(k, tuple) else k) for k in keys)
    shown = ", ".join(names[:limit])
    return f"[{shown}{f', ... {len(names) - limit} more' if len(names) > limit else ''}]"


def load_strict(
    model_cls: Any,
    path: Path,
    fmt: str,
    *,
    dtype: Any,
    attn: str,
    device_map: Any = None,
    max_memory: dict[int, int] | None = None,
    config: Any = None,
) -> Any:
    """``model_cls.from_pretrained`` that refuses a checkpoint whose tensors do not match the model.

    Missing tensors (left at random init by transformers), unexpected ones (unused by the format),
    and shape mismatches are a :class:`PRMFormatError` naming them; unreadable weight files are a
    :class:`PRMPathError`.
    """
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "attn_implementation": attn,
        "output_loading_info": True,
        "ignore_mismatched_sizes": True,  # reported in the loading info (and refused below), not raised
    }
    if config is not None:
        kwargs["config"] = config
    if device_map is not None:
        kwargs["device_map"] = device_map
        if max_memory is not None:
            kwargs["max_memory"] = max_memory
    try:
        model, info = model_cls.from_pretrained(str(path), **kwargs)
    except PRMError:
        raise
    except Exception as exc:  # the loading boundary: name what failed, whatever raised it
        first_line = (str(exc).splitlines() or [""])[0][:300]
        if isinstance(exc, MemoryError) or "out of memory" in first_line.lower():
            raise PRMPlacementError(
                f"ran out of memory loading {path} ({type(exc).__name__}: {first_line}); use more GPUs "
                "(placement='split'), a smaller dtype, or free memory held by other processes"
            ) from exc
        raise PRMPathError(
            f"cannot read the weights in {path} ({type(exc).__name__}: {first_line}); "
            "a weight file may be damaged or incomplete: download it again"
        ) from exc
    missing = list(info.get("missing_keys") or [])
    unexpected = list(info.get("unexpected_keys") or [])
    mismatched = list(info.get("mismatched_keys") or [])
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing tensors {_names(missing)}")
        if unexpected:
            parts.append(f"tensors the format does not use {_names(unexpected)}")
        if mismatched:
            parts.append(f"tensors of the wrong shape {_names(mismatched)}")
        raise PRMFormatError(f"{path} is not a {fmt!r} checkpoint: {'; '.join(parts)}")
    return model


# ---- the base class -----------------------------------------------------------------------------
class Format:
    """Base class of the format adapters (one small file each; see the module docstring)."""

    name: ClassVar[str]
    kind: ClassVar[str] = "process"  # "process": one score per step; "outcome": one for the response
    options: ClassVar[frozenset[str]] = frozenset()  # keyword options ``from_pretrained`` passes on
    architectures: ClassVar[str] = "any"  # what config.json's ``architectures`` must name (for messages)

    def __init__(self, tokenizer: Any, config: dict[str, Any], **options: Any) -> None:
        unknown = set(options) - self.options
        if unknown:
            takes = ", ".join(sorted(self.options)) or "no options"
            raise PRMFormatError(
                f"format {self.name!r} takes {takes}; {', '.join(sorted(unknown))} does not apply to it"
            )
        self.tokenizer = tokenizer
        self.config = config
        self.specials = special_ids(tokenizer)
        if not getattr(tokenizer, "is_fast", False):
            raise PRMFormatError(
                f"format {self.name!r} needs a fast tokenizer (tokenizer.json), "
                f"got {type(tokenizer).__name__}"
            )

    @classmethod
    def matches_architecture(cls, archs: Sequence[str]) -> bool:
        """Whether config.json's ``architectures`` fit this format (checked for an explicit format too)."""
        raise NotImplementedError

    @classmethod
    def detects(cls, config: dict[str, Any]) -> bool:
        """Whether ``format="auto"`` may pick this format: only what config.json confirms."""
        return False

    def load(
        self,
        path: Path,
        dtype: Any,
        attn: str,
        device_map: Any = None,
        max_memory: dict[int, int] | None = None,
    ) -> tuple[torch.nn.Module, Head]:
        raise NotImplementedError

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        raise NotImplementedError


def single_token_id(tokenizer: Any, text: str, what: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise PRMFormatError(f"the tokenizer encodes the {what} {text!r} as {len(ids)} tokens {ids}, not one")
    return int(ids[0])


def qwen_score_model(num_labels: int) -> Any:
    """The layout of the remote ``Qwen2ForProcessRewardModel`` / ``Qwen2ForRewardModel``, without remote code.

    ``model`` (a ``Qwen2Model``) and ``score`` = Linear(hidden, hidden), ReLU, Linear(hidden,
    ``num_labels``): loaded by transformers from the checkpoint, strictly, shards and device maps
    included.
    """
    import torch
    from transformers import Qwen2Model, Qwen2PreTrainedModel

    class Qwen2WithScoreHead(Qwen2PreTrainedModel):
        def __init__(self, config: Any) -> None:
            super().__init__(config)
            self.model = Qwen2Model(config)
            hidden = config.hidden_size
            self.score = torch.nn.Sequential(
                torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, num_labels)
            )
            self.post_init()

    return Qwen2WithScoreHead
