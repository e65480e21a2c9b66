"""Regenerate the committed gRPC stubs from ``proto/mathreward/v1/*.proto``.

    python -m mathreward._proto.generate            # rewrite mathreward/_proto/ in place
    python -m mathreward._proto.generate --out DIR  # write into DIR (the stub test compares DIR to the committed files)

protoc names the modules after the proto path (``mathreward.v1.verify_pb2``), which would clash with
this package, so the stubs are generated into a scratch directory and written here flat
(``mathreward/_proto/verify_pb2.py``) with their cross-imports rewritten to ``mathreward._proto``.
Needs grpcio-tools and mypy-protobuf (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"
PROTO_PACKAGE_DIR = Path("mathreward") / "v1"
STUB_DIR = Path(__file__).resolve().parent
# the module path protoc gives the stubs, and the one they live under in this repo
_IMPORT_FROM = re.compile(r"\bfrom mathreward\.v1 import ")
_MODULE_NAME = re.compile(r"\bmathreward\.v1\.(\w+_pb2(?:_grpc)?)\b")
_PYI_HEADER = '# mypy: disable-error-code="unused-ignore"\n'


def proto_files() -> list[Path]:
    """The .proto sources, relative to ``proto/``, in a stable order."""
    return sorted(p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / PROTO_PACKAGE_DIR).glob("*.proto"))


def _plugin(name: str) -> str:
    """Path of a protoc plugin installed next to this interpreter (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: pip install mypy-protobuf")
    return found


def rewrite(text: str) -> str:
    """Point protoc's ``mathreward.v1.*_pb2`` imports at ``mathreward._proto``."""
    text = _IMPORT_FROM.sub("from mathreward._proto import ", text)
    return _MODULE_NAME.sub(r"mathreward._proto.\1", text)


def generate(out_dir: Path) -> list[Path]:
    """Write every stub into ``out_dir``; returns the paths written."""
    from grpc_tools import protoc

    try:
        from importlib.resources import files

        include = str(files("grpc_tools") / "_proto")
    except (ImportError, TypeError):  # pragma: no cover - very old grpc_tools
        include = str(Path(protoc.__file__).parent / "_proto")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory() as scratch:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"--python_out={scratch}",
            f"--grpc_python_out={scratch}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--mypy_out={scratch}",
            f"--mypy_grpc_out={scratch}",
            *(str(p) for p in proto_files()),
        ]
        code = protoc.main(args)
        if code != 0:
            raise SystemExit(f"protoc failed with exit status {code}")
        for path in sorted((Path(scratch) / PROTO_PACKAGE_DIR).iterdir()):
            target = out_dir / path.name
            text = rewrite(path.read_text(encoding="utf-8"))
            if path.suffix == ".pyi":  # mypy-protobuf's ignores are needed only with some grpc stubs
                text = _PYI_HEADER + text
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=STUB_DIR, help="directory to write (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
