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

import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from . import ownership, proc
from .capability import Capability
from .naming import adhoc_run_id, name_for, run_prefix, short_name

IP_TIMEOUT = 10.0
INSTALL_IPROUTE = "apt-get install -y iproute2"
INSTALL_NFT = "apt-get install -y nftables"

# Tiny TCP endpoints run with our own Python inside a namespace (no extra packages).
_TCP_SERVER = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind((sys.argv[1],int(sys.argv[2])));s.listen(8);print('listening',flush=True)\n"
    "while True:\n c,_=s.accept();c.sendall(b'virtlab-ok\\n');c.close()\n"
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


class NetLab:
    """Namespaces and links of one run; ``close()`` (or leaving the ``with``) deletes all."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.namespaces: list[str] = []
        self._servers: list[subprocess.Popen] = []

    # -- building --------------------------------------------------------------------

    def namespace(self, what: str) -> str:
        name = name_for(self.run_id, what)
        _ip("netns", "add", name)
        self.namespaces.append(name)
        # Loopback inside is the namespace's own, and down until we bring it up.
        _ip("-n", name, "link", "set", "lo", "up")
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
        _ip("-n", self._own(ns_a), "link", "add", a, "type", "veth",
            "peer", "name", b, "netns", self._own(ns_b))  # fmt: skip
        _ip("-n", ns_a, "link", "set", a, "up")
        _ip("-n", ns_b, "link", "set", b, "up")
        return a, b

    def bridge(self, ns: str, what: str) -> str:
        name = self.ifname(what)
        _ip("-n", self._own(ns), "link", "add", name, "type", "bridge")
        _ip("-n", ns, "link", "set", name, "up")
        return name

    def attach(self, ns: str, ifname: str, bridge: str) -> None:
        _ip("-n", self._own(ns), "link", "set", ifname, "master", bridge)

    def address(self, ns: str, ifname: str, cidr: str) -> None:
        _ip("-n", self._own(ns), "addr", "add", cidr, "dev", ifname)

    def route(self, ns: str, destination: str, via: str) -> None:
        _ip("-n", self._own(ns), "route", "add", destination, "via", via)

    def enable_forwarding(self, ns: str) -> None:
        """IPv4 forwarding in this (router) namespace only; the host's stays as it is."""
        result = self.exec(ns, ["busybox", "sysctl", "-w", "net.ipv4.ip_forward=1"])
        if not result.ok:
            raise NetnsError(f"forwarding in {ns}: {result.stderr.decode().strip()}")

    def masquerade(self, ns: str, out_ifname: str) -> str:
        """Source NAT for traffic leaving ``out_ifname``, as an nftables table in ``ns``."""
        table = name_for(self.run_id, "nat")
        ruleset = (
            f"table ip {table} {{\n"
            f"  chain postrouting {{\n"
            f"    type nat hook postrouting priority srcnat; policy accept;\n"
            f'    oifname "{out_ifname}" masquerade\n'
            f"  }}\n"
            f"}}\n"
        )
        with tempfile.NamedTemporaryFile("w", suffix=".nft", prefix=table) as rules:
            rules.write(ruleset)
            rules.flush()
            result = self.exec(ns, ["nft", "-f", rules.name])
        if not result.ok:
            raise NetnsError(f"nft in {ns}: {result.stderr.decode().strip()}")
        return table

    # -- running ------------------------------------------------------------------------

    def exec(
        self, ns: str, argv: Sequence[str], timeout: float = 10.0, stdin: bytes | None = None
    ) -> proc.ProcResult:
        """Run ``argv`` inside ``ns`` under proc.run's limits (own session, output cap)."""
        return proc.run(
            ["ip", "netns", "exec", self._own(ns), *argv],
            run_id=self.run_id,
            wall_seconds=timeout,
            stdin=stdin,
        )

    def ping(self, ns: str, address: str, timeout: float = 2.0) -> bool:
        """One ICMP echo from ``ns`` to ``address`` (busybox ping: present with the labs)."""
        seconds = str(max(1, int(timeout)))
        result = self.exec(ns, ["busybox", "ping", "-c", "1", "-W", seconds, address],
                           timeout=timeout + 3)  # fmt: skip
        return result.ok

    def serve_tcp(self, ns: str, address: str, port: int, ready_timeout: float = 5.0) -> None:
        """A TCP listener in ``ns`` that greets each client; stopped by ``close()``."""
        server = subprocess.Popen(
            ["ip", "netns", "exec", self._own(ns), sys.executable, "-c", _TCP_SERVER,
             address, str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env=proc.sandbox_env(self.run_id), start_new_session=True,
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
