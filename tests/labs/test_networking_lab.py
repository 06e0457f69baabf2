"""networking through the real sandbox: NAT, bridged, host-only and internal networks,
two guests each, built from namespaces; a port forward; the topology read back."""

import subprocess

import pytest

from labs.csv_export import run_csv
from labs.experiments import get_lab
from labs.experiments.base import Progress, RunContext
from labs.models import LabRun
from labs.presenters import present
from labs.runner import execute_run
from labs.sandbox import reaper
from labs.sandbox.naming import adhoc_run_id, run_prefix
from tests.labs.leftovers import nothing_left as no_sandbox_left

pytestmark = pytest.mark.sandbox
LAB = get_lab("networking")

# Who reaches whom, by construction of each mode: source → destination, reached or not.
# Written out by hand from the lesson's table (not derived from the lab's code), and
# checked cell by cell against what a run measures.
T, F = True, False
EXPECTED = {
    "nat": {  # a private bridge in the host, masquerade out, no route in
        ("guest", "guest2"): T, ("guest", "host"): T, ("guest", "lan-peer"): T,
        ("guest2", "guest"): T, ("guest2", "host"): T, ("guest2", "lan-peer"): T,
        ("host", "guest"): T, ("host", "guest2"): T, ("host", "lan-peer"): T,
        ("lan-peer", "guest"): F, ("lan-peer", "guest2"): F, ("lan-peer", "host"): T,
    },
    "bridged": {  # everyone on the LAN switch
        ("guest", "guest2"): T, ("guest", "host"): T, ("guest", "lan-peer"): T,
        ("guest2", "guest"): T, ("guest2", "host"): T, ("guest2", "lan-peer"): T,
        ("host", "guest"): T, ("host", "guest2"): T, ("host", "lan-peer"): T,
        ("lan-peer", "guest"): T, ("lan-peer", "guest2"): T, ("lan-peer", "host"): T,
    },
    "hostonly": {  # guests and host on a private bridge, no gateway
        ("guest", "guest2"): T, ("guest", "host"): T, ("guest", "lan-peer"): F,
        ("guest2", "guest"): T, ("guest2", "host"): T, ("guest2", "lan-peer"): F,
        ("host", "guest"): T, ("host", "guest2"): T, ("host", "lan-peer"): T,
        ("lan-peer", "guest"): F, ("lan-peer", "guest2"): F, ("lan-peer", "host"): T,
    },
    "internal": {  # guests only: not even the host
        ("guest", "guest2"): T, ("guest", "host"): F, ("guest", "lan-peer"): F,
        ("guest2", "guest"): T, ("guest2", "host"): F, ("guest2", "lan-peer"): F,
        ("host", "guest"): F, ("host", "guest2"): F, ("host", "lan-peer"): T,
        ("lan-peer", "guest"): F, ("lan-peer", "guest2"): F, ("lan-peer", "host"): T,
    },
}  # fmt: skip


def nothing_left(run_id: int) -> bool:
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    return no_sandbox_left(run_id) and run_prefix(run_id) not in (namespaces)


def test_parameters_are_bounded():
    cleaned, errors = LAB.validate({})
    assert not errors
    assert cleaned == {"probes": 2, "port_forward": 1, "host_port": 8080, "guest_port": 80}
    _, errors = LAB.validate({"probes": "6"})
    assert errors["probes"] == "Must be between 1 and 5."
    _, errors = LAB.validate({"probes": "0"})
    assert errors["probes"] == "Must be between 1 and 5."
    _, errors = LAB.validate({"probes": "1.5", "hosts": "3"})
    assert errors == {"probes": "Enter a whole number.", "hosts": "This lab has no such parameter."}
    # Forwarded host ports stay above the matrix servers' port (1000), so a forward can
    # never take over the host's own server.
    _, errors = LAB.validate({"host_port": "1000", "guest_port": "65536", "port_forward": "2"})
    assert errors == {
        "host_port": "Must be between 1024 and 65535.",
        "guest_port": "Must be between 1 and 65535.",
        "port_forward": "Must be between 0 and 1.",
    }
    assert LAB.max_seconds({"probes": 5}) > LAB.max_seconds({"probes": 1}) > 0
    assert LAB.max_seconds(LAB.defaults()) < 600


def _cell(samples: list[dict], mode: str, source: str, destination: str) -> list[dict]:
    return [
        s for s in samples
        if s["kind"] == "reachability" and s["mode"] == mode
        and s["source"] == source and s["destination"] == destination
    ]  # fmt: skip


def test_each_mode_reaches_what_it_should(db, host_capabilities):
    params = {"probes": 1, "port_forward": 1, "host_port": 8443, "guest_port": 8000}
    run = LabRun.objects.create(lab=LAB.slug, params=params)
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    samples = run.samples

    # The measured matrices, every mode, every cell, both protocols, against EXPECTED.
    probes = [s for s in samples if s["kind"] == "reachability"]
    assert len(probes) == 4 * 12 * 2  # modes × directed pairs × (ICMP, TCP)
    measured = {
        mode: {pair: all(s["reachable"] for s in _cell(samples, mode, *pair)) for pair in cells}
        for mode, cells in EXPECTED.items()
    }
    assert measured == EXPECTED
    for sample in probes:
        expected = EXPECTED[sample["mode"]][(sample["source"], sample["destination"])]
        where = f"{sample['mode']} {sample['source']}→{sample['destination']} {sample['protocol']}"
        assert sample["reachable"] is expected, f"{where}: {sample['outcome']}"
        if expected:
            assert sample["probes_ok"] == 1 and 0 < sample["latency_min_ms"] < 100, where
        else:
            assert sample["latency_ms"] is None and sample["outcome"] == "no route", where
        if sample["protocol"] == "tcp" and expected:
            # The server that answered is the one aimed at, and says whom it saw.
            name = sample["destination"]
            if name in ("guest", "guest2"):
                name = f"{sample['mode']}:{name}"
            assert sample["answered_by"] == name, where
            assert sample["seen_as"], where
    bridged_guests = {
        s["address"] for s in probes if s["mode"] == "bridged" and s["destination"] == "guest"
    }
    assert bridged_guests == {"192.168.50.30"}  # on the LAN

    # Source addresses as the servers saw them: masquerade rewrites the NAT guests to
    # the host's LAN address; between the NAT guests, and when bridged, nothing changes.
    def seen(mode: str, source: str, destination: str) -> str:
        return next(s["seen_as"] for s in _cell(samples, mode, source, destination)
                    if s["protocol"] == "tcp")  # fmt: skip

    assert seen("nat", "guest", "lan-peer") == seen("nat", "guest2", "lan-peer") == "192.168.50.10"
    assert seen("nat", "guest", "guest2") == "10.0.2.15"
    assert seen("nat", "guest", "host") == "10.0.2.15"
    assert seen("bridged", "guest", "lan-peer") == "192.168.50.30"
    assert seen("internal", "guest2", "guest") == "10.10.10.12"

    # Without masquerade the routed guest's packets go out but no answer comes back.
    without = [s for s in samples if s["kind"] == "without-masquerade"]
    assert [s["protocol"] for s in without] == ["icmp", "tcp"]
    assert not any(s["reachable"] for s in without)

    # The port forward: refused on the host's address before the rule, answered by the
    # first NAT guest after it, which sees the LAN peer's own address.
    before = next(s for s in samples if s["kind"] == "port-forward-no-rule")
    after = next(s for s in samples if s["kind"] == "port-forward")
    assert before["address"] == after["address"] == "192.168.50.10:8443"
    assert before["reachable"] is False and before["outcome"] == "refused"
    assert after["reachable"] is True and after["answered_by"] == "nat:guest"
    assert after["seen_as"] == "192.168.50.20"

    summary = run.summary
    assert summary["reachable_pairs_total"] == 15  # the quiz's 18 classic pairs
    assert summary["reachable_pairs_all"] == 34 and summary["pairs_measured"] == 48
    assert (summary["reachable_pairs_nat"], summary["reachable_pairs_bridged"],
            summary["reachable_pairs_hostonly"], summary["reachable_pairs_internal"]) == (
        10, 12, 8, 4)  # fmt: skip
    assert all(summary[f"vm_to_vm_{mode}"] is True for mode in EXPECTED)
    assert summary["nat_inbound_reachable"] is False and summary["nat_outbound_reachable"] is True
    assert summary["bridged_inbound_reachable"] is True
    assert summary["hostonly_outbound_reachable"] is False
    assert summary["hostonly_host_reachable"] is True
    assert summary["internal_host_reachable"] is False
    assert summary["internal_inbound_from_host"] is False
    assert summary["nat_without_masquerade_reachable"] is False
    assert summary["nat_guest_seen_as"] == "192.168.50.10"  # the host's LAN address
    assert summary["bridged_guest_seen_as"] == "192.168.50.30"
    assert summary["port_forward_without_rule_reachable"] is False
    assert summary["port_forward_reachable"] is True
    assert summary["port_forward_peer_seen_as"] == "192.168.50.20"
    assert summary["tcp_answered_by_destination"] is True
    assert summary["protocols_agree"] is True
    assert summary["median_ping_ms"] > 0 and summary["median_tcp_connect_ms"] > 0
    assert set(summary) <= set(LAB.summary_labels)  # every key is labelled for the page

    # The topology is the kernel's: 12 namespaces, every veth pair found from both ends.
    topology = next(s for s in samples if s["kind"] == "topology")
    spaces = {space["namespace"]: space for space in topology["namespaces"]}
    assert len(spaces) == 12 and set(topology["roles"]) == set(spaces)
    prefix = run_prefix(run.sandbox_id)
    assert all(name.startswith(prefix) for name in spaces)
    veths = [i for space in spaces.values() for i in space["interfaces"] if i["kind"] == "veth"]
    assert len(veths) == 2 * 10 and all(i["peer"] for i in veths)
    host = spaces[prefix + "host"]
    assert host["forwarding"] is True
    rules = [rule for table in host["nft"] for rule in table["rules"]]
    assert any("masquerade" in rule for rule in rules)
    assert any("tcp dport 8443 dnat to 10.0.2.15:8000" in rule for rule in rules)
    internal_switch = spaces[prefix + "int"]
    assert [i["addresses"] for i in internal_switch["interfaces"]] == [[]] * 3  # no host leg
    assert all(
        not space["forwarding"] for name, space in spaces.items() if name != host["namespace"]
    )

    # The commands, in the collapsible block the run page shows.
    view = present(run)
    ((title, commands),) = view.details
    assert "ip and nft commands" in title
    assert f"ip netns add {prefix}lan" in commands
    assert "nft -f -" in commands and "masquerade" in commands and "dnat to" in commands

    fig = LAB.figure(samples, run.summary, run.host_facts)
    heatmaps = [trace for trace in fig.data if trace.type == "heatmap"]
    assert [trace.name for trace in heatmaps] == ["NAT", "Bridged", "Host-only", "Internal"]
    nat, internal = heatmaps[0], heatmaps[3]
    # rows and columns: guest 1, guest 2, host, LAN peer
    assert nat.z[3][0] == 0 and nat.z[0][3] == 1 and nat.z[0][0] is None
    assert "as host" in nat.text[0][3] and "no route" in nat.text[3][0]
    assert internal.z[0][1] == 1 and internal.z[2][0] == 0 and internal.z[0][2] == 0
    titles = [a.text for a in fig.layout.annotations]
    assert "NAT: 10 of 12 pairs" in titles and "Internal: 4 of 12 pairs" in titles
    assert "Topology read back from the kernel" in titles
    labels = " ".join(t.text if isinstance(t.text, str) else " ".join(t.text or ())
                      for t in fig.data if t.type == "scatter")  # fmt: skip
    assert "10.10.10.11/24" in labels and "bridge ib" in labels and "192.168.50.10/24" in labels
    assert any("dnat to 10.0.2.15:8000" in text for text in titles)
    assert any("Measured on" in text for text in titles)

    lines = run_csv(run, LAB).splitlines()
    assert lines[0].startswith("run_id,lab,kind,mode,source,destination,address,protocol")
    assert "latency_ms_ms" in lines[0] and lines[0].count("seen_as") == 1
    assert len(lines) == 1 + len(samples)
    assert nothing_left(run.sandbox_id)


def test_without_the_rule_the_forwarded_port_stays_closed(host_capabilities):
    run_id = adhoc_run_id()
    params, _ = LAB.validate({"probes": 1, "port_forward": 0})
    events = LAB.run(params, RunContext(run_id=run_id))
    samples = []
    try:
        for event in events:
            if isinstance(event, Progress) and event.step.startswith("NAT:"):
                break  # the forward probes and the topology come before the matrices
            if not isinstance(event, Progress):
                samples.append(event.values)
    finally:
        events.close()
    assert nothing_left(run_id)
    reaper.reap(only={run_id})
    kinds = [s["kind"] for s in samples]
    assert "port-forward-no-rule" in kinds and "port-forward" not in kinds
    topology = next(s for s in samples if s["kind"] == "topology")
    host = next(s for s in topology["namespaces"] if s["namespace"].endswith("-host"))
    assert not any("dnat" in rule for table in host["nft"] for rule in table["rules"])
    summary = LAB.summarize(samples, params)
    assert summary["port_forward_reachable"] is None
    assert summary["port_forward_without_rule_reachable"] is False


def test_closing_the_lab_midway_deletes_its_namespaces(host_capabilities):
    # The runner closes a cancelled lab's generator: its finally blocks must clean up.
    run_id = adhoc_run_id()
    events = LAB.run(LAB.defaults() | {"probes": 1}, RunContext(run_id=run_id))
    try:
        for event in events:
            if isinstance(event, Progress) and "no masquerade" in event.step:
                break  # the networks are built and the servers are listening
        found = reaper.inventory(only={run_id})
        assert len(found["netns"]) == 12 and found["processes"]  # namespaces and TCP servers
    finally:
        events.close()
    assert nothing_left(run_id)
    reaper.reap(only={run_id})
