"""networking through the real sandbox: NAT, bridged and host-only built from namespaces."""

import subprocess

import pytest

from labs.csv_export import run_csv
from labs.experiments import get_lab
from labs.experiments.base import Progress, RunContext
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper
from labs.sandbox.naming import adhoc_run_id, run_prefix
from tests.labs.leftovers import nothing_left as no_sandbox_left

pytestmark = pytest.mark.sandbox
LAB = get_lab("networking")

# Who reaches whom, by construction of each mode (source, destination): reached.
EXPECTED = {
    "nat": {
        ("guest", "host"): True, ("guest", "lan-peer"): True,
        ("host", "guest"): True, ("host", "lan-peer"): True,
        ("lan-peer", "guest"): False, ("lan-peer", "host"): True,
    },
    "bridged": {
        ("guest", "host"): True, ("guest", "lan-peer"): True,
        ("host", "guest"): True, ("host", "lan-peer"): True,
        ("lan-peer", "guest"): True, ("lan-peer", "host"): True,
    },
    "hostonly": {
        ("guest", "host"): True, ("guest", "lan-peer"): False,
        ("host", "guest"): True, ("host", "lan-peer"): True,
        ("lan-peer", "guest"): False, ("lan-peer", "host"): True,
    },
}  # fmt: skip


def nothing_left(run_id: int) -> bool:
    namespaces = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    return no_sandbox_left(run_id) and run_prefix(run_id) not in (namespaces)


def test_parameters_are_bounded():
    cleaned, errors = LAB.validate({})
    assert not errors and cleaned == {"probes": 2}
    _, errors = LAB.validate({"probes": "6"})
    assert errors["probes"] == "Must be between 1 and 5."
    _, errors = LAB.validate({"probes": "0"})
    assert errors["probes"] == "Must be between 1 and 5."
    _, errors = LAB.validate({"probes": "1.5", "hosts": "3"})
    assert errors == {"probes": "Enter a whole number.", "hosts": "This lab has no such parameter."}
    assert LAB.max_seconds({"probes": 5}) > LAB.max_seconds({"probes": 1}) > 0


def test_each_mode_reaches_what_it_should(db, host_capabilities):
    run = LabRun.objects.create(lab=LAB.slug, params={"probes": 1})
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    probes = [s for s in run.samples if s["kind"] == "reachability"]
    assert len(probes) == 3 * 6 * 2  # modes × directed pairs × (ICMP, TCP)
    for sample in probes:
        expected = EXPECTED[sample["mode"]][(sample["source"], sample["destination"])]
        where = f"{sample['mode']} {sample['source']}→{sample['destination']} {sample['protocol']}"
        assert sample["reachable"] is expected, f"{where}: {sample['outcome']}"
        if expected:
            assert sample["probes_ok"] == 1 and 0 < sample["latency_min_ms"] < 100, where
        else:
            assert sample["latency_ms"] is None and sample["outcome"] != "reply", where
    bridged_guest = {
        s["address"] for s in probes if s["mode"] == "bridged" and s["destination"] == "guest"
    }
    assert len(bridged_guest) == 1 and bridged_guest.pop().startswith("192.168.50.")  # on the LAN

    # Without masquerade the routed guest's packets go out but no answer comes back.
    without = [s for s in run.samples if s["kind"] == "without-masquerade"]
    assert [s["protocol"] for s in without] == ["icmp", "tcp"]
    assert not any(s["reachable"] for s in without)

    summary = run.summary
    assert summary["reachable_pairs_total"] == 15 and summary["pairs_measured"] == 18
    assert (summary["reachable_pairs_nat"], summary["reachable_pairs_bridged"],
            summary["reachable_pairs_hostonly"]) == (5, 6, 4)  # fmt: skip
    assert summary["nat_inbound_reachable"] is False and summary["nat_outbound_reachable"] is True
    assert summary["bridged_inbound_reachable"] is True
    assert summary["hostonly_outbound_reachable"] is False
    assert summary["hostonly_host_reachable"] is True
    assert summary["nat_without_masquerade_reachable"] is False
    assert summary["nat_guest_seen_as"] == "192.168.50.10"  # the host's LAN address
    assert summary["protocols_agree"] is True
    assert summary["median_ping_ms"] > 0 and summary["median_tcp_connect_ms"] > 0

    fig = LAB.figure(run.samples, run.summary, run.host_facts)
    heatmaps = [trace for trace in fig.data if trace.type == "heatmap"]
    assert [trace.name for trace in heatmaps] == ["NAT", "Bridged", "Host-only"]
    nat = heatmaps[0]
    assert nat.z[2][0] == 0 and nat.z[0][2] == 1 and nat.z[0][0] is None  # peer→guest, guest→peer
    assert "ms" in nat.text[0][2] and "no route" in nat.text[2][0]
    titles = [a.text for a in fig.layout.annotations]
    assert "NAT: 5 of 6 pairs reached" in titles and "Host-only: 4 of 6 pairs reached" in titles
    assert fig.layout.yaxis.title.text == "source"
    assert all(fig.layout[f"xaxis{i}"].title.text == "destination" for i in ("", "2", "3"))
    assert any("Measured on" in text for text in titles)

    lines = run_csv(run, LAB).splitlines()
    assert lines[0].startswith("run_id,lab,kind,mode,source,destination,address,protocol")
    assert "latency_ms_ms" in lines[0]
    assert len(lines) == 1 + len(run.samples)
    assert nothing_left(run.sandbox_id)


def test_closing_the_lab_midway_deletes_its_namespaces(host_capabilities):
    # The runner closes a cancelled lab's generator: its finally blocks must clean up.
    run_id = adhoc_run_id()
    events = LAB.run({"probes": 1}, RunContext(run_id=run_id))
    try:
        for event in events:
            if isinstance(event, Progress) and "no masquerade" in event.step:
                break  # the networks are built and the servers are listening
        found = reaper.inventory(only={run_id})
        assert len(found["netns"]) == 6 and found["processes"]  # namespaces and TCP servers
    finally:
        events.close()
    assert nothing_left(run_id)
    reaper.reap(only={run_id})
