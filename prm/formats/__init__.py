"""PRM formats: one small adapter class each (see :mod:`prm.formats.base`), and how one is chosen.

A format is chosen, in this order: ``from_pretrained(format=...)``; else the checkpoint's own
declaration, ``prm_format.json`` (``{"format": "step-tag", "step_tag_id": 12902,
"returned_token_ids": [648, 387]}``); else ``format="auto"`` detection, which accepts only what
config.json confirms (a PRM or reward-model architecture, a 2-label token classifier) and refuses
a causal LM with a message that says which format to name. An explicit format is checked against
config.json's architectures and, when loading, against the checkpoint's tensors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prm.errors import PRMFormatError, PRMPathError
from prm.formats.base import (
    ClassifierHead,
    Encoded,
    Format,
    Head,
    LabelRowsHead,
    ScalarHead,
    check_weight_files,
    read_config,
)
from prm.formats.math_shepherd import MathShepherd
from prm.formats.qwen_prm import QwenMathPRM
from prm.formats.qwen_rm import QwenMathRM
from prm.formats.step_tag import StepTag
from prm.formats.token_classification import TokenClassification

FORMATS: dict[str, type[Format]] = {
    f.name: f for f in (MathShepherd, StepTag, QwenMathPRM, TokenClassification, QwenMathRM)
}
DECLARATION = "prm_format.json"  # a checkpoint's own statement of its format and options

__all__ = [
    "DECLARATION",
    "FORMATS",
    "ClassifierHead",
    "Encoded",
    "Format",
    "Head",
    "LabelRowsHead",
    "MathShepherd",
    "QwenMathPRM",
    "QwenMathRM",
    "ScalarHead",
    "StepTag",
    "TokenClassification",
    "check_weight_files",
    "detect",
    "read_config",
    "resolve",
    "suggestion",
]

_CAUSAL_LM_HINT = (
    "pass format='math-shepherd' if it is a Math-Shepherd PRM (tag 'ки', labels '+'/'-'), or "
    "format='step-tag' with step_tag_id= and returned_token_ids= for another step tag "
    f"(or write the same in the checkpoint's {DECLARATION})"
)


def _archs(config: dict[str, Any]) -> list[str]:
    archs = config.get("architectures") or []
    return [str(a) for a in archs] if isinstance(archs, list) else []


def detect(config: dict[str, Any]) -> str:
    """The format ``auto`` confirms from config.json, or a PRMFormatError saying what to pass."""
    for name, cls in FORMATS.items():
        if cls.detects(config):
            return name
    archs = _archs(config)
    if StepTag.matches_architecture(archs):
        raise PRMFormatError(
            f"architectures={archs} is a causal LM: format='auto' cannot confirm it is a PRM (a tag "
            f"such as 'ки' may be an ordinary token of its vocabulary); {_CAUSAL_LM_HINT}"
        )
    if TokenClassification.matches_architecture(archs):
        raise PRMFormatError(
            f"architectures={archs} is a token classifier without exactly 2 labels: not a PRM this "
            "engine can read (format='token-classification' needs label 1 = correct, label 0 = not)"
        )
    raise PRMFormatError(
        f"cannot tell the PRM format of a checkpoint with architectures={archs}; "
        f"pass format= one of {', '.join(FORMATS)}"
    )


def suggestion(config: dict[str, Any], asked: str | None = None) -> str:
    """A hint at the format config.json points to (nothing when it is ``asked``)."""
    archs = _archs(config)
    try:
        found = detect(config)
        return "" if found == asked else f"; it looks like format={found!r}"
    except PRMFormatError:
        pass
    if StepTag.matches_architecture(archs):
        return "; it is a causal LM: format='math-shepherd' or 'step-tag' reads one"
    return ""


def _plain(value: Any) -> Any:
    """A value as JSON holds it (a tuple of ids compares equal to the declaration's list)."""
    return list(value) if isinstance(value, tuple) else value


def read_declaration(path: Path) -> dict[str, Any] | None:
    """The checkpoint's ``prm_format.json`` (``{"format": ..., options...}``), or None."""
    file = path / DECLARATION
    if not file.is_file():
        return None
    try:
        declared = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise PRMPathError(f"cannot read {file}: {exc}") from exc
    if not isinstance(declared, dict) or not isinstance(declared.get("format"), str):
        raise PRMPathError(f'{file} must be a JSON object with a "format" name (and the format\'s options)')
    return declared


def resolve(
    path: Path, config: dict[str, Any], format: str, options: dict[str, Any]
) -> tuple[type[Format], dict[str, Any], str]:
    """The format class, its options, and how it was chosen (``argument``, ``declared``, ``detected``)."""
    if format != "auto" and format not in FORMATS:
        raise PRMFormatError(f"unknown PRM format {format!r}; choose 'auto' or one of {', '.join(FORMATS)}")
    declared = read_declaration(path)
    how = "argument"
    if declared is not None:
        name = declared.pop("format")
        if name not in FORMATS:
            raise PRMFormatError(f"{path / DECLARATION} names an unknown format {name!r}")
        if format not in ("auto", name):
            raise PRMFormatError(f"format={format!r} was passed but {path / DECLARATION} declares {name!r}")
        clash = {k for k in set(declared) & set(options) if _plain(declared[k]) != _plain(options[k])}
        if clash:
            raise PRMFormatError(f"{', '.join(sorted(clash))} passed differ from {path / DECLARATION}")
        options = {**declared, **options}
        format, how = name, "declared" if format == "auto" else how
    elif format == "auto":
        format, how = detect(config), "detected"
    cls = FORMATS[format]
    archs = _archs(config)
    if archs and not cls.matches_architecture(archs):
        raise PRMFormatError(
            f"format {format!r} reads {cls.architectures}, but config.json names architectures={archs}"
            f"{suggestion(config, format)}"
        )
    return cls, options, how
