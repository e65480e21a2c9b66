"""``ProcessRewardModel``: load a PRM checkpoint and score every step of many solutions, batched.

How a batch is scored:

1. Each (question, steps) item is encoded by the format adapter into token ids and the positions
   of its step tags (tags inserted as token ids at the step ends).
2. Items are sorted by length and cut into batches whose padded size (rows x longest row) stays
   under ``max_batch_tokens``; rows are right-padded with an attention mask, so real tokens keep
   positions 0..n-1 exactly as in a one-at-a-time forward.
3. One backbone forward per batch (``torch.inference_mode``; bf16 and SDPA attention on GPU,
   float32 on CPU). The hidden states at the tag positions only are gathered and passed to the
   format's small head (two LM-head rows, or the classifier): no [batch, length, vocab] tensor.
4. With several GPUs (``device="auto"``), one replica per GPU; batches are dealt out to the
   replicas and run in threads.
"""

from __future__ import annotations

import copy
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from prm.errors import (
    PRMDependencyError,
    PRMFormatError,
    PRMInputError,
    PRMPathError,
    PRMTooLongError,
)
from prm.formats import FORMATS, Encoded, Format, Head, detect, read_config
from prm.scores import StepScores

if TYPE_CHECKING:
    import torch

    from prm.select import Selection

log = logging.getLogger("prm")

Item = tuple[str, Sequence[str]]

DEFAULT_BATCH_TOKENS_GPU = 32768
DEFAULT_BATCH_TOKENS_CPU = 512  # on CPU bigger batches gain little speed and cost memory


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise PRMDependencyError(exc.name or "torch and transformers") from exc
    return torch


def _resolve_devices(device: str | Sequence[str]) -> list[str]:
    torch = _import_torch()
    if not isinstance(device, str):
        devices = [str(d) for d in device]
        if not devices:
            raise ValueError("device list is empty")
        return devices
    if device == "auto":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return [f"cuda:{i}" for i in range(n)] if n else ["cpu"]
    if device == "cuda":
        return ["cuda:0"]
    return [device]


def _resolve_dtype(dtype: Any, device: str) -> Any:
    torch = _import_torch()
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
        "float16": torch.float16,
        "fp16": torch.float16,
    }
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto', a torch.dtype or one of {', '.join(names)}")
    return names[dtype]


def _as_steps(steps: object, index: int | None) -> list[str]:
    """The steps as a non-empty list of str, or the PRMInputError that says what is wrong."""
    if isinstance(steps, str):
        raise PRMInputError(
            "steps must be a list of strings, not one string (see prm.split_steps)", index=index
        )
    try:
        out = list(steps)  # type: ignore[call-overload]
    except TypeError:
        raise PRMInputError(
            f"steps must be a list of strings, not {type(steps).__name__}", index=index
        ) from None
    if not out:
        raise PRMInputError("the step list is empty: nothing to score", index=index)
    for i, s in enumerate(out):
        if not isinstance(s, str):
            raise PRMInputError(f"step {i} must be a str, not {type(s).__name__}", index=index)
    return out


def _last_layer_mlp_at(backbone: torch.nn.Module) -> Any:
    """Make the last decoder layer's MLP run only at the scored positions; returns its controller.

    The MLP is position-wise, so computing it on the gathered tag rows and leaving the other rows
    zero is exact at the tag positions, the only ones read: the last layer's MLP (most of its
    work) costs P rows instead of batch x length. None when the backbone has no ``layers[-1].mlp``.
    """
    import torch

    class TagRowsMLP(torch.nn.Module):
        def __init__(self, mlp: torch.nn.Module) -> None:
            super().__init__()
            self.mlp = mlp
            self.index: tuple[torch.Tensor, torch.Tensor] | None = None  # (rows, cols) of the tags

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.index is None:
                out: torch.Tensor = self.mlp(x)
                return out
            rows, cols = self.index
            out = x.new_zeros(x.shape)
            out[rows, cols] = self.mlp(x[rows, cols])
            return out

    layers = getattr(backbone, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        return None
    last = layers[-1]
    mlp = getattr(last, "mlp", None)
    if not isinstance(mlp, torch.nn.Module):
        return None
    wrapped = TagRowsMLP(mlp)
    last.mlp = wrapped
    return wrapped


class _Replica:
    """The backbone and head on one device."""

    def __init__(self, backbone: torch.nn.Module, head: Head, device: str) -> None:
        self.backbone = backbone
        self.head = head
        self.device = device
        self.lock = threading.Lock()  # one forward at a time per replica
        self.tag_rows_mlp = _last_layer_mlp_at(backbone)

    def run(self, batch: list[Encoded], pad_id: int) -> list[list[float]]:
        """Scores of each encoded item in ``batch`` (one forward)."""
        import torch

        longest = max(len(e.ids) for e in batch)
        ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        rows, cols = [], []
        for r, e in enumerate(batch):
            ids[r, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
            mask[r, : len(e.ids)] = 1
            rows.extend([r] * len(e.positions))
            cols.extend(e.positions)
        with self.lock, torch.inference_mode():
            index = (torch.tensor(rows, device=self.device), torch.tensor(cols, device=self.device))
            if self.tag_rows_mlp is not None:
                self.tag_rows_mlp.index = index
            try:
                out = self.backbone(
                    input_ids=ids.to(self.device),
                    attention_mask=mask.to(self.device),
                    use_cache=False,
                )
            finally:
                if self.tag_rows_mlp is not None:
                    self.tag_rows_mlp.index = None
            hidden = out.last_hidden_state  # [batch, length, hidden]: no vocab dimension
            picked = hidden[index]  # rows at the tags only (the others are not final off the tags)
            probs = self.head(picked).float().cpu().tolist()
        scores: list[list[float]] = []
        k = 0
        for e in batch:
            scores.append(probs[k : k + len(e.positions)])
            k += len(e.positions)
        return scores


class ProcessRewardModel:
    """A process reward model: ``score(question, steps) -> StepScores``, ``score_batch(items)``.

    Make one with :meth:`from_pretrained`. Thread-safe: concurrent calls share the replicas, one
    forward at a time on each.
    """

    def __init__(
        self,
        fmt: Format,
        replicas: list[_Replica],
        *,
        max_length: int,
        max_batch_tokens: int,
        pad_id: int,
        path: Path,
    ) -> None:
        self._fmt = fmt
        self._replicas = replicas
        self.max_length = max_length
        self.max_batch_tokens = max_batch_tokens
        self._pad_id = pad_id
        self.path = path
        # fast tokenizers flip shared settings (special-token splitting, padding) on each call
        self._tokenize_lock = threading.Lock()

    @property
    def format(self) -> str:
        """The checkpoint's format: ``math-shepherd``, ``qwen2.5-math-prm`` or ``token-classification``."""
        return self._fmt.name

    @property
    def device(self) -> str:
        """The first replica's device (``cpu``, ``cuda:0``)."""
        return self._replicas[0].device

    @property
    def devices(self) -> tuple[str, ...]:
        """One device per replica."""
        return tuple(r.device for r in self._replicas)

    @property
    def tokenizer(self) -> Any:
        return self._fmt.tokenizer

    def __repr__(self) -> str:
        return f"ProcessRewardModel({str(self.path)!r}, format={self.format!r}, devices={list(self.devices)})"

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        format: str = "auto",
        device: str | Sequence[str] = "auto",
        dtype: Any = "auto",
        max_batch_tokens: int | None = None,
        step_separator: str = "\n",
        attn_implementation: str = "sdpa",
    ) -> ProcessRewardModel:
        """Load a PRM from a local checkpoint directory.

        ``format``: ``auto`` (detected from config.json and the tokenizer, and logged), or one of
        ``math-shepherd``, ``qwen2.5-math-prm``, ``token-classification``.
        ``device``: ``auto`` (every visible GPU, one replica each, else the CPU), ``cpu``, ``cuda:N``,
        or a list of devices. ``dtype``: ``auto`` (bf16 on GPU, float32 on CPU) or a dtype name.
        ``max_batch_tokens``: padded tokens per forward (rows x longest row).
        ``step_separator``: the separator a token-classification PRM was trained with (TRL: ``"\\n"``).
        """
        _import_torch()
        from transformers import AutoTokenizer

        if format != "auto" and format not in FORMATS:
            raise PRMFormatError(
                f"unknown PRM format {format!r}; choose 'auto' or one of {', '.join(FORMATS)}"
            )
        root = Path(path)
        if not root.is_dir():
            raise PRMPathError(
                f"{str(path)!r} is not a directory; give the local directory of a checkpoint "
                "(e.g. `huggingface-cli download ORG/NAME --local-dir DIR`)"
            )
        config = read_config(root)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(root))
        except (OSError, ValueError) as exc:
            raise PRMPathError(f"cannot load a tokenizer from {root}: {exc}") from exc
        if format == "auto":
            format = detect(config, tokenizer)
            log.info(
                "prm: %s: detected format %r (architectures=%s)", root, format, config.get("architectures")
            )
        fmt_cls = FORMATS[format]
        fmt: Format = (
            fmt_cls(tokenizer, config, step_separator=step_separator)  # type: ignore[call-arg]
            if fmt_cls.name == "token-classification"
            else fmt_cls(tokenizer, config)
        )
        devices = _resolve_devices(device)
        torch_dtype = _resolve_dtype(dtype, devices[0])
        backbone, head = fmt.load(root, torch_dtype, attn_implementation)
        replicas = []
        for i, dev in enumerate(devices):
            bb = backbone if i == len(devices) - 1 else copy.deepcopy(backbone)
            replicas.append(_Replica(bb.to(dev), head.to(dev), dev))
        max_length = int(config.get("max_position_embeddings") or 0) or 1 << 30
        if max_batch_tokens is None:
            max_batch_tokens = (
                DEFAULT_BATCH_TOKENS_GPU if devices[0].startswith("cuda") else DEFAULT_BATCH_TOKENS_CPU
            )
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        log.info("prm: loaded %s (%s) on %s as %s", root, format, ",".join(devices), torch_dtype)
        return cls(
            fmt,
            replicas,
            max_length=max_length,
            max_batch_tokens=max_batch_tokens,
            pad_id=int(pad_id),
            path=root,
        )

    # ---- encoding and checks ---------------------------------------------------------------
    def encode(self, question: str, steps: Sequence[str], *, index: int | None = None) -> Encoded:
        """The token ids and step positions of one item, after the input checks."""
        if not isinstance(question, str):
            raise PRMInputError(f"question must be a str, not {type(question).__name__}", index=index)
        steps = _as_steps(steps, index)
        try:
            with self._tokenize_lock:
                enc = self._fmt.encode(question, steps)
        except PRMInputError as exc:
            raise PRMInputError(str(exc), index=index) from exc
        if enc.prefix_len >= self.max_length:
            raise PRMTooLongError(
                f"the question is {enc.prefix_len} tokens with the format's template; "
                f"the model takes at most {self.max_length} in all",
                index=index,
            )
        if len(enc.ids) > self.max_length:
            raise PRMTooLongError(
                f"question and steps are {len(enc.ids)} tokens; the model takes at most {self.max_length} "
                "(score fewer or shorter steps)",
                index=index,
            )
        return enc

    def _batches(self, encoded: list[tuple[int, Encoded]]) -> list[list[tuple[int, Encoded]]]:
        """Length-sorted batches whose padded size stays under ``max_batch_tokens``."""
        order = sorted(encoded, key=lambda x: len(x[1].ids), reverse=True)
        batches: list[list[tuple[int, Encoded]]] = []
        current: list[tuple[int, Encoded]] = []
        longest = 0
        for item in order:
            n = len(item[1].ids)
            width = max(longest, n)
            if current and width * (len(current) + 1) > self.max_batch_tokens:
                batches.append(current)
                current, width = [], n
            current.append(item)
            longest = width
        if current:
            batches.append(current)
        return batches

    def _run(self, batches: list[list[tuple[int, Encoded]]]) -> dict[int, list[float]]:
        out: dict[int, list[float]] = {}

        def work(replica: _Replica, mine: list[list[tuple[int, Encoded]]]) -> dict[int, list[float]]:
            got: dict[int, list[float]] = {}
            for batch in mine:
                scores = replica.run([e for _, e in batch], self._pad_id)
                got.update({idx: s for (idx, _), s in zip(batch, scores, strict=True)})
            return got

        if len(self._replicas) == 1 or len(batches) == 1:
            return work(self._replicas[0], batches)
        shares: list[list[list[tuple[int, Encoded]]]] = [[] for _ in self._replicas]
        load = [0] * len(self._replicas)
        for batch in batches:  # biggest first (already sorted): deal to the least loaded replica
            k = load.index(min(load))
            shares[k].append(batch)
            load[k] += max(len(e.ids) for _, e in batch) * len(batch)
        with ThreadPoolExecutor(len(self._replicas), thread_name_prefix="prm-replica") as pool:
            for got in pool.map(work, self._replicas, shares):
                out.update(got)
        return out

    # ---- public scoring --------------------------------------------------------------------
    def score(self, question: str, steps: Sequence[str]) -> StepScores:
        """P(step correct) for each step of one solution."""
        steps = _as_steps(steps, None)  # a generator is read once
        enc = self.encode(question, steps)
        scores = self._run([[(0, enc)]])[0]
        return StepScores.from_steps(steps, scores)

    @overload
    def score_batch(
        self, items: Sequence[Item], *, return_errors: Literal[False] = ...
    ) -> list[StepScores]: ...

    @overload
    def score_batch(
        self, items: Sequence[Item], *, return_errors: Literal[True]
    ) -> list[StepScores | PRMInputError]: ...

    def score_batch(
        self, items: Sequence[Item], *, return_errors: bool = False
    ) -> list[StepScores] | list[StepScores | PRMInputError]:
        """Score many (question, steps) items; results in input order.

        A bad item raises its :class:`PRMInputError` (with ``.index``) before any compute, or, with
        ``return_errors=True``, takes that error's place in the result while the rest are scored.
        """
        encoded: list[tuple[int, Encoded]] = []
        errors: dict[int, PRMInputError] = {}
        steps_of: dict[int, list[str]] = {}
        for i, item in enumerate(items):
            try:
                if not isinstance(item, (tuple, list)) or len(item) != 2:
                    raise PRMInputError("an item must be a (question, steps) pair", index=i)
                steps_of[i] = _as_steps(item[1], i)
                encoded.append((i, self.encode(item[0], steps_of[i], index=i)))
            except PRMInputError as exc:
                if not return_errors:
                    raise
                errors[i] = exc
        scores = self._run(self._batches(encoded)) if encoded else {}
        results: list[StepScores | PRMInputError] = []
        for i in range(len(items)):
            if i in errors:
                results.append(errors[i])
            else:
                results.append(StepScores.from_steps(steps_of[i], scores[i]))
        return results

    def select_best(
        self, question: str, candidates: Sequence[str | Sequence[str]], **kwargs: Any
    ) -> Selection:
        """:func:`prm.select_best` with this model."""
        from prm.select import select_best

        return select_best(question, candidates, model=self, **kwargs)
