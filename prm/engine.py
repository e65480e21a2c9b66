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
4. With several GPUs (``device="auto"``), one replica per GPU when the model fits one (batches are
   dealt out to the replicas and run in threads), else one copy whose layers are split in order
   over the GPUs (a transformers/accelerate device map; :mod:`prm.placement` plans it).
5. ``token_scores=True`` reads the head at every token of the response too (per-token rewards).
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
    PRMError,
    PRMFormatError,
    PRMInputError,
    PRMPathError,
    PRMPlacementError,
    PRMScoringError,
    PRMTooLongError,
)
from prm.formats import Encoded, Format, Head, check_weight_files, read_config, resolve, suggestion
from prm.placement import Placement, Plan
from prm.scores import STEP_JOINER, StepScores

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


def _as_steps(steps: object, index: int | None, *, outcome: bool = False) -> list[str]:
    """The steps as a non-empty list of str, or the PRMInputError that says what is wrong.

    An outcome reward model also takes the whole response as one string.
    """
    if isinstance(steps, str) and outcome:
        return [steps]
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
            rows, cols = (t.to(x.device) for t in self.index)  # a split model: the last layer's GPU
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
    """The backbone and head on one device (or, split, inputs on the first GPU and the head on the last)."""

    def __init__(
        self, backbone: torch.nn.Module, head: Head, device: str, out_device: str | None = None
    ) -> None:
        self.backbone = backbone
        self.head = head
        self.device = device
        self.out_device = out_device or device
        self.lock = threading.Lock()  # one forward at a time per replica
        self.tag_rows_mlp = _last_layer_mlp_at(backbone)

    def run(
        self, batch: list[Encoded], pad_id: int, tokens: bool = False
    ) -> list[tuple[list[float], list[float]]]:
        """(step scores, token scores) of each encoded item in ``batch`` (one forward).

        Token scores are the head at every token from ``prefix_len`` on (empty unless ``tokens``).
        """
        import torch

        longest = max(len(e.ids) for e in batch)
        ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), longest), dtype=torch.long)
        rows, cols, counts = [], [], []
        for r, e in enumerate(batch):
            ids[r, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
            mask[r, : len(e.ids)] = 1
            read = list(e.positions)
            if tokens:
                read.extend(range(e.prefix_len, len(e.ids)))
            rows.extend([r] * len(read))
            cols.extend(read)
            counts.append(len(read))
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
            at = (index[0].to(hidden.device), index[1].to(hidden.device))
            picked = hidden[at].to(self.out_device)  # rows read only (the others are not final off them)
            values = self.head(picked).float().cpu().tolist()
        result: list[tuple[list[float], list[float]]] = []
        k = 0
        for e, n in zip(batch, counts, strict=True):
            got = values[k : k + n]
            result.append((got[: len(e.positions)], got[len(e.positions) :]))
            k += n
        return result


Result = tuple[list[float], list[float]]  # (step scores, token scores)


def _plan_gpus(
    root: Path,
    config: dict[str, Any],
    devices: list[str],
    dtype: Any,
    max_batch_tokens: int,
    placement: Placement,
) -> Plan:
    """Replicas or a split over ``devices`` (all CUDA), from the checkpoint's size and free GPU memory."""
    import torch

    from prm.placement import activation_bytes, checkpoint_params, plan

    dtype_bytes = torch.empty((), dtype=dtype).element_size()
    params = checkpoint_params(root)
    if params is not None:
        weights = params * dtype_bytes
    else:  # PyTorch .bin files: their size on disk
        weights = sum(f.stat().st_size for f in root.glob("pytorch_model*.bin"))
    index = [torch.device(d).index or 0 for d in devices]
    free = [torch.cuda.mem_get_info(i)[0] for i in index]
    return plan(weights, activation_bytes(config, max_batch_tokens, dtype_bytes), free, placement, index)


class ProcessRewardModel:
    """A process (or outcome) reward model: ``score(question, steps) -> StepScores``, ``score_batch(items)``.

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
        placement: str = "replicas",
    ) -> None:
        self._fmt = fmt
        self._replicas = replicas
        self.max_length = max_length
        self.max_batch_tokens = max_batch_tokens
        self._pad_id = pad_id
        self.path = path
        self.placement = placement  # "replicas" (one whole copy per device) or "split" (layers over GPUs)
        # fast tokenizers flip shared settings (special-token splitting, padding) on each call
        self._tokenize_lock = threading.Lock()

    @property
    def format(self) -> str:
        """The checkpoint's format (a key of :data:`prm.FORMATS`, e.g. ``math-shepherd``)."""
        return self._fmt.name

    @property
    def kind(self) -> str:
        """``process`` (a score per step, P(correct)) or ``outcome`` (one raw reward for the response)."""
        return self._fmt.kind

    @property
    def device(self) -> str:
        """The first replica's (input) device (``cpu``, ``cuda:0``)."""
        return self._replicas[0].device

    @property
    def devices(self) -> tuple[str, ...]:
        """One device per replica (split: the GPU that takes the inputs)."""
        return tuple(r.device for r in self._replicas)

    @property
    def tokenizer(self) -> Any:
        return self._fmt.tokenizer

    def __repr__(self) -> str:
        return (
            f"ProcessRewardModel({str(self.path)!r}, format={self.format!r}, devices={list(self.devices)}, "
            f"placement={self.placement!r})"
        )

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike[str],
        *,
        format: str = "auto",
        device: str | Sequence[str] = "auto",
        dtype: Any = "auto",
        max_batch_tokens: int | None = None,
        step_separator: str | None = None,
        step_tag_id: int | None = None,
        returned_token_ids: Sequence[int] | None = None,
        placement: Placement = "auto",
        attn_implementation: str = "sdpa",
    ) -> ProcessRewardModel:
        """Load a PRM (or an outcome reward model) from a local checkpoint directory.

        ``format``: ``auto`` (the checkpoint's ``prm_format.json`` if it has one, else what
        config.json confirms: ``Qwen2ForProcessRewardModel``, ``Qwen2ForRewardModel``, a 2-label
        ``*ForTokenClassification``; a causal LM is refused with the format to name), or one of
        ``math-shepherd``, ``step-tag``, ``qwen2.5-math-prm``, ``token-classification``, ``qwen2.5-math-rm``.
        Loading fails closed: every tensor the format needs is present and every tensor present is used.
        ``device``: ``auto`` (every visible GPU, else the CPU), ``cpu``, ``cuda:N``, or a list.
        ``placement``: ``auto`` (one replica per GPU when the model fits one, else its layers split in
        order over the GPUs), ``replicas`` or ``split``. ``dtype``: ``auto`` (bf16 on GPU, float32 on
        CPU) or a dtype name. ``max_batch_tokens``: padded tokens per forward (rows x longest row).
        ``step_separator``: the separator a token-classification PRM was trained with (TRL: ``"\\n"``),
        or the text between a step-tag PRM's steps. ``step_tag_id``, ``returned_token_ids``: the
        step-tag format's tag token and its (positive, negative) label tokens, as vLLM's step pooler.
        """
        _import_torch()
        from transformers import AutoTokenizer

        root = Path(path)
        if not root.is_dir():
            raise PRMPathError(
                f"{str(path)!r} is not a directory; give the local directory of a checkpoint "
                "(e.g. `huggingface-cli download ORG/NAME --local-dir DIR`)"
            )
        config = read_config(root)
        check_weight_files(root)
        given: dict[str, Any] = {"step_separator": step_separator, "step_tag_id": step_tag_id}
        given["returned_token_ids"] = returned_token_ids  # checked by the format
        fmt_cls, options, how = resolve(
            root, config, format, {k: v for k, v in given.items() if v is not None}
        )
        if how != "argument":
            log.info(
                "prm: %s: %s format %r (architectures=%s)",
                root,
                how,
                fmt_cls.name,
                config.get("architectures"),
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(root))
        except Exception as exc:  # the loading boundary: any failure here is an unusable tokenizer
            raise PRMPathError(f"cannot load a tokenizer from {root}: {type(exc).__name__}: {exc}") from exc
        fmt = fmt_cls(tokenizer, config, **options)
        devices = _resolve_devices(device)
        torch_dtype = _resolve_dtype(dtype, devices[0])
        if max_batch_tokens is None:
            max_batch_tokens = (
                DEFAULT_BATCH_TOKENS_GPU if devices[0].startswith("cuda") else DEFAULT_BATCH_TOKENS_CPU
            )
        gpus = all(d.startswith("cuda") for d in devices)
        plan = None
        if gpus and (len(devices) > 1 or placement == "split"):
            plan = _plan_gpus(root, config, devices, torch_dtype, max_batch_tokens, placement)
            devices = list(plan.devices)
        elif placement == "split":
            raise ValueError("placement='split' needs CUDA devices")
        try:
            if plan is not None and plan.kind == "split":
                backbone, head = fmt.load(
                    root,
                    torch_dtype,
                    attn_implementation,
                    device_map="sequential",
                    max_memory=plan.max_memory,
                )
                params = list(backbone.parameters())
                off_gpu = sorted({str(p.device) for p in params if p.device.type != "cuda"})
                if off_gpu:  # accelerate put layers on the CPU or disk: slow and not what was planned
                    raise PRMPlacementError(
                        f"the device map put part of the model on {off_gpu}: it does not fit the GPUs "
                        f"{plan.devices}; lower max_batch_tokens or use more GPUs"
                    )
                first, last = str(params[0].device), str(params[-1].device)
                replicas = [_Replica(backbone, head.to(last), first, out_device=last)]
            else:
                backbone, head = fmt.load(root, torch_dtype, attn_implementation)
                replicas = []
                for i, dev in enumerate(devices):
                    bb = backbone if i == len(devices) - 1 else copy.deepcopy(backbone)
                    replicas.append(_Replica(bb.to(dev), head.to(dev), dev))
        except PRMFormatError as exc:
            raise PRMFormatError(f"{exc}{suggestion(config, fmt.name)}") from exc
        max_length = int(config.get("max_position_embeddings") or 0) or 1 << 30
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        kind = plan.kind if plan is not None else "replicas"
        log.info("prm: loaded %s (%s) on %s as %s (%s)", root, fmt.name, ",".join(devices), torch_dtype, kind)
        return cls(
            fmt,
            replicas,
            max_length=max_length,
            max_batch_tokens=max_batch_tokens,
            pad_id=int(pad_id),
            path=root,
            placement=kind,
        )

    # ---- encoding and checks ---------------------------------------------------------------
    def encode(self, question: str, steps: Sequence[str], *, index: int | None = None) -> Encoded:
        """The token ids and step positions of one item, after the input checks.

        Any failure while encoding (a lone surrogate, a tokenizer error) is this item's
        :class:`PRMInputError`.
        """
        if not isinstance(question, str):
            raise PRMInputError(f"question must be a str, not {type(question).__name__}", index=index)
        steps = _as_steps(steps, index, outcome=self.kind == "outcome")
        try:
            with self._tokenize_lock:
                enc = self._fmt.encode(question, steps)
        except PRMInputError as exc:
            raise PRMInputError(str(exc), index=index) from exc
        except Exception as exc:  # the item's own failure, whatever raised it: reported in its slot
            raise PRMInputError(
                f"cannot encode this item ({type(exc).__name__}: {exc})", index=index
            ) from exc
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

    def _run(
        self, batches: list[list[tuple[int, Encoded]]], *, tokens: bool = False, isolate: bool = False
    ) -> dict[int, Result | PRMScoringError]:
        """Scores by item index. ``isolate``: a batch whose forward fails is rerun item by item, and an
        item that fails alone gets its :class:`PRMScoringError`; otherwise the failure propagates."""

        def one_batch(
            replica: _Replica, batch: list[tuple[int, Encoded]]
        ) -> dict[int, Result | PRMScoringError]:
            try:
                got = replica.run([e for _, e in batch], self._pad_id, tokens)
                return {idx: r for (idx, _), r in zip(batch, got, strict=True)}
            except Exception as exc:
                if not isolate:
                    raise
                if len(batch) == 1:
                    log.warning("prm: item %d failed in the forward: %r", batch[0][0], exc)
                    return {
                        batch[0][0]: PRMScoringError(
                            f"the forward pass failed: {type(exc).__name__}: {exc}", index=batch[0][0]
                        )
                    }
                out: dict[int, Result | PRMScoringError] = {}
                for item in batch:
                    out.update(one_batch(replica, [item]))
                return out

        def work(
            replica: _Replica, mine: list[list[tuple[int, Encoded]]]
        ) -> dict[int, Result | PRMScoringError]:
            got: dict[int, Result | PRMScoringError] = {}
            for batch in mine:
                got.update(one_batch(replica, batch))
            return got

        if len(self._replicas) == 1 or len(batches) == 1:
            return work(self._replicas[0], batches)
        shares: list[list[list[tuple[int, Encoded]]]] = [[] for _ in self._replicas]
        load = [0] * len(self._replicas)
        for batch in batches:  # biggest first (already sorted): deal to the least loaded replica
            k = load.index(min(load))
            shares[k].append(batch)
            load[k] += max(len(e.ids) for _, e in batch) * len(batch)
        out: dict[int, Result | PRMScoringError] = {}
        with ThreadPoolExecutor(len(self._replicas), thread_name_prefix="prm-replica") as pool:
            for got in pool.map(work, self._replicas, shares):
                out.update(got)
        return out

    def _result(self, steps: list[str], got: Result, enc: Encoded, tokens: bool) -> StepScores:
        scores, token_values = got
        extra: dict[str, Any] = {}
        if tokens:
            extra = {"token_ids": tuple(enc.ids[enc.prefix_len :]), "token_scores": tuple(token_values)}
        if self.kind == "outcome":
            solution = STEP_JOINER.join(steps)
            return StepScores(tuple(scores), ((0, len(solution)),), solution, kind="outcome", **extra)
        return StepScores.from_steps(steps, scores, **extra)

    # ---- public scoring --------------------------------------------------------------------
    def score(self, question: str, steps: Sequence[str], *, token_scores: bool = False) -> StepScores:
        """P(step correct) for each step of one solution (an outcome model: one reward for the response).

        ``token_scores=True`` also reads the head at every token of the response
        (``StepScores.token_ids``, ``StepScores.token_scores``).
        """
        steps = _as_steps(steps, None, outcome=self.kind == "outcome")  # a generator is read once
        enc = self.encode(question, steps)
        got = self._run([[(0, enc)]], tokens=token_scores)[0]
        assert not isinstance(got, PRMError)  # isolate=False: a failure raised
        return self._result(steps, got, enc, token_scores)

    @overload
    def score_batch(
        self, items: Sequence[Item], *, return_errors: Literal[False] = ..., token_scores: bool = ...
    ) -> list[StepScores]: ...

    @overload
    def score_batch(
        self, items: Sequence[Item], *, return_errors: Literal[True], token_scores: bool = ...
    ) -> list[StepScores | PRMError]: ...

    def score_batch(
        self, items: Sequence[Item], *, return_errors: bool = False, token_scores: bool = False
    ) -> list[StepScores] | list[StepScores | PRMError]:
        """Score many (question, steps) items; results in input order.

        A bad item raises its :class:`PRMInputError` (with ``.index``) before any compute, or, with
        ``return_errors=True``, takes that error's place in the result while the rest are scored;
        with ``return_errors=True`` an item whose forward fails (alone) gets a
        :class:`PRMScoringError` in its slot. Every failure of one item stays in that item's slot.
        """
        encoded: list[tuple[int, Encoded]] = []
        errors: dict[int, PRMError] = {}
        steps_of: dict[int, list[str]] = {}
        outcome = self.kind == "outcome"
        for i, item in enumerate(items):
            try:
                if not isinstance(item, (tuple, list)) or len(item) != 2:
                    raise PRMInputError("an item must be a (question, steps) pair", index=i)
                steps_of[i] = _as_steps(item[1], i, outcome=outcome)
                encoded.append((i, self.encode(item[0], steps_of[i], index=i)))
            except PRMInputError as exc:
                if not return_errors:
                    raise
                errors[i] = exc
            except Exception as exc:  # reading the item failed (e.g. its steps' iterator raised)
                err = PRMInputError(f"cannot read this item ({type(exc).__name__}: {exc})", index=i)
                if not return_errors:
                    raise err from exc
                errors[i] = err
        got = self._run(self._batches(encoded), tokens=token_scores, isolate=return_errors) if encoded else {}
        enc_of = dict(encoded)
        results: list[StepScores | PRMError] = []
        for i in range(len(items)):
            r = errors.get(i) or got[i]
            results.append(
                r if isinstance(r, PRMError) else self._result(steps_of[i], r, enc_of[i], token_scores)
            )
        return results

    def select_best(
        self, question: str, candidates: Sequence[str | Sequence[str]], **kwargs: Any
    ) -> Selection:
        """:func:`prm.select_best` with this model."""
        from prm.select import select_best

        return select_best(question, candidates, model=self, **kwargs)
