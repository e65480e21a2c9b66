"""Errors raised by the PRM engine. Every one is a :class:`PRMError`::

    PRMError
     ├── PRMDependencyError   torch/transformers missing (also an ImportError); says what to install
     ├── PRMPathError         the checkpoint directory is missing or lacks config.json / tokenizer
     ├── PRMFormatError       unknown format name, a checkpoint whose format cannot be confirmed, or
     │                        whose tensors or head do not match the format (names them)
     ├── PRMPlacementError    the model does not fit the GPUs (prm.placement; says by how much)
     ├── PRMScoringError      one item's forward failed (in its slot with return_errors=True)
     └── PRMInputError        a bad (question, steps) item: empty step list, non-str step, bad text, ...
          └── PRMTooLongError the question (or the whole solution) has more tokens than the model takes

Input errors carry ``index``: the item's position in the batch (None for a single ``score`` call).
"""

from __future__ import annotations

INSTALL_HINT = "pip install 'mathreward[prm]'"


class PRMError(Exception):
    """Base class of every error the PRM engine raises on purpose."""


class PRMDependencyError(PRMError, ImportError):
    """A dependency of the ``prm`` extra is not installed."""

    def __init__(self, missing: str) -> None:
        super().__init__(f"the PRM engine needs {missing}: {INSTALL_HINT}")


class PRMPathError(PRMError):
    """The checkpoint path is not a usable model directory (no config, no weights, unreadable files)."""


class PRMFormatError(PRMError):
    """Unknown format name; a format auto cannot confirm; tensors or head that do not fit the format."""


class PRMPlacementError(PRMError):
    """The model does not fit the GPUs given (says by how much)."""


class PRMScoringError(PRMError):
    """The forward pass failed for one item (scored alone after its batch failed)."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        where = f"item {index}: " if index is not None else ""
        super().__init__(where + message)
        self.index = index


class PRMInputError(PRMError, ValueError):
    """One (question, steps) item cannot be scored."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        where = f"item {index}: " if index is not None else ""
        super().__init__(where + message)
        self.index = index


class PRMTooLongError(PRMInputError):
    """The question, or the question with its steps, has more tokens than the model's positions."""
