"""Dataset input and output: JSONL, Parquet and HF ``datasets`` directories (``save_to_disk``).

Rows are plain dicts. Columns are addressed by dotted paths into nested fields
(``reward_model.ground_truth``; a numeric segment indexes a list: ``prompt.0.content``).
Reading is chunked, so a dataset never has to fit in memory twice, and can start at any row (resume).
Every write that a user may see is atomic: a temporary file in the same folder, fsync, ``os.replace``;
files get the mode the process's umask gives new files. JSON written here is JSON any parser reads: a
NaN or an infinity is null, and the characters some readers take for line ends (U+2028, U+2029, NEL) are
escaped, so a JSONL row is always one line.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import itertools
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pyarrow as pa

Format = Literal["jsonl", "parquet", "hf"]
FORMATS: tuple[str, ...] = ("jsonl", "parquet", "hf")

_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
_PARQUET_SUFFIXES = (".parquet", ".pq")


class DatasetError(Exception):
    """A dataset that cannot be read or written; the message says which file and why."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()  # returned by get_path when a column or nested field is absent


def get_path(row: Any, path: str) -> Any:
    """The value at a dotted path (``a.b.0.c``), or ``MISSING`` when any step is absent."""
    cur = row
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return MISSING
            cur = cur[part]
        elif isinstance(cur, list | tuple) and (part.lstrip("-").isdigit()):
            i = int(part)
            if not -len(cur) <= i < len(cur):
                return MISSING
            cur = cur[i]
        else:
            return MISSING
    return cur


def detect_format(path: str | os.PathLike[str]) -> Format:
    """jsonl, parquet or hf (a directory written by ``Dataset.save_to_disk``), from the path."""
    p = Path(path)
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "state.json").exists():
            return "hf"
        if (p / "dataset_dict.json").exists():
            raise DatasetError(
                f"{p} is a DatasetDict (several splits): pass one split's folder, e.g. {p / 'train'}"
            )
        raise DatasetError(f"{p} is a folder but not a datasets save_to_disk folder (no state.json)")
    name = p.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    raise DatasetError(f"cannot tell the format of {p}: use a .jsonl or .parquet name, or a datasets folder")


def output_format(path: str | os.PathLike[str], input_format: Format) -> Format:
    """The output's format: from its name when it names one, else the input's."""
    name = Path(path).name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    return input_format


# ---------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RawRow:
    """One input row: its 0-based index, the row, or the reason it could not be read."""

    index: int
    row: dict[str, Any] | None
    error: str | None = None


def _load_hf(path: Path) -> Any:
    try:
        import datasets
    except ImportError as e:  # pragma: no cover - the data extra
        raise DatasetError("reading a datasets folder needs `pip install datasets`") from e
    ds = datasets.load_from_disk(str(path))
    if isinstance(ds, datasets.DatasetDict):
        raise DatasetError(f"{path} is a DatasetDict: pass one split's folder")
    return ds


def count_rows(path: str | os.PathLike[str], fmt: Format) -> int:
    """The number of rows (for JSONL: non-blank lines, including malformed ones, which are rejected)."""
    p = Path(path)
    if fmt == "jsonl":
        n = 0
        with p.open("rb") as f:
            for line in f:
                if line.strip():
                    n += 1
        return n
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(p).metadata.num_rows)
    return len(_load_hf(p))


def input_schema(path: str | os.PathLike[str], fmt: Format) -> pa.Schema | None:
    """The Arrow schema of a Parquet file or datasets folder (None for JSONL)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(Path(path)).schema_arrow
    if fmt == "hf":
        return _load_hf(Path(path)).data.schema
    return None


def iter_chunks(
    path: str | os.PathLike[str], fmt: Format, chunk_size: int, start: int = 0
) -> Iterator[list[RawRow]]:
    """Rows from ``start`` on, in lists of ``chunk_size`` (the last may be shorter)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    p = Path(path)
    if fmt == "jsonl":
        yield from _chunked(_iter_jsonl(p, start), chunk_size)
    elif fmt == "parquet":
        yield from _chunked(_iter_parquet(p, start, chunk_size), chunk_size)
    else:
        yield from _chunked(_iter_hf(p, start, chunk_size), chunk_size)


def _chunked(rows: Iterator[RawRow], size: int) -> Iterator[list[RawRow]]:
    buf: list[RawRow] = []
    for r in rows:
        buf.append(r)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


@dataclass(frozen=True)
class ChunkStart:
    """Where a chunk of rows starts: its first row's index and, in a JSONL file, that row's byte
    offset and the number of lines before it (so a reader elsewhere starts there without a scan)."""

    row: int
    offset: int = 0
    lineno: int = 0


def chunk_starts(
    path: str | os.PathLike[str], fmt: Format, chunk_size: int, start: int = 0, stop: int | None = None
) -> list[ChunkStart]:
    """The start of each chunk of ``chunk_size`` rows from row ``start`` up to row ``stop`` (None: all)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    if fmt != "jsonl":
        total = count_rows(path, fmt) if stop is None else min(stop, count_rows(path, fmt))
        return [ChunkStart(row) for row in range(start, total, chunk_size)]
    out: list[ChunkStart] = []
    index = offset = 0
    with Path(path).open("rb") as f:
        for lineno, raw in enumerate(f):
            if raw.strip():
                if stop is not None and index >= stop:
                    break
                if index >= start and (index - start) % chunk_size == 0:
                    out.append(ChunkStart(index, offset, lineno))
                index += 1
            offset += len(raw)
    return out


def read_chunk(path: str | os.PathLike[str], fmt: Format, where: ChunkStart, chunk_size: int) -> list[RawRow]:
    """The chunk of ``chunk_size`` rows that starts at ``where`` (read as :func:`iter_chunks` reads it)."""
    if fmt == "jsonl":
        rows = _iter_jsonl(Path(path), where.row, where)
        return list(itertools.islice(rows, chunk_size))
    return next(iter_chunks(path, fmt, chunk_size, start=where.row), [])


def _iter_jsonl(p: Path, start: int, at: ChunkStart | None = None) -> Iterator[RawRow]:
    """Rows from ``start`` on; ``at``: begin reading at that known position instead of the file's start."""
    index = at.row if at is not None else 0
    with p.open("rb") as f:
        f.seek(at.offset if at is not None else 0)
        for lineno, raw in enumerate(f, (at.lineno if at is not None else 0) + 1):
            if not raw.strip():
                continue
            if index >= start:
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError as e:
                    yield RawRow(index, None, f"line {lineno}: not valid JSON: {e.msg} at column {e.colno}")
                except UnicodeDecodeError as e:
                    yield RawRow(index, None, f"line {lineno}: not UTF-8 ({e.reason})")
                else:
                    if isinstance(obj, dict):
                        yield RawRow(index, obj)
                    else:
                        what = type(obj).__name__
                        yield RawRow(index, None, f"line {lineno}: a JSON {what}, not an object")
            index += 1


def _iter_parquet(p: Path, start: int, batch: int) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(p)
    index = 0
    for rg in range(pf.num_row_groups):
        n = pf.metadata.row_group(rg).num_rows
        if index + n <= start:  # skip whole row groups before the resume point without decoding them
            index += n
            continue
        for rb in pf.iter_batches(batch_size=batch, row_groups=[rg]):
            for row in rb.to_pylist():
                if index >= start:
                    yield RawRow(index, row)
                index += 1


def _iter_hf(p: Path, start: int, batch: int) -> Iterator[RawRow]:
    ds = _load_hf(p).with_format("arrow")
    for lo in range(start, len(ds), batch):
        table = ds[lo : lo + batch]
        for i, row in enumerate(table.to_pylist()):
            yield RawRow(lo + i, row)


# ---------------------------------------------------------------------------------------------- writing


def json_default(o: Any) -> Any:
    """JSON for the non-JSON values a Parquet row may hold (dates, bytes, decimals)."""
    if isinstance(o, datetime.datetime | datetime.date | datetime.time):
        return o.isoformat()
    if isinstance(o, datetime.timedelta):
        return o.total_seconds()
    if isinstance(o, bytes | bytearray):
        return base64.b64encode(bytes(o)).decode("ascii")
    if isinstance(o, decimal.Decimal):
        return str(o)
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


# line ends to str.splitlines, and to JavaScript: escaped so that a JSON text stays on its line
_LINE_ENDS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def _finite(o: Any) -> Any:
    """``o`` with every NaN and infinity (in dicts, lists, arrays) replaced by None."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    if hasattr(o, "tolist"):
        return _finite(o.tolist())
    return o


def dumps_json(obj: Any, *, indent: int | None = None) -> str:
    """JSON text with no NaN or Infinity (null instead) and no raw line separators (escaped)."""
    try:
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=json_default, indent=indent)
    except ValueError:  # a NaN or an infinity somewhere: the rare case pays for the walk
        text = json.dumps(
            _finite(obj), ensure_ascii=False, allow_nan=False, default=json_default, indent=indent
        )
    for char, escaped in _LINE_ENDS.items():
        if char in text:
            text = text.replace(char, escaped)
    return text


def dumps_row(row: dict[str, Any]) -> str:
    return dumps_json(row)


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def _fsync_dir(d: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory; the data is synced
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temp_beside(path: Path) -> tuple[int, Path]:
    """An open temporary file in ``path``'s folder (so ``os.replace`` onto ``path`` is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the output gets what any new file would
    return fd, Path(tmp)


def _publish(tmp: Path, path: Path) -> None:
    """Make a finished ``tmp`` durable, move it onto ``path``, and make the move durable."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _atomic_write(path: Path, fill: Callable[[Path], object]) -> None:
    """``fill`` writes a temporary file that is then published onto ``path``; removed if anything fails."""
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        fill(tmp)
        _publish(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a half-written one."""
    _atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_jsonl_part(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(dumps_row(r) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_parquet_part(path: Path, rows: Sequence[dict[str, Any]], schema: pa.Schema) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(list(rows), schema=schema)
    _atomic_write(path, lambda tmp: pq.write_table(table, str(tmp)))


def read_parquet_part(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


class OutputWriter:
    """Streams the final rows into a temporary file next to the output; ``commit`` moves it into place.

    Until ``commit`` the output path is untouched, so a killed run never leaves a half-written output.
    """

    def __init__(self, path: Path, fmt: Format, schema: pa.Schema | None = None) -> None:
        if fmt != "jsonl" and schema is None:
            raise ValueError("Parquet and datasets outputs need a schema")
        self.path = path
        self.fmt = fmt
        self.schema = schema
        fd, self._tmp = _temp_beside(path)
        self._jsonl = os.fdopen(fd, "w", encoding="utf-8") if fmt == "jsonl" else None
        if fmt != "jsonl":
            os.close(fd)
            import pyarrow.parquet as pq

            self._pq: Any = pq.ParquetWriter(str(self._tmp), schema)
        self.rows = 0

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        if self._jsonl is not None:
            self._jsonl.write("".join(dumps_row(r) + "\n" for r in rows))
        else:
            import pyarrow as pa

            self._pq.write_table(pa.Table.from_pylist(list(rows), schema=self.schema))
        self.rows += len(rows)

    def commit(self, hf_features: Any = None) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            _publish(self._tmp, self.path)
            return
        self._pq.close()
        if self.fmt == "parquet":
            _publish(self._tmp, self.path)
            return
        self._commit_hf(hf_features)

    def _commit_hf(self, hf_features: Any) -> None:
        import datasets
        import pyarrow.parquet as pq

        table = pq.read_table(self._tmp, memory_map=True)
        ds = datasets.Dataset(table)
        if hf_features is not None:
            # keep the input's own features (ClassLabel, Image, ...) on the columns that kept their type
            merged = ds.features.copy()
            for name, feature in hf_features.items():
                if name in merged:
                    merged[name] = feature
            with contextlib.suppress(ValueError, TypeError, KeyError):
                ds = ds.cast(merged)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        tmp_dir.chmod(0o777 & ~_umask())  # mkdtemp makes 0700
        ds.save_to_disk(str(tmp_dir))
        del ds, table
        self._tmp.unlink()
        old: Path | None = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(self.path, old)
        os.replace(tmp_dir, self.path)
        _fsync_dir(self.path.parent)
        if old is not None:
            shutil.rmtree(old)

    def abort(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
        else:
            with contextlib.suppress(Exception):
                self._pq.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()


def hf_features(path: str | os.PathLike[str]) -> Any:
    """The ``datasets.Features`` of a datasets folder (to keep ClassLabel and friends on output)."""
    return _load_hf(Path(path)).features
