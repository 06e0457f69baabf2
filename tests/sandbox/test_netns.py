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


def test_servers_report_the_source_address_they_saw(lab):
    a, b = _pair(lab)
    lab.serve_tcp(b, "0.0.0.0", 8080, name="bee")
    client = "import socket;print(socket.create_connection(('10.77.0.2',8080)).recv(64).decode())"
    greeting = lab.exec(a, ["python3", "-c", client]).stdout.decode()
    assert netns.parse_greeting(greeting) == ("bee", "10.77.0.1")
    assert netns.parse_greeting("something else") is None
    with pytest.raises(ValueError, match="bad server name"):
        lab.serve_tcp(b, "0.0.0.0", 8081, name="two words")


def test_a_port_forward_reaches_a_guest_behind_the_router(lab):
    # outside (10.77.0.1) — router (10.77.0.2 | 10.78.0.1) — guest (10.78.0.2)
    outside, router = _pair(lab)
    guest = lab.namespace("g")
    lab.veth(router, "r0", guest, "g0")
    lab.address(router, lab.ifname("r0"), "10.78.0.1/24")
    lab.address(guest, lab.ifname("g0"), "10.78.0.2/24")
    lab.route(guest, "default", "10.78.0.1")
    lab.enable_forwarding(router)
    lab.serve_tcp(guest, "0.0.0.0", 80, name="guest")
    assert not lab.tcp_probe(outside, "10.77.0.2", 8080, timeout=1)  # nothing there yet
    table = lab.forward_port(router, lab.ifname("b0"), 8080, "10.78.0.2", 80)
    assert table == f"vl{lab.run_id}-fwd"
    assert lab.tcp_probe(outside, "10.77.0.2", 8080)
    listed = lab.exec(router, ["nft", "list", "table", "ip", table]).stdout.decode()
    assert "dnat to 10.78.0.2:80" in listed


def test_describe_reads_the_configuration_back_from_the_kernel(lab):
    a, b = _pair(lab)
    switch = lab.bridge(a, "br")
    c = lab.namespace("c")
    port, _ = lab.veth(a, "a1", c, "c0")
    lab.attach(a, port, switch)
    lab.enable_forwarding(a)
    lab.masquerade(a, lab.ifname("a0"))
    described = {space["namespace"]: space for space in lab.describe()}
    assert list(described) == [a, b, c]
    interfaces = {i["name"]: i for i in described[a]["interfaces"]}
    assert interfaces[switch]["kind"] == "bridge" and interfaces[port]["master"] == switch
    assert interfaces[lab.ifname("a0")]["addresses"] == ["10.77.0.1/24"]
    assert interfaces[lab.ifname("a0")]["peer"] == {"namespace": b, "name": lab.ifname("b0")}
    assert interfaces[port]["peer"] == {"namespace": c, "name": lab.ifname("c0")}
    assert described[a]["forwarding"] and not described[b]["forwarding"]
    assert described[a]["routes"] == [f"10.77.0.0/24 dev {lab.ifname('a0')}"]
    (table,) = described[a]["nft"]
    assert table["table"] == f"vl{lab.run_id}-nat" and "masquerade" in table["rules"][0]
    # Every configuration command is kept as a line a student could type.
    assert lab.commands[0] == f"ip netns add {a}"
    assert f"ip -n {a} link set {port} master {switch}" in lab.commands
    assert any(line.startswith(f"ip netns exec {a} nft -f - <<'EOF'") for line in lab.commands)


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
