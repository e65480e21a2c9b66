"""The columns rescore adds, and the Arrow schemas of the part files and the Parquet output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from mathreward.rescore.errors import RescoreError

if TYPE_CHECKING:
    import pyarrow as pa

# per-response columns added to every row (lists when the row holds a list of responses)
RESPONSE_COLUMNS: tuple[str, ...] = (
    "correct",  # bool: the verdict is CORRECT
    "status",  # correct | incorrect | no_answer | unparseable | timeout | error
    "method",  # string | numeric | symbolic | structural | judge | none
    "extracted_answer",  # the final answer found in the response (null: none)
    "verify_reason",  # the verifier's one-line reason
    "judge",  # the LLM second opinion's label when it was consulted (null: not consulted)
    "answer_group",  # equal answers (one verifier.answer_key, or both correct) share an id; null: no answer
)
PRM_COLUMNS: tuple[str, ...] = ("step_scores", "prm_score")  # list of P(step correct), and its aggregate


def _arrow_type_at(schema: pa.Schema, path: str) -> pa.DataType:
    import pyarrow as pa

    parts = path.split(".")
    if parts[0] not in schema.names:
        raise RescoreError(f"the input has no column {parts[0]}")
    t = schema.field(parts[0]).type
    for part in parts[1:]:
        if pa.types.is_struct(t):
            t = t.field(part).type
        elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and part.lstrip("-").isdigit():
            t = t.value_type
        else:
            raise RescoreError(f"cannot follow {path} into the input's schema at {part}")
    return t


def responses_are_lists(schema: pa.Schema, path: str) -> bool:
    import pyarrow as pa

    t = _arrow_type_at(schema, path)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return True
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return False
    raise RescoreError(f"the responses column {path} has type {t}; expected string or list<string>")


def _added_fields(list_mode: bool, names: Sequence[str]) -> list[pa.Field]:
    import pyarrow as pa

    types: dict[str, pa.DataType] = {
        "correct": pa.bool_(),
        "status": pa.string(),
        "method": pa.string(),
        "extracted_answer": pa.string(),
        "verify_reason": pa.string(),
        "judge": pa.string(),
        "answer_group": pa.int64(),
        "step_scores": pa.list_(pa.float64()),
        "prm_score": pa.float64(),
    }
    return [pa.field(n, pa.list_(types[n]) if list_mode else types[n]) for n in names]


def part_schema(in_schema: pa.Schema, list_mode: bool, with_prm: bool) -> pa.Schema:
    import pyarrow as pa

    names = RESPONSE_COLUMNS + (PRM_COLUMNS if with_prm else ())
    kept = [f for f in in_schema if f.name not in names]
    return pa.schema(kept + _added_fields(list_mode, names), metadata=None)


def output_schema(schema: pa.Schema, ks: Sequence[int], with_prm: bool) -> pa.Schema:
    import pyarrow as pa

    correct = schema.field("correct").type if "correct" in schema.names else pa.bool_()
    list_mode = pa.types.is_list(correct) or pa.types.is_large_list(correct)
    fields = [pa.field("num_correct", pa.int64()), pa.field("pass_rate", pa.float64())]
    fields += [
        pa.field("difficulty", pa.string()),  # difficulty.BUCKETS
        pa.field("repetition", pa.list_(pa.bool_()) if list_mode else pa.bool_()),  # per response
    ]
    fields += [pa.field(f"pass@{k}", pa.float64()) for k in ks]
    fields += [pa.field(f"maj@{k}", pa.bool_()) for k in ks]
    if with_prm:
        fields.append(pa.field("prm_best_correct", pa.bool_()))
    names = {f.name for f in fields}
    return pa.schema([f for f in schema if f.name not in names] + fields)
