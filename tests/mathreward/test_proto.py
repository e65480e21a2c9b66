"""The wire contract: committed stubs match proto/, names follow buf STANDARD, every element is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from mathreward._proto import common_pb2, generate, process_reward_pb2, reward_pb2, verify_pb2

ROOT = Path(__file__).resolve().parents[2]
STUBS = ROOT / "mathreward" / "_proto"
MODULES = (common_pb2, verify_pb2, process_reward_pb2, reward_pb2)


def test_committed_stubs_match_a_fresh_regeneration(tmp_path):
    pytest.importorskip("grpc_tools")
    written = generate.generate(tmp_path)
    fresh = {p.name: p.read_text() for p in written}
    committed = {
        p.name: p.read_text()
        for p in STUBS.iterdir()
        if p.is_file() and (p.name.endswith(("_pb2.py", "_pb2_grpc.py", ".pyi")))
    }
    assert sorted(fresh) == sorted(committed), (
        "stub files added or removed: run python -m mathreward._proto.generate"
    )
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"stale stubs {stale}: run python -m mathreward._proto.generate"


def _files() -> list[descriptor_pb2.FileDescriptorProto]:
    out = []
    for module in MODULES:
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        out.append(proto)
    return out


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def test_buf_standard_naming():
    for f in _files():
        assert f.package == "mathreward.v1"
        assert f.name == f"mathreward/v1/{Path(f.name).name}" and re.fullmatch(
            r"[a-z_]+\.proto", Path(f.name).name
        )
        for service in f.service:
            assert service.name.endswith("Service"), service.name
            for method in service.method:
                assert method.input_type == f".mathreward.v1.{method.name}Request", method.name
                assert method.output_type == f".mathreward.v1.{method.name}Response", method.name
        for enum in f.enum_type:
            prefix = _upper_snake(enum.name) + "_"
            assert enum.value[0].number == 0 and enum.value[0].name == prefix + "UNSPECIFIED", enum.name
            assert all(v.name.startswith(prefix) for v in enum.value), enum.name
        for message in f.message_type:
            assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", message.name)
            assert all(re.fullmatch(r"[a-z][a-z0-9_]*", field.name) for field in message.field), message.name


_FIELD = r"(?:optional |repeated )?[A-Za-z_.][\w.]* \w+ = \d+;"
_DECL = re.compile(rf"^\s*(?:service|rpc|message|enum|oneof|{_FIELD}|[A-Z_0-9]+ = \d+;)")


def test_every_element_is_commented():
    """Each service, rpc, message, enum, oneof, field and enum value has a // comment right above it."""
    missing = []
    checked = 0
    for path in sorted((ROOT / "proto" / "mathreward" / "v1").glob("*.proto")):
        lines = path.read_text().splitlines()
        for k, line in enumerate(lines):
            checked += bool(_DECL.match(line))
            if _DECL.match(line) and not lines[k - 1].strip().startswith("//"):
                missing.append(f"{path.name}:{k + 1}: {line.strip()}")
    assert checked > 100  # the pattern does see the declarations
    assert not missing, "\n".join(missing)
