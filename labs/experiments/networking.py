"""networking: who can reach whom under NAT, bridged and host-only networking.

The lab builds one small world out of network namespaces it creates (and deletes):
a "LAN" namespace holding a bridge (the outside network's switch) with a LAN peer on
it, a "host" namespace standing for the hypervisor host (its own leg on the LAN), and
three "guests", one per mode:

- NAT: the guest sits on a private link to the host, which routes for it and
  masquerades (nftables, inside the host namespace) what leaves its LAN leg;
- bridged: the guest's link is plugged into the LAN bridge itself;
- host-only: the guest shares a private bridge with the host, and that network has
  no gateway.

Then every endpoint probes every other one, per mode, with ICMP echoes (busybox
ping) and TCP connects to a small server started in the destination namespace.
Nothing here touches the host's own namespace: addresses, routes, forwarding and
the NAT table all live inside the run's namespaces (design rule 6).
"""

from __future__ import annotations

import json
import re
import sys

from labs.sandbox.netns import NetLab

from .base import Column, Lab, Param, Progress, RunContext, Sample
from .guests import stopping
from .networking_figure import ENDPOINT_LABELS, ENDPOINTS, MODE_LABELS, MODES, figure
from .stats import median_or_none, rounded

PORT = 7070  # the namespaces are the run's own, so no port can clash with the host's
PROBE_TIMEOUT = 1.0  # seconds a probe waits for an answer that may never come
PING_INTERVAL = "0.2"  # between echoes that get no reply (answered ones go at once: -A)

LAN_CIDR = 24
PEER_ON_LAN = "192.168.50.20"
HOST_ON_LAN = "192.168.50.10"
BRIDGED_GUEST = "192.168.50.30"
NAT_HOST, NAT_GUEST = "10.0.2.2", "10.0.2.15"  # the addresses VirtualBox's NAT hands out
HOSTONLY_HOST, HOSTONLY_GUEST = "192.168.56.1", "192.168.56.101"
GUEST_ADDRESS = {"nat": NAT_GUEST, "bridged": BRIDGED_GUEST, "hostonly": HOSTONLY_GUEST}
HOST_SEEN_BY_GUEST = {"nat": NAT_HOST, "bridged": HOST_ON_LAN, "hostonly": HOSTONLY_HOST}
GUEST_NAMESPACE = {"nat": "gnat", "bridged": "gbr", "hostonly": "gho"}

# Run inside the source namespace with our own Python: times each TCP handshake
# there (connect() returns when the SYN-ACK is back), then checks the greeting so a
# port answered by something else would not count.
TCP_CLIENT = r"""
import errno, json, socket, sys, time
address, port, timeout, count = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
probes = []
for _ in range(count):
    started = time.perf_counter()
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            connect_ms = (time.perf_counter() - started) * 1000
            conn.settimeout(timeout)
            greeting = conn.recv(64)
        probes.append({"ms": connect_ms, "greeted": greeting.startswith(b"virtlab-ok")})
    except TimeoutError:
        probes.append({"error": "timeout"})
    except OSError as exc:
        probes.append({"error": errno.errorcode.get(exc.errno or 0, type(exc).__name__)})
print(json.dumps(probes))
"""
PING_TIME_RE = re.compile(rb"time=([0-9.]+) ms")
PING_RECEIVED_RE = re.compile(rb"(\d+) packets received")
CONNTRACK_RE = re.compile(r"src=(\S+) dst=(\S+) .*?src=(\S+) dst=(\S+)")
OUTCOMES = {
    "ENETUNREACH": "no route",
    "EHOSTUNREACH": "no route",
    "ECONNREFUSED": "refused",
    "timeout": "no answer (timeout)",
}

PARAMS = (
    Param("probes", "Probes per pair", 2, 1, 5,
          "How many ICMP echoes and how many TCP connects each source sends to each "
          "destination (1–5). A probe that gets no answer waits 1 s, so more probes "
          "mostly make the unreachable pairs slower to measure."),
)  # fmt: skip


def address_of(mode: str, source: str, destination: str) -> str:
    """The address ``source`` uses for ``destination`` in ``mode``."""
    if destination == "guest":
        return GUEST_ADDRESS[mode]
    if destination == "host":
        return HOST_SEEN_BY_GUEST[mode] if source == "guest" else HOST_ON_LAN
    return PEER_ON_LAN


def pairs() -> list[tuple[str, str, str]]:
    return [(m, s, d) for m in MODES for s in ENDPOINTS for d in ENDPOINTS if s != d]


def build(lab: NetLab) -> dict[str, str]:
    """The three networks, all inside the run's namespaces; namespace by role."""
    spaces = {
        what: lab.namespace(what) for what in ("lan", "peer", "host", *GUEST_NAMESPACE.values())
    }
    lan = spaces["lan"]
    switch = lab.bridge(lan, "br")

    def plug_into_lan(owner: str, port: str, inside: str, address: str) -> str:
        switch_side, endpoint_side = lab.veth(lan, port, spaces[owner], inside)
        lab.attach(lan, switch_side, switch)
        lab.address(spaces[owner], endpoint_side, f"{address}/{LAN_CIDR}")
        return endpoint_side

    plug_into_lan("peer", "s0", "p0", PEER_ON_LAN)
    host_lan_leg = plug_into_lan("host", "s1", "h0", HOST_ON_LAN)
    plug_into_lan(GUEST_NAMESPACE["bridged"], "s2", "b0", BRIDGED_GUEST)

    host, nat_guest = spaces["host"], spaces[GUEST_NAMESPACE["nat"]]
    host_side, guest_side = lab.veth(host, "h1", nat_guest, "n0")
    lab.address(host, host_side, f"{NAT_HOST}/24")
    lab.address(nat_guest, guest_side, f"{NAT_GUEST}/24")
    lab.route(nat_guest, "default", NAT_HOST)
    lab.enable_forwarding(host)  # in the host *namespace*; the real host's stays off

    private = lab.bridge(host, "hb")
    lab.address(host, private, f"{HOSTONLY_HOST}/24")
    host_port, guest_side = lab.veth(host, "h2", spaces[GUEST_NAMESPACE["hostonly"]], "o0")
    lab.attach(host, host_port, private)
    lab.address(spaces[GUEST_NAMESPACE["hostonly"]], guest_side, f"{HOSTONLY_GUEST}/24")
    spaces["host_lan_leg"] = host_lan_leg
    return spaces


def namespace_of(spaces: dict[str, str], mode: str, endpoint: str) -> str:
    if endpoint == "guest":
        return spaces[GUEST_NAMESPACE[mode]]
    return spaces["peer" if endpoint == "lan-peer" else "host"]


def ping(lab: NetLab, ns: str, address: str, count: int) -> dict:
    argv = ["busybox", "ping", "-c", str(count), "-A", "-i", PING_INTERVAL,
            "-W", str(int(PROBE_TIMEOUT)), address]  # fmt: skip
    result = lab.exec(ns, argv, timeout=count * (PROBE_TIMEOUT + 0.5) + 5)
    times = [float(t) for t in PING_TIME_RE.findall(result.stdout)]
    received = PING_RECEIVED_RE.search(result.stdout)
    answered = int(received.group(1)) if received else len(times)
    if answered:
        outcome = "reply"
    elif b"unreachable" in result.stderr.lower():
        outcome = "no route"
    elif result.timed_out:
        outcome = "probe killed at its time limit"
    else:
        outcome = "no answer (timeout)"
    return {"ok": answered, "times": times, "outcome": outcome}


def tcp_connect(lab: NetLab, ns: str, address: str, count: int) -> dict:
    argv = [sys.executable, "-c", TCP_CLIENT, address, str(PORT), str(PROBE_TIMEOUT), str(count)]
    result = lab.exec(ns, argv, timeout=count * (2 * PROBE_TIMEOUT + 0.5) + 5)
    try:
        probes = json.loads(result.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = result.stderr.decode(errors="replace").strip()[-200:]
        raise RuntimeError(f"the TCP probe in {ns} printed no result: {detail}") from None
    times = [p["ms"] for p in probes if "ms" in p and p["greeted"]]
    errors = [p["error"] for p in probes if "error" in p]
    if times:
        outcome = "reply"
    elif errors:
        outcome = OUTCOMES.get(errors[0], errors[0])
    else:
        outcome = "connected, but no greeting"
    return {"ok": len(times), "times": times, "outcome": outcome}


def probe_pair(lab: NetLab, spaces: dict, mode: str, source: str, destination: str,
               count: int, kind: str = "reachability") -> list[dict]:  # fmt: skip
    ns, address = namespace_of(spaces, mode, source), address_of(mode, source, destination)
    rows = []
    for protocol, probe in (("icmp", ping), ("tcp", tcp_connect)):
        found = probe(lab, ns, address, count)
        rows.append({
            "kind": kind,
            "mode": mode,
            "source": source,
            "destination": destination,
            "address": address,
            "protocol": protocol,
            "reachable": found["ok"] > 0,
            "probes_ok": found["ok"],
            "probes": count,
            "latency_ms": rounded(median_or_none(found["times"]), 3),
            "latency_min_ms": rounded(min(found["times"], default=None), 3),
            "outcome": found["outcome"],
        })  # fmt: skip
    return rows


def translation_seen(lab: NetLab, spaces: dict) -> dict:
    """What the LAN peer saw as the NAT guest's address: the host's connection tracking
    table maps the guest's original source to the address the replies came back to."""
    result = lab.exec(spaces["host"], ["cat", "/proc/net/nf_conntrack"])
    seen = None
    for line in result.stdout.decode(errors="replace").splitlines():
        match = CONNTRACK_RE.search(line)
        if match and match.group(1) == NAT_GUEST and match.group(3) == PEER_ON_LAN:
            seen = match.group(4)
            break
    return {
        "kind": "translation",
        "mode": "nat",
        "source": "guest",
        "destination": "lan-peer",
        "address": seen,
        "outcome": (
            f"the LAN peer answered {seen}, not {NAT_GUEST}"
            if seen
            else "the host's connection tracking table was not readable or had no entry"
        ),
    }


def run(params: dict, ctx: RunContext):
    count = params["probes"]
    todo = pairs()
    with NetLab(ctx.run_id) as lab:
        yield Progress("building namespaces, bridges and links", 0.0)
        spaces = build(lab)
        yield Progress("starting a TCP server in every endpoint", 0.1)
        for what in ("peer", "host", *GUEST_NAMESPACE.values()):
            # Every address of that namespace (the host has three); nothing outside it.
            lab.serve_tcp(spaces[what], "0.0.0.0", PORT)  # noqa: S104
        # First without the masquerade rule: the host routes for the guest, but the LAN
        # peer has no route back to the private network, so its answers go nowhere.
        yield Progress("NAT guest → LAN peer with forwarding only (no masquerade)", 0.15)
        for row in probe_pair(lab, spaces, "nat", "guest", "lan-peer", count,
                              kind="without-masquerade"):  # fmt: skip
            yield Sample(row)
        lab.masquerade(spaces["host"], spaces["host_lan_leg"])
        for index, (mode, source, destination) in enumerate(todo):
            if ctx.should_stop():
                yield from stopping()
                return
            step = (
                f"{MODE_LABELS[mode]}: {ENDPOINT_LABELS[source]} → {ENDPOINT_LABELS[destination]}"
            )
            yield Progress(step, 0.2 + 0.75 * index / len(todo))
            for row in probe_pair(lab, spaces, mode, source, destination, count):
                yield Sample(row)
        yield Progress("reading the NAT translation from the host's connection table", 0.97)
        yield Sample(translation_seen(lab, spaces))


def pair_reachable(samples: list[dict], mode: str, source: str, destination: str) -> bool | None:
    """Reached by every protocol (None when the pair was not measured)."""
    rows = [
        s for s in samples
        if s.get("kind") == "reachability" and s["mode"] == mode
        and s["source"] == source and s["destination"] == destination
    ]  # fmt: skip
    return all(s["reachable"] for s in rows) if rows else None


def summarize(samples: list[dict], params: dict) -> dict:
    probes = [s for s in samples if s.get("kind") == "reachability"]
    measured = {(s["mode"], s["source"], s["destination"]) for s in probes}
    reached = {pair for pair in measured if pair_reachable(samples, *pair)}
    agree = all(
        len({s["reachable"] for s in probes if (s["mode"], s["source"], s["destination"]) == pair})
        == 1
        for pair in measured
    )
    without = [s for s in samples if s.get("kind") == "without-masquerade"]
    seen = next((s["address"] for s in samples if s.get("kind") == "translation"), None)

    def median_latency(protocol: str) -> float | None:
        values = [
            s["latency_min_ms"] for s in probes if s["protocol"] == protocol and s["reachable"]
        ]
        return rounded(median_or_none(values), 3)

    summary = {
        "reachable_pairs_total": len(reached),
        "pairs_measured": len(measured),
        **{
            f"reachable_pairs_{mode}": sum(1 for pair in reached if pair[0] == mode)
            for mode in MODES
        },
        "nat_outbound_reachable": pair_reachable(samples, "nat", "guest", "lan-peer"),
        "nat_inbound_reachable": pair_reachable(samples, "nat", "lan-peer", "guest"),
        "bridged_outbound_reachable": pair_reachable(samples, "bridged", "guest", "lan-peer"),
        "bridged_inbound_reachable": pair_reachable(samples, "bridged", "lan-peer", "guest"),
        "hostonly_host_reachable": pair_reachable(samples, "hostonly", "guest", "host"),
        "hostonly_outbound_reachable": pair_reachable(samples, "hostonly", "guest", "lan-peer"),
        "hostonly_inbound_reachable": pair_reachable(samples, "hostonly", "lan-peer", "guest"),
        "nat_without_masquerade_reachable": (
            all(s["reachable"] for s in without) if without else None
        ),
        "nat_guest_seen_as": seen,
        "protocols_agree": agree,
        "median_ping_ms": median_latency("icmp"),
        "median_tcp_connect_ms": median_latency("tcp"),
    }
    return summary


def _max_seconds(params: dict) -> float:
    # The worst case: every probe of every pair waits out its timeout.
    count = params.get("probes", 2)
    per_pair = count * (PROBE_TIMEOUT + 0.5) + count * (2 * PROBE_TIMEOUT)
    return 30 + (len(pairs()) + 1) * per_pair


LAB = Lab(
    slug="networking",
    title="Networking modes: who can reach whom?",
    summary="Build NAT, bridged and host-only networks from namespaces, bridges and veth "
    "pairs, and probe every pair of endpoints with ping and TCP.",
    explanation=(
        "A hypervisor's networking modes are built from ordinary Linux pieces: virtual "
        "cables (veth pairs), virtual switches (bridges), routing and address "
        "translation. This lab builds all three classic modes out of network namespaces "
        "that exist only for the run, then measures instead of asserting: every endpoint "
        "sends ICMP echoes and opens TCP connections to every other one.\n\n"
        f"**NAT**: the guest ({NAT_GUEST}) hangs off a private link to the host, which "
        "routes for it and rewrites its source address to the host's own LAN address "
        "(nftables masquerade). The guest can go out; the LAN cannot come in, because the "
        "private network is not routed anywhere on the LAN and there is no port forward. "
        "The lab first probes once *without* the masquerade rule to show why it is "
        "needed: the peer gets the packets but has no way to answer a private address. "
        "It also reads the host's connection tracking table to show which address the "
        "peer really answered.\n\n"
        f"**Bridged**: the guest's cable is plugged into the LAN switch itself, so it gets "
        f"an address on the LAN ({BRIDGED_GUEST}) and is a peer like any other, reachable "
        "both ways.\n\n"
        "**Host-only**: guest and host share a private bridge "
        f"({HOSTONLY_HOST}/24) with no gateway: they reach each other, and neither the "
        "guest nor the LAN gets any further.\n\n"
        "Addresses are assigned by the lab rather than by DHCP. Everything runs in one "
        "kernel, so round trips are those of virtual links (tens of microseconds), far "
        "below a real network's. The chart shows the fastest probe of each pair: the first "
        "one often also waits for ARP to find the neighbour's hardware address. A TCP "
        "connect, timed around `connect()` by a small Python client, includes setting up "
        "the connection and reads several times higher than a ping."
    ),
    lessons=("virtual-networking",),
    params=PARAMS,
    needs=("netns", "nftables-netns"),
    columns=(
        Column("kind", "Measurement"),
        Column("mode", "Mode"),
        Column("source", "From"),
        Column("destination", "To"),
        Column("address", "Address used"),
        Column("protocol", "Protocol"),
        Column("reachable", "Reached"),
        Column("probes_ok", "Probes answered"),
        Column("probes", "Probes sent"),
        Column("latency_ms", "Round trip, median", "ms"),
        Column("latency_min_ms", "Round trip, fastest", "ms"),
        Column("outcome", "Outcome"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=_max_seconds,
    predict_keys=("reachable_pairs_total",),
    summary_labels={
        "reachable_pairs_total": "Pairs that reached each other, all modes (of 18)",
        "pairs_measured": "Source → destination pairs measured",
        "reachable_pairs_nat": "Pairs reached under NAT (of 6)",
        "reachable_pairs_bridged": "Pairs reached when bridged (of 6)",
        "reachable_pairs_hostonly": "Pairs reached on host-only (of 6)",
        "nat_outbound_reachable": "NAT: guest reaches the LAN peer",
        "nat_inbound_reachable": "NAT: LAN peer reaches the guest",
        "bridged_outbound_reachable": "Bridged: guest reaches the LAN peer",
        "bridged_inbound_reachable": "Bridged: LAN peer reaches the guest",
        "hostonly_host_reachable": "Host-only: guest reaches the host",
        "hostonly_outbound_reachable": "Host-only: guest reaches the LAN peer",
        "hostonly_inbound_reachable": "Host-only: LAN peer reaches the guest",
        "nat_without_masquerade_reachable": "NAT without masquerade: guest reaches the LAN peer",
        "nat_guest_seen_as": "Address the LAN peer answered for the NAT guest",
        "protocols_agree": "ICMP and TCP agree on every pair",
        "median_ping_ms": "Ping round trip, best of each pair, median of pairs (ms)",
        "median_tcp_connect_ms": "TCP connect, best of each pair, median of pairs (ms)",
    },
)
