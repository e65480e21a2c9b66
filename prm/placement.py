"""Where a model goes: replicas (one whole copy per GPU) or one copy split across GPUs in layer order.

Pure arithmetic over byte counts, so the plan is testable without a GPU:

- weights: the checkpoint's parameter count times the bytes of the dtype it is loaded in
  (:func:`checkpoint_params` reads the safetensors headers only);
- reserve: what a forward needs beside the weights on each GPU, from the token budget
  (:func:`activation_bytes`), plus a fixed margin for the CUDA context and allocator slack;
- ``auto``: replicas on every GPU when weights + reserve fit one GPU's free memory, else the
  layers split in order over the visible GPUs (a transformers/accelerate device map with
  ``max_memory`` per GPU), else an error that says how much is missing.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from prm.errors import PRMPlacementError

Placement = Literal["auto", "replicas", "split"]
PLACEMENTS: tuple[str, ...] = ("auto", "replicas", "split")
GiB = 1 << 30
CONTEXT_BYTES = GiB  # the CUDA context, cuBLAS workspaces and allocator fragmentation, per GPU
USABLE = 0.92  # of the free memory reported, the share the plan may fill


@dataclass(frozen=True)
class Plan:
    """``replicas``: a whole copy on each of ``devices``; ``split``: one copy, layers over ``devices``."""

    kind: Literal["replicas", "split"]
    devices: tuple[str, ...]
    max_memory: dict[int, int] | None  # split only: weight bytes allowed per GPU index
    weight_bytes: int
    reserve_bytes: int  # per GPU, beside the weights


def checkpoint_params(path: Path) -> int | None:
    """Parameter count from the safetensors headers (no tensor is read); None without safetensors."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (path / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        return None
    total = 0
    for name in files:
        with open(path / name, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header: dict[str, Any] = json.loads(f.read(size))
        for key, meta in header.items():
            if key == "__metadata__":
                continue
            n = 1
            for d in meta["shape"]:
                n *= int(d)
            total += n
    return total


def activation_bytes(config: dict[str, Any], max_batch_tokens: int, dtype_bytes: int) -> int:
    """Peak memory of one forward beside the weights, for a batch of ``max_batch_tokens`` padded tokens.

    Inference keeps one layer's temporaries alive at a time: the residual stream and its norm
    (2 x hidden), q/k/v and the attention output (about 4 x hidden), the MLP's gate, up and
    product (3 x intermediate), per token; doubled for the allocator's rounding and the caller's
    copy of the hidden states. SDPA's fused kernels keep attention memory linear in length.
    """
    hidden = int(config.get("hidden_size") or 4096)
    inter = int(config.get("intermediate_size") or 4 * hidden)
    per_token = (6 * hidden + 3 * inter) * dtype_bytes
    return 2 * max_batch_tokens * per_token


def plan(
    weight_bytes: int,
    reserve_bytes: int,
    free: Sequence[int],
    placement: Placement = "auto",
    devices: Sequence[int] | None = None,
) -> Plan:
    """Replicas or a split over the GPUs whose free bytes are ``free`` (indexed as ``devices``)."""
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; choose one of {', '.join(PLACEMENTS)}")
    index = list(devices) if devices is not None else list(range(len(free)))
    if not free:
        raise PRMPlacementError("no GPU to place the model on")
    need = weight_bytes + reserve_bytes + CONTEXT_BYTES
    usable = [int(f * USABLE) for f in free]
    fits = [i for i, u in zip(index, usable, strict=True) if u >= need]
    if placement == "replicas" or (placement == "auto" and (fits or len(free) == 1)):
        if not fits:
            raise PRMPlacementError(
                f"the model needs {need / GiB:.1f} GiB on one GPU (weights {weight_bytes / GiB:.1f}, "
                f"forward {reserve_bytes / GiB:.1f}, context {CONTEXT_BYTES / GiB:.1f}); the largest free is "
                f"{max(usable) / GiB:.1f} GiB: lower max_batch_tokens, load in bf16, or split it "
                "over several GPUs (placement='split')"
            )
        return Plan("replicas", tuple(f"cuda:{i}" for i in fits), None, weight_bytes, reserve_bytes)
    budgets = {i: max(0, u - reserve_bytes - CONTEXT_BYTES) for i, u in zip(index, usable, strict=True)}
    if sum(budgets.values()) < weight_bytes:
        raise PRMPlacementError(
            f"the weights need {weight_bytes / GiB:.1f} GiB and the {len(free)} GPUs have "
            f"{sum(budgets.values()) / GiB:.1f} GiB for weights after the forward's "
            f"{reserve_bytes / GiB:.1f} GiB and the context on each: use more GPUs or a smaller dtype"
        )
    used = tuple(f"cuda:{i}" for i in index if budgets[i] > 0)
    return Plan("split", used, {i: b for i, b in budgets.items() if b > 0}, weight_bytes, reserve_bytes)
