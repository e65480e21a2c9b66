"""``rescore --engine ray --ray-address ADDR`` (and ``annotate``) on a two-node Ray cluster on this machine:
a head node and a worker node, each started by ``ray start --block`` as a real subprocess with one CPU,
in a private temp dir and with a private auth token (so it never meets another Ray of this machine). The
run's two actors land one on each node (one CPU each), which the test sees, and the output is the local
engine's, byte for byte."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.rescore import load_generator
from tests.mathreward.job_helpers import actor_processes
from tests.mathreward.test_annotate_cli import write_jsonl
from tests.mathreward.test_annotate_ray import WORKER, long_rows
from tests.mathreward.test_rescore_cli import cli_env, mathreward, script
from tests.mathreward.test_rescore_ray import GRADER, graders, summary_without_timing
from tests.prm.scripted_policy import ScriptedServer

pytest.importorskip("ray")
RAY = Path(sys.executable).with_name("ray")  # the venv's `ray` command, beside this Python
NODE = ["--num-cpus=1", "--object-store-memory=100000000", "--disable-usage-stats", "--block"]


@dataclass
class Cluster:
    address: str  # HOST:PORT of the head's GCS, what --ray-address takes
    env: dict[str, str]  # what a process needs to join it (the auth token)
    nodes: dict[str, subprocess.Popen[bytes]]  # "head", "worker": the `ray start --block` processes
    temp_dir: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def active_nodes(cluster: Cluster) -> int:
    """The nodes `ray status` lists as active (0 while the head is still starting)."""
    proc = subprocess.run(
        [str(RAY), "status", f"--address={cluster.address}"],
        capture_output=True,
        text=True,
        env=cluster.env,
        timeout=60,
    )
    active = proc.stdout.split("Active:", 1)[1].split("Pending:", 1)[0] if "Active:" in proc.stdout else ""
    return len(re.findall(r"^\s*1 node_[0-9a-f]+\s*$", active, flags=re.M))


def start_node(cluster: Cluster, name: str, args: list[str]) -> None:
    log = open(cluster.temp_dir / f"{name}.log", "wb")  # noqa: SIM115 (closed with the process)
    cluster.nodes[name] = subprocess.Popen(
        [str(RAY), "start", *args, *NODE],
        env=cluster.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the teardown kills exactly that group
    )
    log.close()


def check_alive(cluster: Cluster) -> None:
    for name, proc in cluster.nodes.items():
        if proc.poll() is not None:
            log = (cluster.temp_dir / f"{name}.log").read_text(errors="replace")
            pytest.fail(f"ray start ({name}) exited {proc.returncode}:\n{log[-3000:]}")


def wait_for_port(cluster: Cluster, port: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        check_alive(cluster)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"the head node did not listen on port {port} in {timeout:.0f} s")
            time.sleep(0.2)


def wait_for_nodes(cluster: Cluster, count: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while active_nodes(cluster) < count:
        check_alive(cluster)
        if time.monotonic() > deadline:
            pytest.fail(f"the cluster did not reach {count} active nodes in {timeout:.0f} s")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Cluster]:
    # a short path: Ray's Unix sockets live under it (108 bytes at most)
    temp_dir = Path(tempfile.mkdtemp(prefix="mr-ray-"))
    env = {
        **cli_env(),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    env.pop("RAY_ADDRESS", None)
    port = free_port()
    cluster = Cluster(f"127.0.0.1:{port}", env, {}, temp_dir)
    try:
        head = ["--head", f"--port={port}", f"--temp-dir={temp_dir}", "--include-dashboard=false"]
        start_node(cluster, "head", head)
        wait_for_port(cluster, port)  # the head's GCS is up: the worker node can join
        start_node(cluster, "worker", [f"--address={cluster.address}"])
        wait_for_nodes(cluster, 2)
        yield cluster
    finally:
        for proc in reversed(cluster.nodes.values()):  # the worker node first
            with contextlib.suppress(ProcessLookupError):  # `ray stop` would stop every Ray of this machine
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        shutil.rmtree(temp_dir, ignore_errors=True)


def node_of(pid: int, cluster: Cluster) -> str | None:
    """Which node's `ray start` process the process ``pid`` descends from."""
    import psutil

    roots = {proc.pid: name for name, proc in cluster.nodes.items()}
    try:
        for parent in psutil.Process(pid).parents():
            if parent.pid in roots:
                return roots[parent.pid]
    except psutil.Error:
        return None
    return None


def test_the_cli_on_a_two_node_cluster_writes_the_rows_of_the_local_engine(
    two_nodes: Cluster, tmp_path: Path
) -> None:
    src = tmp_path / "gen.jsonl"
    load_generator().write_generated(src, 300, seed=5, bad_every=61)  # 304 lines, 4 rejected
    mathreward("rescore", src, "-o", tmp_path / "local.jsonl", "--workers", "1", "--chunk-size", "20")

    args = ["rescore", src, "-o", tmp_path / "ray.jsonl", "--engine", "ray", "--chunk-size", "20"]
    run = subprocess.Popen(
        [*script(), *map(str, args), "--ray-address", two_nodes.address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=two_nodes.env,
    )
    nodes_seen: set[str] = set()  # the nodes a grading actor ran on, seen while the run goes
    try:
        while run.poll() is None:
            nodes_seen.update(n for pid in graders() if (n := node_of(pid, two_nodes)) is not None)
            time.sleep(0.05)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert "16 chunks on Ray, 2 CPU actors" in err
    assert nodes_seen == {"head", "worker"}, f"grading actors ({GRADER}) seen on: {nodes_seen}"

    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert (tmp_path / "ray.rejects.jsonl").read_bytes() == (tmp_path / "local.rejects.jsonl").read_bytes()
    assert summary_without_timing(tmp_path / "ray.summary.json") == summary_without_timing(
        tmp_path / "local.summary.json"
    )


def test_annotate_on_a_two_node_cluster_keeps_the_rollouts_on_the_drivers_node(
    two_nodes: Cluster, tmp_path: Path
) -> None:
    """``annotate --engine ray``: its chunk actors run on both nodes and ask one rollout store, on one
    node (pinned to the node Ray gives the driver); the output is the local engine's and no request is
    sent twice."""
    data = write_jsonl(tmp_path / "in.jsonl", long_rows(16))
    common = ["--model", "scripted", "--n", "4", "--chunk-size", "2", "--progress", "none"]
    with ScriptedServer(delay_s=0.1) as srv:
        mathreward("annotate", data, "-o", tmp_path / "local.jsonl", "--generator", srv.base_url, *common)
        reference = srv.log.entries()
        srv.log.requests.clear()
        args = ["annotate", data, "-o", tmp_path / "ray.jsonl", "--generator", srv.base_url, *common]
        run = subprocess.Popen(
            [*script(), *map(str, args), "--engine", "ray", "--ray-address", two_nodes.address],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=two_nodes.env,
        )
        workers: set[str] = set()  # the nodes a chunk actor ran on, and the store's
        stores: set[str] = set()
        try:
            while run.poll() is None:
                for seen, title in ((workers, WORKER), (stores, "ray::RolloutStore")):
                    seen.update(n for pid in actor_processes(title) if (n := node_of(pid, two_nodes)))
                time.sleep(0.05)
            out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
        asked = srv.log.entries()
    assert run.returncode == 0, f"exit {run.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert "8 chunks on Ray, 2 actors (1 CPU each)" in err
    assert workers == {"head", "worker"}, f"chunk actors seen on: {workers}"
    assert len(stores) == 1, f"rollout store seen on: {stores}"
    assert sorted(asked) == sorted(reference)  # each request once
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
