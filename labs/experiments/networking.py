"""networking: who can reach whom under NAT, bridged, host-only and internal networking.

The lab builds one small world out of network namespaces it creates (and deletes):
a "LAN" namespace holding a bridge (the outside network's switch) with a LAN peer on
it, a "host" namespace standing for the hypervisor host (its own leg on the LAN), and
two "guests" per mode, so guest-to-guest traffic is measured too:

- NAT: both guests share a private bridge in the host (like libvirt's default
  network or VirtualBox's NAT Network), which routes for them and masquerades
  (nftables, inside the host namespace) what leaves its LAN leg; an optional port
  forward (destination NAT) lets the LAN reach one guest through the host's address;
- bridged: the guests' links are plugged into the LAN bridge itself;
- host-only: the guests share a private bridge with the host, and that network has
  no gateway;
- internal: the guests share a switch in a namespace of its own, which the host has
  no leg on.

Then every endpoint probes every other one, per mode, with ICMP echoes (busybox
ping) and TCP connects to a small server started in the destination namespace; each
server reports the source address it saw, which shows NAT rewriting. The topology
is read back from the kernel once built and drawn beside the matrices, and the page
lists the `ip` and `nft` commands the lab ran. Nothing here touches the host's own
namespace: addresses, routes, forwarding and the NAT tables all live inside the
run's namespaces (docs/architecture.md, sandbox rule 6).
"""

from __future__ import annotations

import json
import re
import sys

from labs.sandbox.netns import NetLab, parse_greeting

from .base import Column, Lab, Param, Progress, RunContext, Sample
from .guests import stopping
from .networking_figure import (
    CLASSIC_ENDPOINTS,
    CLASSIC_MODES,
    ENDPOINT_LABELS,
    ENDPOINTS,
    GUESTS,
    MODE_LABELS,
    MODES,
    figure,
)
from .stats import median_or_none, rounded

# The port every endpoint's matrix server listens on. It sits below the range a port
# forward may use (1024 and up), so a forward can never shadow the host's own server.
PORT = 1000
PROBE_TIMEOUT = 1.0  # seconds a probe waits for an answer that may never come
PING_INTERVAL = "0.2"  # between echoes that get no reply (answered ones go at once: -A)

LAN_CIDR = 24
PEER_ON_LAN = "192.168.50.20"
HOST_ON_LAN = "192.168.50.10"
NAT_HOST = "10.0.2.2"  # the gateway address VirtualBox's NAT hands out
HOSTONLY_HOST = "192.168.56.1"
# Each mode's two guests (guest, guest2); /24 networks throughout.
GUEST_ADDRESSES = {
    "nat": ("10.0.2.15", "10.0.2.16"),
    "bridged": ("192.168.50.30", "192.168.50.31"),
    "hostonly": ("192.168.56.101", "192.168.56.102"),
    "internal": ("10.10.10.11", "10.10.10.12"),
}
# The address a guest uses for the host. On an internal network there is none: the
# guest tries the host's LAN address and has no route to it.
HOST_SEEN_BY_GUEST = {
    "nat": NAT_HOST,
    "bridged": HOST_ON_LAN,
    "hostonly": HOSTONLY_HOST,
    "internal": HOST_ON_LAN,
}
# Namespace (``vl<id>-<what>``) of each guest, and the short names of its interface
# and of the switch port or host-side end it is cabled to (3 characters at most, so
# ``vl<9-digit id>-xxx`` fits the kernel's 15-byte interface names).
GUEST_NAMESPACE = {
    (mode, guest): f"g{short}{index}"
    for mode, short in (("nat", "nat"), ("bridged", "br"), ("hostonly", "ho"), ("internal", "in"))
    for index, guest in enumerate(GUESTS, start=1)
}

# Run inside the source namespace with our own Python: times each TCP handshake
# there (connect() returns when the SYN-ACK is back), then reads the greeting, which
# names the server that answered and the source address it saw.
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
            greeting = conn.recv(128).decode(errors="replace")
        probes.append({"ms": connect_ms, "greeting": greeting})
    except TimeoutError:
        probes.append({"error": "timeout"})
    except OSError as exc:
        probes.append({"error": errno.errorcode.get(exc.errno or 0, type(exc).__name__)})
print(json.dumps(probes))
"""
PING_TIME_RE = re.compile(rb"time=([0-9.]+) ms")
PING_RECEIVED_RE = re.compile(rb"(\d+) packets received")
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
    Param("port_forward", "NAT port forward", 1, 0, 1,
          "Adds a destination-NAT rule on the host's LAN leg, host port → the first NAT "
          "guest's port; the LAN peer is probed through the host's address before and "
          "after it. Unticked, it is probed without the rule only."),
    Param("host_port", "Port forward: host port", 8080, 1024, 65535,
          "The TCP port on the host's LAN address that the LAN peer connects to."),
    Param("guest_port", "Port forward: guest port", 80, 1, 65535,
          "The TCP port the first NAT guest listens on for forwarded connections."),
)  # fmt: skip


def address_of(mode: str, source: str, destination: str) -> str:
    """The address ``source`` uses for ``destination`` in ``mode``."""
    if destination in GUESTS:
        return GUEST_ADDRESSES[mode][GUESTS.index(destination)]
    if destination == "host":
        return HOST_SEEN_BY_GUEST[mode] if source in GUESTS else HOST_ON_LAN
    return PEER_ON_LAN


def pairs() -> list[tuple[str, str, str]]:
    return [(m, s, d) for m in MODES for s in ENDPOINTS for d in ENDPOINTS if s != d]


def server_name(mode: str, endpoint: str) -> str:
    """What a server calls itself in its greeting: ``nat:guest2``, ``host``…"""
    return f"{mode}:{endpoint}" if endpoint in GUESTS else endpoint


def build(lab: NetLab) -> dict[str, str]:
    """The four networks, all inside the run's namespaces. Returns the namespace of
    each role (``lan``, ``peer``, ``host``, ``int`` and each guest's) plus the name of
    the host's LAN leg, which the NAT rules refer to."""
    spaces = {what: lab.namespace(what) for what in ("lan", "peer", "host", "int")}
    spaces |= {what: lab.namespace(what) for what in GUEST_NAMESPACE.values()}
    lan, host = spaces["lan"], spaces["host"]

    def plug(switch_ns: str, switch: str, port: str, owner: str, inside: str, cidr: str) -> str:
        """A cable from ``owner`` to a port of ``switch``, with ``cidr`` on its far end."""
        switch_side, endpoint_side = lab.veth(switch_ns, port, spaces[owner], inside)
        lab.attach(switch_ns, switch_side, switch)
        lab.address(spaces[owner], endpoint_side, cidr)
        return endpoint_side

    # The outside LAN: peer, the host's own leg and both bridged guests on one switch.
    lan_switch = lab.bridge(lan, "br")
    plug(lan, lan_switch, "s0", "peer", "p0", f"{PEER_ON_LAN}/{LAN_CIDR}")
    host_lan_leg = plug(lan, lan_switch, "s1", "host", "h0", f"{HOST_ON_LAN}/{LAN_CIDR}")

    # Private switches of the host: the host's address on each is the guests' gateway
    # (NAT) or just a neighbour (host-only). Forwarding is on in the host *namespace*
    # for NAT; the real host's setting stays off.
    nat_switch = lab.bridge(host, "nb")
    lab.address(host, nat_switch, f"{NAT_HOST}/24")
    hostonly_switch = lab.bridge(host, "hb")
    lab.address(host, hostonly_switch, f"{HOSTONLY_HOST}/24")
    lab.enable_forwarding(host)
    # The internal network's switch lives in a namespace of its own: no host leg at all.
    internal_switch = lab.bridge(spaces["int"], "ib")

    switches = {
        "nat": (host, nat_switch, "n"),
        "bridged": (lan, lan_switch, "s"),
        "hostonly": (host, hostonly_switch, "o"),
        "internal": (spaces["int"], internal_switch, "i"),
    }
    for mode, (switch_ns, switch, letter) in switches.items():
        for index, guest in enumerate(GUESTS, start=1):
            # Switch port "<letter>p<n>" (bridged: "s<n+1>", after s0 and s1), guest end "<letter><n>".
            port = f"s{index + 1}" if mode == "bridged" else f"{letter}p{index}"
            address = GUEST_ADDRESSES[mode][index - 1]
            plug(switch_ns, switch, port, GUEST_NAMESPACE[mode, guest], f"{letter}{index}",
                 f"{address}/24")  # fmt: skip
            if mode == "nat":
                lab.route(spaces[GUEST_NAMESPACE[mode, guest]], "default", NAT_HOST)
    spaces["host_lan_leg"] = host_lan_leg
    return spaces


def roles(spaces: dict[str, str]) -> dict[str, dict]:
    """What each namespace stands for, for the diagram (the kernel does not know)."""
    found = {
        spaces["lan"]: {"role": "lan-switch"},
        spaces["peer"]: {"role": "lan-peer"},
        spaces["host"]: {"role": "host"},
        spaces["int"]: {"role": "internal-switch", "mode": "internal"},
    }
    for (mode, guest), what in GUEST_NAMESPACE.items():
        found[spaces[what]] = {"role": "guest", "mode": mode, "endpoint": guest}
    return found


def namespace_of(spaces: dict[str, str], mode: str, endpoint: str) -> str:
    if endpoint in GUESTS:
        return spaces[GUEST_NAMESPACE[mode, endpoint]]
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


def tcp_connect(lab: NetLab, ns: str, address: str, count: int, port: int = PORT) -> dict:
    argv = [sys.executable, "-c", TCP_CLIENT, address, str(port), str(PROBE_TIMEOUT), str(count)]
    result = lab.exec(ns, argv, timeout=count * (2 * PROBE_TIMEOUT + 0.5) + 5)
    try:
        probes = json.loads(result.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = result.stderr.decode(errors="replace").strip()[-200:]
        raise RuntimeError(f"the TCP probe in {ns} printed no result: {detail}") from None
    # Only a greeting from one of our servers counts, so a port answered by something
    # else would not pass for reachability.
    greeted = [(p["ms"], parse_greeting(p["greeting"])) for p in probes if "ms" in p]
    greeted = [(ms, found) for ms, found in greeted if found]
    errors = [p["error"] for p in probes if "error" in p]
    if greeted:
        outcome = "reply"
    elif errors:
        outcome = OUTCOMES.get(errors[0], errors[0])
    else:
        outcome = "connected, but no greeting"
    answered_by, seen_as = greeted[0][1] if greeted else (None, None)
    return {
        "ok": len(greeted),
        "times": [ms for ms, _ in greeted],
        "outcome": outcome,
        "answered_by": answered_by,
        "seen_as": seen_as,
    }


def own_address(mode: str, endpoint: str) -> str | None:
    """The source's own address in ``mode``, to tell when a NAT rewrote it (None for
    the host, whose kernel picks one of its addresses by route)."""
    if endpoint in GUESTS:
        return GUEST_ADDRESSES[mode][GUESTS.index(endpoint)]
    return PEER_ON_LAN if endpoint == "lan-peer" else None


def _row(kind: str, mode: str, source: str, destination: str, address: str, protocol: str,
         found: dict, count: int) -> dict:  # fmt: skip
    seen = found.get("seen_as")
    return {
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
        "answered_by": found.get("answered_by"),
        "seen_as": seen,
        "source_address": own_address(mode, source) if seen else None,
    }


def probe_pair(lab: NetLab, spaces: dict, mode: str, source: str, destination: str,
               count: int, kind: str = "reachability") -> list[dict]:  # fmt: skip
    ns, address = namespace_of(spaces, mode, source), address_of(mode, source, destination)
    return [
        _row(
            kind,
            mode,
            source,
            destination,
            address,
            protocol,
            probe(lab, ns, address, count),
            count,
        )  # fmt: skip
        for protocol, probe in (("icmp", ping), ("tcp", tcp_connect))
    ]


def probe_forward(lab: NetLab, spaces: dict, params: dict, rule: bool) -> dict:
    """The LAN peer connects to the host's LAN address on the forwarded port."""
    count, port = params["probes"], params["host_port"]
    found = tcp_connect(lab, spaces["peer"], HOST_ON_LAN, count, port=port)
    row = _row("port-forward" if rule else "port-forward-no-rule", "nat", "lan-peer", "guest",
               f"{HOST_ON_LAN}:{port}", "tcp", found, count)  # fmt: skip
    return row


def run(params: dict, ctx: RunContext):
    count = params["probes"]
    todo = pairs()
    with NetLab(ctx.run_id) as lab:
        yield Progress("building namespaces, bridges and links", 0.0)
        spaces = build(lab)
        yield Progress("starting a TCP server in every endpoint", 0.08)
        for mode in MODES:
            for endpoint in GUESTS:
                lab.serve_tcp(namespace_of(spaces, mode, endpoint), "0.0.0.0", PORT,  # noqa: S104
                              name=server_name(mode, endpoint))  # fmt: skip
        # Every address of that namespace (the host has three); nothing outside it.
        lab.serve_tcp(spaces["host"], "0.0.0.0", PORT, name="host")  # noqa: S104
        lab.serve_tcp(spaces["peer"], "0.0.0.0", PORT, name="lan-peer")  # noqa: S104
        forward_to = GUEST_ADDRESSES["nat"][0]
        if params["guest_port"] != PORT:
            lab.serve_tcp(spaces[GUEST_NAMESPACE["nat", "guest"]], "0.0.0.0",  # noqa: S104
                          params["guest_port"], name=server_name("nat", "guest"))  # fmt: skip
        # First without the masquerade rule: the host routes for the guest, but the LAN
        # peer has no route back to the private network, so its answers go nowhere.
        yield Progress("NAT guest → LAN peer with forwarding only (no masquerade)", 0.12)
        for row in probe_pair(lab, spaces, "nat", "guest", "lan-peer", count,
                              kind="without-masquerade"):  # fmt: skip
            yield Sample(row)
        lab.masquerade(spaces["host"], spaces["host_lan_leg"])
        # The host's address on the forwarded port: nothing listens there until a rule
        # sends it on to the guest.
        yield Progress("LAN peer → host's address on the forwarded port, no rule yet", 0.16)
        yield Sample(probe_forward(lab, spaces, params, rule=False))
        if params["port_forward"]:
            lab.forward_port(spaces["host"], spaces["host_lan_leg"], params["host_port"],
                             forward_to, params["guest_port"])  # fmt: skip
            yield Progress("LAN peer → host's address with the port forward", 0.18)
            yield Sample(probe_forward(lab, spaces, params, rule=True))
        yield Progress("reading the configuration back from the kernel", 0.2)
        yield Sample({
            "kind": "topology",
            "outcome": f"{len(lab.namespaces)} namespaces, {len(lab.veth_pairs)} veth pairs, "
            f"{len(lab.commands)} configuration commands",
            "namespaces": lab.describe(),
            "roles": roles(spaces),
            # Shown collapsed under the chart (labs.presenters).
            "details": [{
                "title": f"The {len(lab.commands)} ip and nft commands this run ran",
                "text": "\n".join(lab.commands),
            }],
        })  # fmt: skip
        for index, (mode, source, destination) in enumerate(todo):
            if ctx.should_stop():
                yield from stopping()
                return
            step = (
                f"{MODE_LABELS[mode]}: {ENDPOINT_LABELS[source]} → {ENDPOINT_LABELS[destination]}"
            )
            yield Progress(step, 0.22 + 0.76 * index / len(todo))
            for row in probe_pair(lab, spaces, mode, source, destination, count):
                yield Sample(row)


def pair_reachable(samples: list[dict], mode: str, source: str, destination: str) -> bool | None:
    """Reached by every protocol (None when the pair was not measured)."""
    rows = [
        s for s in samples
        if s.get("kind") == "reachability" and s["mode"] == mode
        and s["source"] == source and s["destination"] == destination
    ]  # fmt: skip
    return all(s["reachable"] for s in rows) if rows else None


def seen_as(samples: list[dict], mode: str, source: str, destination: str) -> str | None:
    """The source address the destination's TCP server saw for ``source``."""
    return next(
        (
            s["seen_as"] for s in samples
            if s.get("kind") == "reachability" and s["protocol"] == "tcp" and s["mode"] == mode
            and s["source"] == source and s["destination"] == destination and s.get("seen_as")
        ),
        None,
    )  # fmt: skip


def _forward(samples: list[dict], kind: str) -> dict | None:
    return next((s for s in samples if s.get("kind") == kind), None)


def summarize(samples: list[dict], params: dict) -> dict:
    probes = [s for s in samples if s.get("kind") == "reachability"]
    measured = {(s["mode"], s["source"], s["destination"]) for s in probes}
    reached = {pair for pair in measured if pair_reachable(samples, *pair)}
    classic = {
        (m, s, d) for m, s, d in reached
        if m in CLASSIC_MODES and s in CLASSIC_ENDPOINTS and d in CLASSIC_ENDPOINTS
    }  # fmt: skip
    agree = all(
        len({s["reachable"] for s in probes if (s["mode"], s["source"], s["destination"]) == pair})
        == 1
        for pair in measured
    )
    without = [s for s in samples if s.get("kind") == "without-masquerade"]
    forwarded, unforwarded = (
        _forward(samples, "port-forward"),
        _forward(samples, "port-forward-no-rule"),
    )
    # Every TCP reply must come from the server the pair aimed at: a reply from
    # another endpoint would mean a wrong route or rule, not reachability.
    # (None for runs recorded before servers said who they were.)
    answers = [
        s for s in probes if s["protocol"] == "tcp" and s["reachable"] and "answered_by" in s
    ]
    answered_right = (
        all(s["answered_by"] == server_name(s["mode"], s["destination"]) for s in answers)
        if answers
        else None
    )

    def median_latency(protocol: str) -> float | None:
        values = [
            s["latency_min_ms"] for s in probes if s["protocol"] == protocol and s["reachable"]
        ]
        return rounded(median_or_none(values), 3)

    summary = {
        "reachable_pairs_total": len(classic),
        "reachable_pairs_all": len(reached),
        "pairs_measured": len(measured),
        **{
            f"reachable_pairs_{mode}": sum(1 for pair in reached if pair[0] == mode)
            for mode in MODES
        },
        **{f"vm_to_vm_{mode}": pair_reachable(samples, mode, "guest", "guest2") for mode in MODES},
        "nat_outbound_reachable": pair_reachable(samples, "nat", "guest", "lan-peer"),
        "nat_inbound_reachable": pair_reachable(samples, "nat", "lan-peer", "guest"),
        "bridged_outbound_reachable": pair_reachable(samples, "bridged", "guest", "lan-peer"),
        "bridged_inbound_reachable": pair_reachable(samples, "bridged", "lan-peer", "guest"),
        "hostonly_host_reachable": pair_reachable(samples, "hostonly", "guest", "host"),
        "hostonly_outbound_reachable": pair_reachable(samples, "hostonly", "guest", "lan-peer"),
        "hostonly_inbound_reachable": pair_reachable(samples, "hostonly", "lan-peer", "guest"),
        "internal_host_reachable": pair_reachable(samples, "internal", "guest", "host"),
        "internal_inbound_from_host": pair_reachable(samples, "internal", "host", "guest"),
        "nat_without_masquerade_reachable": (
            all(s["reachable"] for s in without) if without else None
        ),
        "nat_guest_seen_as": seen_as(samples, "nat", "guest", "lan-peer"),
        "bridged_guest_seen_as": seen_as(samples, "bridged", "guest", "lan-peer"),
        "port_forward_without_rule_reachable": unforwarded["reachable"] if unforwarded else None,
        "port_forward_reachable": forwarded["reachable"] if forwarded else None,
        "port_forward_answered_by": forwarded["answered_by"] if forwarded else None,
        "port_forward_peer_seen_as": forwarded["seen_as"] if forwarded else None,
        "tcp_answered_by_destination": answered_right,
        "protocols_agree": agree,
        "median_ping_ms": median_latency("icmp"),
        "median_tcp_connect_ms": median_latency("tcp"),
    }
    return summary


def _max_seconds(params: dict) -> float:
    # The worst case: every probe of every pair waits out its timeout (plus the
    # masquerade and port-forward probes).
    count = params.get("probes", 2)
    per_pair = count * (PROBE_TIMEOUT + 0.5) + count * (2 * PROBE_TIMEOUT)
    return 30 + (len(pairs()) + 3) * per_pair


LAB = Lab(
    slug="networking",
    title="Networking modes: who can reach whom?",
    summary="Build NAT, bridged, host-only and internal networks with two guests each from "
    "namespaces, bridges and veth pairs, forward a port, and probe every pair of endpoints "
    "with ping and TCP.",
    explanation=(
        "A hypervisor's networking modes are built from ordinary Linux pieces: virtual "
        "cables (veth pairs), virtual switches (bridges), routing and address "
        "translation. This lab builds four classic modes out of network namespaces that "
        "exist only for the run, with two guests in each, then measures instead of "
        "asserting: every endpoint (two guests, the host, a LAN peer) sends ICMP echoes "
        "and opens TCP connections to every other one. Each TCP server replies with the "
        "source address it saw, so the table shows where an address was rewritten. The "
        "diagram above the matrices is drawn from the configuration read back from the "
        "kernel after the build, and the exact `ip` and `nft` commands are listed below "
        "the chart: you can type them on your own Linux machine.\n\n"
        f"**NAT**: the guests ({GUEST_ADDRESSES['nat'][0]}, {GUEST_ADDRESSES['nat'][1]}) "
        f"share a private bridge in the host, whose address on it ({NAT_HOST}) is their "
        "gateway. The host routes for them and rewrites their source address to its own "
        "LAN address (nftables masquerade): the LAN peer's server reports the host's "
        "address, not the guest's. The guests reach each other on their bridge, as in "
        "libvirt's default network or VirtualBox's *NAT Network* (VirtualBox's plain NAT "
        "gives each VM its own NAT engine, and there they would not). The LAN cannot "
        "reach a guest's private address. A **port forward** (destination NAT, the "
        "`port_forward`, `host_port` and `guest_port` parameters) sends connections to "
        "the host's LAN address on one port to the first guest: the lab tries it before "
        "and after adding the rule, and the guest's server reports the LAN peer's own "
        "address, because destination NAT rewrites only the destination. The lab also "
        "probes once *without* the masquerade rule to show why it is needed: the peer "
        "gets the packets but has no way to answer a private address.\n\n"
        f"**Bridged**: the guests' cables are plugged into the LAN switch itself, so "
        f"they get addresses on the LAN ({GUEST_ADDRESSES['bridged'][0]}, "
        f"{GUEST_ADDRESSES['bridged'][1]}) and are peers like any other, reachable both "
        "ways, under their own addresses.\n\n"
        "**Host-only**: guests and host share a private bridge "
        f"({HOSTONLY_HOST}/24) with no gateway: they all reach each other, and neither "
        "the guests nor the LAN get any further.\n\n"
        "**Internal**: the guests share a switch that lives in a namespace of its own; "
        "the host has no leg on it. The two guests reach each other and nothing else, "
        "not even the host, and nothing reaches them.\n\n"
        "Addresses are assigned by the lab rather than by DHCP. Everything runs in one "
        "kernel, so round trips are those of virtual links (tens of microseconds), far "
        "below a real network's. The chart shows the fastest probe of each pair: the first "
        "one often also waits for ARP to find the neighbour's hardware address. A TCP "
        "connect, timed around `connect()` by a small Python client, includes setting up "
        "the connection and reads several times higher than a ping. The quiz's count "
        "(*reachable pairs, of 18*) covers the first guest, the host and the LAN peer in "
        "NAT, bridged and host-only; the matrices show all four modes and both guests."
    ),
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
        Column("answered_by", "Answered by"),
        Column("seen_as", "Source address the server saw"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=_max_seconds,
    predict_keys=("reachable_pairs_total",),
    summary_labels={
        "reachable_pairs_total": "Pairs reached, first guest, host and LAN peer in NAT, "
        "bridged and host-only (of 18)",
        "reachable_pairs_all": "Pairs reached, all four modes, both guests",
        "pairs_measured": "Source → destination pairs measured, all modes",
        "reachable_pairs_nat": "Pairs reached under NAT (of 12)",
        "reachable_pairs_bridged": "Pairs reached when bridged (of 12)",
        "reachable_pairs_hostonly": "Pairs reached on host-only (of 12)",
        "reachable_pairs_internal": "Pairs reached on the internal network (of 12)",
        "vm_to_vm_nat": "NAT: guest 1 reaches guest 2",
        "vm_to_vm_bridged": "Bridged: guest 1 reaches guest 2",
        "vm_to_vm_hostonly": "Host-only: guest 1 reaches guest 2",
        "vm_to_vm_internal": "Internal: guest 1 reaches guest 2",
        "nat_outbound_reachable": "NAT: guest reaches the LAN peer",
        "nat_inbound_reachable": "NAT: LAN peer reaches the guest's own address",
        "bridged_outbound_reachable": "Bridged: guest reaches the LAN peer",
        "bridged_inbound_reachable": "Bridged: LAN peer reaches the guest",
        "hostonly_host_reachable": "Host-only: guest reaches the host",
        "hostonly_outbound_reachable": "Host-only: guest reaches the LAN peer",
        "hostonly_inbound_reachable": "Host-only: LAN peer reaches the guest",
        "internal_host_reachable": "Internal: guest reaches the host",
        "internal_inbound_from_host": "Internal: host reaches the guest",
        "nat_without_masquerade_reachable": "NAT without masquerade: guest reaches the LAN peer",
        "nat_guest_seen_as": "Source address the LAN peer saw for the NAT guest",
        "bridged_guest_seen_as": "Source address the LAN peer saw for the bridged guest",
        "port_forward_without_rule_reachable": "LAN peer → host's forwarded port, no rule",
        "port_forward_reachable": "LAN peer → host's forwarded port, with the rule",
        "port_forward_answered_by": "Forwarded connection answered by",
        "port_forward_peer_seen_as": "Source address the NAT guest saw for the LAN peer",
        "tcp_answered_by_destination": "Every TCP reply came from the endpoint aimed at",
        "protocols_agree": "ICMP and TCP agree on every pair",
        "median_ping_ms": "Ping round trip, best of each pair, median of pairs (ms)",
        "median_tcp_connect_ms": "TCP connect, best of each pair, median of pairs (ms)",
    },
)
