"""Network namespaces: built inside the run, reachable to each other, never to the host."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from labs.sandbox import netns
from labs.sandbox.naming import adhoc_run_id

pytestmark = pytest.mark.sandbox


@pytest.fixture
def lab():
    if shutil.which("ip") is None:
        pytest.skip(f"ip is missing: {netns.INSTALL_IPROUTE}")
    run_id = adhoc_run_id()
    with netns.NetLab(run_id) as created:
        yield created
    assert netns.leftovers(run_id) == {"namespaces": [], "host_links": []}


def _pair(lab: netns.NetLab) -> tuple[str, str]:
    a, b = lab.namespace("a"), lab.namespace("b")
    lab.veth(a, "a0", b, "b0")
    lab.address(a, lab.ifname("a0"), "10.77.0.1/24")
    lab.address(b, lab.ifname("b0"), "10.77.0.2/24")
    return a, b


def test_two_namespaces_reach_each_other_but_not_the_host_loopback(lab):
    a, b = _pair(lab)
    host = socket.socket()
    host.bind(("127.0.0.1", 0))
    host.listen()
    try:
        lab.serve_tcp(b, "10.77.0.2", 8080)
        assert lab.ping(a, "10.77.0.2")
        assert lab.tcp_probe(a, "10.77.0.2", 8080)
        assert not lab.tcp_probe(a, "127.0.0.1", host.getsockname()[1], timeout=1)
        assert not lab.ping(a, "10.77.9.9", timeout=1)
    finally:
        host.close()


def test_links_exist_only_inside_the_namespaces(lab):
    a, _ = _pair(lab)
    assert netns.leftovers(lab.run_id)["host_links"] == []
    inside = lab.exec(a, ["ip", "-o", "link"]).stdout.decode()
    assert lab.ifname("a0") in inside


def test_router_namespace_forwards_and_nats_without_touching_the_host(lab):
    host_forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    host_ruleset = _host_ruleset()
    a, b = _pair(lab)
    router = lab.namespace("r")
    lab.veth(router, "r0", b, "b1")
    lab.bridge(router, "br")
    lab.address(router, lab.ifname("r0"), "10.78.0.1/24")
    lab.enable_forwarding(router)
    table = lab.masquerade(router, lab.ifname("r0"))
    assert table in lab.exec(router, ["nft", "list", "ruleset"]).stdout.decode()
    assert lab.exec(router, ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout == b"1\n"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forwarding
    assert _host_ruleset() == host_ruleset


def test_namespaces_of_another_run_are_refused(lab):
    with pytest.raises(netns.NetnsError, match="not a namespace of run"):
        lab.exec("vl1-a", ["true"])


def test_capabilities():
    found = {c.name: c for c in netns.capabilities()}
    assert found["netns"].ok
    if shutil.which("nft"):
        assert found["nftables-netns"].ok


def _host_ruleset() -> str:
    if shutil.which("nft") is None:
        return ""
    import subprocess

    return subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
