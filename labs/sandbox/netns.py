"""Run-owned network namespaces for the networking labs.

Everything a lab builds lives inside namespaces it created (``vl<id>-<what>``) and
is deleted with them: veth pairs are created inside a namespace with their peer
placed straight into another (never passing through the host namespace), bridges,
addresses, routes, forwarding and nftables NAT exist only inside. The host's own
interfaces, addresses, forwarding setting and firewall are never touched.

    with NetLab(run_id) as lab:
        a, b = lab.namespace("a"), lab.namespace("b")
        lab.veth(a, "a0", b, "b0")
        lab.address(a, "a0", "10.0.0.1/24"); lab.address(b, "b0", "10.0.0.2/24")
        lab.ping(a, "10.0.0.2")
"""

from __future__ import annotations

import json
import re
import selectors
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence

from . import ownership, proc
from .capability import Capability
from .naming import adhoc_run_id, name_for, run_prefix, short_name

IP_TIMEOUT = 10.0
INSTALL_IPROUTE = "apt-get install -y iproute2"
INSTALL_NFT = "apt-get install -y nftables"

# Tiny TCP endpoints run with our own Python inside a namespace (no extra packages).
# The greeting names the server and the peer address it saw, so a lab can show which
# endpoint really answered and whether a NAT rewrote the client's source address.
_TCP_SERVER = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind((sys.argv[1],int(sys.argv[2])));s.listen(8);print('listening',flush=True)\n"
    "while True:\n"
    " c,a=s.accept()\n"
    " c.sendall(('virtlab-ok %s %s\\n'%(sys.argv[3],a[0])).encode());c.close()\n"
)
_TCP_CLIENT = (
    "import socket,sys\n"
    "try:\n"
    " c=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=float(sys.argv[3]))\n"
    " c.settimeout(float(sys.argv[3]));print(c.recv(64).decode().strip())\n"
    "except OSError as e:\n print('unreachable',e);sys.exit(1)\n"
)


class NetnsError(RuntimeError):
    pass


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=IP_TIMEOUT, check=False
    )
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


def list_namespaces(prefix: str = "vl") -> list[str]:
    """Names of network namespaces starting with ``prefix`` (for tests and the reaper)."""
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def delete_namespace(name: str) -> None:
    """Kill whatever still runs in namespace ``name``, then delete it (with its links)."""
    pids = _ip("netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        subprocess.run(["kill", "-9", pid], capture_output=True, check=False, timeout=5)
    _ip("netns", "delete", name, check=False)


def parse_greeting(text: str) -> tuple[str, str] | None:
    """(server name, peer address the server saw) from a ``serve_tcp`` greeting."""
    parts = text.split()
    if len(parts) >= 3 and parts[0] == "virtlab-ok":
        return parts[1], parts[2]
    return None


class NetLab:
    """Namespaces and links of one run; ``close()`` (or leaving the ``with``) deletes all.

    ``commands`` keeps every configuration command run, as a shell line a student
    could type (nftables rulesets as here-documents), so a lab can show them.
    """

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.namespaces: list[str] = []
        self.commands: list[str] = []
        # (namespace a, interface a, namespace b, interface b) of each veth pair made.
        self.veth_pairs: list[tuple[str, str, str, str]] = []
        self._servers: list[subprocess.Popen] = []

    def _ip(self, *args: str) -> subprocess.CompletedProcess:
        self.commands.append(shlex.join(["ip", *args]))
        return _ip(*args)

    # -- building --------------------------------------------------------------------

    def namespace(self, what: str) -> str:
        name = name_for(self.run_id, what)
        self._ip("netns", "add", name)
        self.namespaces.append(name)
        # Loopback inside is the namespace's own, and down until we bring it up.
        self._ip("-n", name, "link", "set", "lo", "up")
        return name

    def _own(self, ns: str) -> str:
        if ns not in self.namespaces:
            raise NetnsError(f"{ns!r} is not a namespace of run {self.run_id}")
        return ns

    def ifname(self, what: str) -> str:
        return short_name(self.run_id, what)

    def veth(self, ns_a: str, what_a: str, ns_b: str, what_b: str) -> tuple[str, str]:
        """A veth pair made inside ``ns_a`` with its peer created directly in ``ns_b``."""
        a, b = self.ifname(what_a), self.ifname(what_b)
        self._ip("-n", self._own(ns_a), "link", "add", a, "type", "veth",
                 "peer", "name", b, "netns", self._own(ns_b))  # fmt: skip
        self.veth_pairs.append((ns_a, a, ns_b, b))
        self._ip("-n", ns_a, "link", "set", a, "up")
        self._ip("-n", ns_b, "link", "set", b, "up")
        return a, b

    def bridge(self, ns: str, what: str) -> str:
        name = self.ifname(what)
        self._ip("-n", self._own(ns), "link", "add", name, "type", "bridge")
        self._ip("-n", ns, "link", "set", name, "up")
        return name

    def attach(self, ns: str, ifname: str, bridge: str) -> None:
        self._ip("-n", self._own(ns), "link", "set", ifname, "master", bridge)

    def address(self, ns: str, ifname: str, cidr: str) -> None:
        self._ip("-n", self._own(ns), "addr", "add", cidr, "dev", ifname)

    def route(self, ns: str, destination: str, via: str) -> None:
        self._ip("-n", self._own(ns), "route", "add", destination, "via", via)

    def enable_forwarding(self, ns: str) -> None:
        """IPv4 forwarding in this (router) namespace only; the host's stays as it is."""
        argv = ["busybox", "sysctl", "-w", "net.ipv4.ip_forward=1"]
        self.commands.append(shlex.join(["ip", "netns", "exec", ns, *argv[1:]]))
        result = self.exec(ns, argv)
        if not result.ok:
            raise NetnsError(f"forwarding in {ns}: {result.stderr.decode().strip()}")

    def masquerade(self, ns: str, out_ifname: str) -> str:
        """Source NAT for traffic leaving ``out_ifname``, as an nftables table in ``ns``."""
        return self._nft(ns, "nat", "postrouting", "srcnat", f'oifname "{out_ifname}" masquerade')

    def forward_port(
        self, ns: str, in_ifname: str, port: int, to_address: str, to_port: int
    ) -> str:
        """Destination NAT (a port forward): TCP arriving on ``in_ifname`` for ``port``
        goes to ``to_address:to_port``; an nftables table in ``ns``."""
        rule = f'iifname "{in_ifname}" tcp dport {int(port)} dnat to {to_address}:{int(to_port)}'
        return self._nft(ns, "fwd", "prerouting", "dstnat", rule)

    def _nft(self, ns: str, what: str, hook: str, priority: str, rule: str) -> str:
        """One table ``vl<id>-<what>`` with one NAT chain holding ``rule``, in ``ns``."""
        table = name_for(self.run_id, what)
        ruleset = (
            f"table ip {table} {{\n"
            f"  chain {hook} {{\n"
            f"    type nat hook {hook} priority {priority}; policy accept;\n"
            f"    {rule}\n"
            f"  }}\n"
            f"}}\n"
        )
        self.commands.append(f"ip netns exec {ns} nft -f - <<'EOF'\n{ruleset}EOF")
        # On stdin, not in a file: a worker killed mid-command leaves no file behind.
        result = self.exec(self._own(ns), ["nft", "-f", "-"], stdin=ruleset.encode())
        if not result.ok:
            raise NetnsError(f"nft in {ns}: {result.stderr.decode().strip()}")
        return table

    # -- reading back --------------------------------------------------------------------

    def describe(self) -> list[dict]:
        """The configuration as the kernel reports it now, namespace by namespace:
        interfaces (kind, bridge, addresses, the veth peer's namespace and name, checked
        by interface index), routes, forwarding and nftables rules. Read back rather
        than remembered, so a picture drawn from it shows what really exists."""
        found = {ns: self._interfaces(ns) for ns in self.namespaces}
        for ns_a, a, ns_b, b in self.veth_pairs:
            end_a, end_b = found[ns_a].get(a), found[ns_b].get(b)
            if not (end_a and end_b):
                continue  # gone (not expected while the lab runs): draw no cable
            if end_a["link_index"] == end_b["index"] and end_b["link_index"] == end_a["index"]:
                end_a["peer"] = {"namespace": ns_b, "name": b}
                end_b["peer"] = {"namespace": ns_a, "name": a}
        described = []
        for ns in self.namespaces:
            routes = json.loads(_ip("-j", "-n", ns, "route", "show", check=False).stdout or "[]")
            forwarding = self.exec(ns, ["cat", "/proc/sys/net/ipv4/ip_forward"]).stdout.strip()
            interfaces = [
                {k: v for k, v in i.items() if k not in ("index", "link_index")}
                for i in found[ns].values()
            ]
            described.append({
                "namespace": ns,
                "interfaces": interfaces,
                "routes": [_route_text(r) for r in routes],
                "forwarding": forwarding == b"1",
                "nft": self._nft_rules(ns) if shutil.which("nft") else [],
            })  # fmt: skip
        return described

    def _interfaces(self, ns: str) -> dict[str, dict]:
        listed = json.loads(_ip("-j", "-d", "-n", ns, "addr", "show").stdout or "[]")
        interfaces = {}
        for link in listed:
            if link["ifname"] == "lo":
                continue
            kind = link.get("linkinfo", {}).get("info_kind", link.get("link_type", ""))
            interfaces[link["ifname"]] = {
                "name": link["ifname"],
                "kind": kind,
                "master": link.get("master"),
                "up": "UP" in link.get("flags", []),
                "addresses": [
                    f"{a['local']}/{a['prefixlen']}"
                    for a in link.get("addr_info", [])
                    if a.get("family") == "inet"
                ],
                "peer": None,
                "index": link["ifindex"],
                "link_index": link.get("link_index"),
            }
        return interfaces

    def _nft_rules(self, ns: str) -> list[dict]:
        """Each nftables table in ``ns`` with its rule lines (chain headers left out)."""
        text = self.exec(ns, ["nft", "list", "ruleset"]).stdout.decode(errors="replace")
        tables: list[dict] = []
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["table"] and len(words) >= 3:
                tables.append({"table": words[2], "rules": []})
            elif tables and words and words[0] not in ("chain", "type", "}"):
                tables[-1]["rules"].append(line.strip())
        return tables

    # -- running ------------------------------------------------------------------------

    def exec(
        self,
        ns: str,
        argv: Sequence[str],
        timeout: float = 10.0,
        stdin: bytes | None = None,
        cgroup: proc.Killable | None = None,
    ) -> proc.ProcResult:
        """Run ``argv`` inside ``ns`` under proc.run's limits (own session, output cap),
        in ``cgroup`` when given (a run's cgroup with memory, pids and CPU limits)."""
        return proc.run(
            ["ip", "netns", "exec", self._own(ns), *argv],
            run_id=self.run_id,
            wall_seconds=timeout,
            stdin=stdin,
            cgroup=cgroup,
        )

    def ping(self, ns: str, address: str, timeout: float = 2.0) -> bool:
        """One ICMP echo from ``ns`` to ``address`` (busybox ping: present with the labs)."""
        seconds = str(max(1, int(timeout)))
        result = self.exec(ns, ["busybox", "ping", "-c", "1", "-W", seconds, address],
                           timeout=timeout + 3)  # fmt: skip
        return result.ok

    def serve_tcp(
        self, ns: str, address: str, port: int, name: str = "", ready_timeout: float = 5.0
    ) -> None:
        """A TCP listener in ``ns`` that greets each client with ``virtlab-ok <name>
        <client address as seen here>`` (see ``parse_greeting``); stopped by ``close()``."""
        if not re.fullmatch(r"[A-Za-z0-9_.:@-]*", name):
            raise ValueError(f"bad server name: {name!r}")
        hook = proc.priority_hook()
        with proc.sandbox_priority():  # below the web server, like every sandbox process
            server = subprocess.Popen(
                ["ip", "netns", "exec", self._own(ns), sys.executable, "-c", _TCP_SERVER,
                 address, str(port), name or ns],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                env=proc.sandbox_env(self.run_id), start_new_session=True, preexec_fn=hook,
            )  # fmt: skip
        self._servers.append(server)
        deadline = time.monotonic() + ready_timeout
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(server.stdout, selectors.EVENT_READ)
            while not line and time.monotonic() < deadline:
                if selector.select(timeout=deadline - time.monotonic()):
                    line = server.stdout.readline()
                    break
        if not line.startswith(b"listening"):
            raise NetnsError(f"TCP server in {ns} on {address}:{port} did not start")

    def tcp_probe(self, ns: str, address: str, port: int, timeout: float = 2.0) -> bool:
        """True when a client in ``ns`` connects to ``address:port`` and gets the greeting."""
        result = self.exec(ns, [sys.executable, "-c", _TCP_CLIENT, address, str(port),
                                str(timeout)], timeout=timeout + 5)  # fmt: skip
        return result.ok and b"virtlab-ok" in result.stdout

    # -- teardown --------------------------------------------------------------------------

    def close(self) -> None:
        for server in self._servers:
            proc.kill_group(server.pid)
            server.wait(timeout=5)
            if server.stdout:
                server.stdout.close()
        self._servers.clear()
        for ns in reversed(self.namespaces):
            delete_namespace(ns)
        self.namespaces.clear()

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _route_text(route: dict) -> str:
    text = route.get("dst", "")
    if gateway := route.get("gateway"):
        text += f" via {gateway}"
    if dev := route.get("dev"):
        text += f" dev {dev}"
    return text


def leftovers(run_id: int) -> dict[str, list[str]]:
    """Namespaces and host links of a run that still exist (should be none)."""
    prefix = run_prefix(run_id)
    links = _ip("-o", "link", check=False).stdout
    return {
        "namespaces": list_namespaces(prefix),
        "host_links": [line for line in links.splitlines() if prefix in line],
    }


def capabilities() -> list[Capability]:
    if shutil.which("ip") is None:
        return [Capability("netns", False, "the ip tool is missing", INSTALL_IPROUTE),
                Capability("nftables-netns", False, "needs netns first", INSTALL_IPROUTE)]  # fmt: skip
    run_id = adhoc_run_id()
    try:
        return _probe_namespaces(run_id)
    finally:
        ownership.release(run_id)  # NetLab removed what it made


def _probe_namespaces(run_id: int) -> list[Capability]:
    try:
        with NetLab(run_id) as lab:
            a = lab.namespace("cap")
            netns = Capability("netns", True, "network namespaces can be created and deleted")
            if shutil.which("nft") is None:
                return [netns, Capability("nftables-netns", False, "nft is missing", INSTALL_NFT)]
            try:
                lab.masquerade(a, "lo")
                nft = Capability("nftables-netns", True, "nftables NAT works inside a namespace")
            except NetnsError as error:
                nft = Capability("nftables-netns", False, str(error)[:200], INSTALL_NFT)
            return [netns, nft]
    except (NetnsError, OSError) as error:
        why = f"cannot create a network namespace: {str(error)[:200]}"
        return [Capability("netns", False, why, INSTALL_IPROUTE),
                Capability("nftables-netns", False, "needs netns first", INSTALL_IPROUTE)]  # fmt: skip
