"""A long-lived container may join a network namespace its run made (the
orchestration lab's pods): it is reachable there, and only a run's own namespace is
accepted."""

from __future__ import annotations

import os
import sys
import time

import pytest

from labs.sandbox import container_assets, containers
from labs.sandbox.limits import Limits
from labs.sandbox.naming import run_prefix
from labs.sandbox.netns import NetLab

pytestmark = pytest.mark.sandbox

LIMITS = Limits(wall_seconds=30, memory_mib=32, pids=16)
FETCH = (
    "import socket,sys\n"
    "c=socket.create_connection((sys.argv[1],8080),timeout=2)\n"
    "c.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n');print(c.makefile('rb').read().decode())\n"
)


def test_a_container_joins_the_runs_namespace_and_serves_there(run_id, runc, no_leftovers):
    with NetLab(run_id) as lab:
        outside, pod = lab.namespace("out"), lab.namespace("pod")
        a, b = lab.veth(outside, "o0", pod, "p0")
        lab.address(outside, a, "10.9.0.1/24")
        lab.address(pod, b, "10.9.0.2/24")
        script = ("mkdir /tmp/w && echo hello-from-pod > /tmp/w/index.html && "
                  "exec httpd -f -p 8080 -h /tmp/w")  # fmt: skip
        with containers.start_container(run_id, ["sh", "-c", script], LIMITS, runtime=runc,
                                        name="pod", network_namespace=pod) as handle:  # fmt: skip
            for _ in range(50):
                answer = lab.exec(outside, [sys.executable, "-c", FETCH, "10.9.0.2"])
                if answer.ok:
                    break
                time.sleep(0.1)
            assert b"hello-from-pod" in answer.stdout
            assert handle.alive()
    no_leftovers(run_id)


def test_only_a_runs_own_namespace_file_is_accepted(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="not a run's network namespace"):
        container_assets.netns_path("default")
    with pytest.raises(ValueError, match="not a run's network namespace"):
        container_assets.netns_path("vl12-../../etc")
    monkeypatch.setattr(container_assets, "NETNS_DIR", tmp_path)
    os.symlink("/proc/1/ns/net", tmp_path / "vl12-pod")
    with pytest.raises(ValueError, match="not a network namespace file"):
        container_assets.netns_path("vl12-pod")


def test_bubblewrap_cannot_join_a_namespace(run_id):
    with pytest.raises(ValueError, match="needs an OCI runtime"):
        containers.start_container(run_id, ["true"], LIMITS, runtime="bwrap",
                                   network_namespace="vl1-x")  # fmt: skip


def test_another_runs_namespace_is_refused_before_anything_starts(run_id, runc, no_leftovers):
    other = f"{run_prefix(run_id + 1)}pod"
    with pytest.raises(ValueError, match="is not a network namespace of run"):
        containers.start_container(run_id, ["true"], LIMITS, runtime=runc,
                                   network_namespace=other)  # fmt: skip
    no_leftovers(run_id)
