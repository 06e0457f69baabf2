"""The orchestration lab's "cluster": pods as real containers, a load balancer, a client.

What the controller (orchestration.py) acts on, built only from the run's own
namespaces (docs/architecture.md, sandbox rule 6):

    client ns ──veth── lb ns (VIP 10.0.0.1:80, nftables DNAT, numgen round robin)
                           └─ bridge 10.1.0.1/24 ──veth── pod ns (10.1.0.N) ← runc container

Every pod is a runc container (busybox ``httpd``) that joins a network namespace of
its own, cabled to the load balancer's bridge. Its page says which version and which
pod answered ("v2 p7"); ``/ready`` exists only when the version passes its readiness
check. The client and the readiness prober are small Python programs run inside the
client and load-balancer namespaces. Split from orchestration.py, which holds the
controller, the scenarios and the summary.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field

from labs.sandbox import cgroups, containers, proc
from labs.sandbox.limits import Limits
from labs.sandbox.naming import name_for
from labs.sandbox.netns import NetLab

VIP, SERVICE_PORT, POD_PORT = "10.0.0.1", 80, 8080
CLIENT_ADDRESS = "10.0.0.2"
POD_GATEWAY = "10.1.0.1"
MAX_PODS = 99  # interface names end in a letter and two digits (15-byte limit)
BROKEN_VERSION = 3  # its readiness check fails: the rollback scenario deploys it
REQUEST_TIMEOUT = 1.0  # seconds a client request or a readiness probe waits
BURST_CONNECTIONS = 8  # requests in flight at once during a throughput burst
TOOLS_MEMORY = 256 << 20  # for the client, and as much for the prober
TOOLS_PIDS = 256  # threads: the client starts one per request in flight
TOOLS_CPU_PERCENT = 50

# The service each pod runs: write its page, wait out its start-up time (an app that
# loads before it listens), then serve. Only versions that pass readiness get /ready.
POD_SCRIPT = (
    'mkdir -p /tmp/www && echo "v$1 $2" > /tmp/www/index.html && '
    '{ [ "$3" = 1 ] && echo ok > /tmp/www/ready; true; } && sleep "$4" && '
    f"exec httpd -f -p {POD_PORT} -h /tmp/www"
)

# The client: an open loop (a request every 1/rate s, each on its own thread, so a
# slow answer never delays the next one), one JSON line per request with the time it
# was sent (CLOCK_MONOTONIC, the same clock as the lab's), its latency and who
# answered. In "burst" mode: as many requests as ``rate`` threads can make, back to
# back, for ``duration`` seconds, for the throughput per replica count.
CLIENT = r"""
import errno, json, socket, sys, threading, time
vip, port, rate, duration, mode = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
TIMEOUT = float(sys.argv[6])
lock = threading.Lock()
def out(row):
    with lock:
        sys.stdout.write(json.dumps(row, separators=(",", ":")) + "\n"); sys.stdout.flush()
def request():
    started = time.monotonic()
    try:
        with socket.create_connection((vip, port), timeout=TIMEOUT) as conn:
            conn.settimeout(TIMEOUT)
            conn.sendall(b"GET / HTTP/1.0\r\nHost: service\r\n\r\n")
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        words = body.decode(errors="replace").split()
        status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "?"
        if status == "200" and len(words) >= 2 and words[0][1:].isdigit():
            return started, "ok", int(words[0][1:]), words[1]
        return started, "HTTP " + status, None, None
    except ConnectionRefusedError:
        return started, "refused", None, None
    except ConnectionResetError:
        return started, "reset", None, None
    except (TimeoutError, socket.timeout):
        return started, "timeout", None, None
    except OSError as exc:
        return started, errno.errorcode.get(exc.errno or 0, type(exc).__name__), None, None
def timed(seq):
    started, result, version, pod = request()
    out({"seq": seq, "t": started, "ms": round((time.monotonic() - started) * 1000, 3),
         "result": result, "version": version, "pod": pod})
start = time.monotonic()
if mode == "steady":
    threads, seq = [], 0
    while seq / rate < duration:
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        thread = threading.Thread(target=timed, args=(seq,), daemon=True)
        thread.start(); threads.append(thread); seq += 1
    for thread in threads:  # each ends within a few timeouts; the wall limit bounds all
        thread.join()
    out({"done": seq})
else:
    counts = {"ok": 0, "failed": 0}
    def worker():
        while time.monotonic() - start < duration:
            ok = request()[1] == "ok"
            with lock:
                counts["ok" if ok else "failed"] += 1
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(int(rate))]
    for w in workers: w.start()
    for w in workers: w.join(duration + TIMEOUT * 3)
    out({"burst_ok": counts["ok"], "burst_failed": counts["failed"], "seconds": time.monotonic() - start})
"""

# The readiness prober, run in the load balancer's namespace once per controller
# pass for the pods not yet ready: GET /ready on each, in parallel; prints the ready ones.
PROBER = r"""
import json, socket, sys, threading
timeout, port, addresses = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
ready = []
def probe(address):
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(b"GET /ready HTTP/1.0\r\n\r\n")
            if conn.recv(64).split(b" ", 2)[1:2] == [b"200"]:
                ready.append(address)
    except (OSError, IndexError):
        pass
threads = [threading.Thread(target=probe, args=(a,)) for a in addresses]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(ready))
"""


@dataclass
class Pod:
    name: str  # p1, p2… (container vl<id>-p1 in namespace vl<id>-p1)
    version: int
    address: str
    namespace: str
    handle: containers.ContainerHandle
    created_at: float
    ready_at: float | None = None
    terminating: bool = False

    @property
    def ready(self) -> bool:
        return self.ready_at is not None


@dataclass
class Cluster:
    """The pods, the load balancer and the client of one run."""

    lab: NetLab
    pod_limits: Limits
    startup_seconds: float
    spaces: dict[str, str] = field(default_factory=dict)
    made: int = 0
    endpoints: list[str] = field(default_factory=list)
    handles: list[containers.ContainerHandle] = field(default_factory=list)
    clients: list[ClientRun] = field(default_factory=list)
    # The client's and the prober's limits: a group each, since a group is killed
    # whole when one of its processes overruns.
    tools: dict[str, cgroups.Cgroup] = field(default_factory=dict)

    def build(self) -> None:
        lab = self.lab
        # The client and the readiness prober are our own Python, but they run for the
        # run and start a thread per request: limited like a sandbox all the same.
        for what in ("client", "prober"):
            self.tools[what] = cgroups.create(
                name_for(lab.run_id, what), memory_bytes=TOOLS_MEMORY, pids=TOOLS_PIDS,
                cpu_percent=TOOLS_CPU_PERCENT,
            )  # fmt: skip
        self.spaces = {what: lab.namespace(what) for what in ("cl", "lb")}
        client_leg, lb_leg = lab.veth(self.spaces["cl"], "c0", self.spaces["lb"], "l0")
        lab.address(self.spaces["cl"], client_leg, f"{CLIENT_ADDRESS}/24")
        lab.address(self.spaces["lb"], lb_leg, f"{VIP}/24")
        self.bridge = lab.bridge(self.spaces["lb"], "br")
        lab.address(self.spaces["lb"], self.bridge, f"{POD_GATEWAY}/24")
        lab.enable_forwarding(self.spaces["lb"])
        self.table = name_for(lab.run_id, "lb")
        self._nft(
            f"table ip {self.table} {{\n"
            "  chain prerouting {\n"
            "    type nat hook prerouting priority dstnat; policy accept;\n"
            "  }\n"
            "}\n"
        )

    # -- pods --------------------------------------------------------------------------

    def create_pod(self, version: int, now: float) -> Pod:
        self.made += 1
        if self.made > MAX_PODS:
            raise RuntimeError(f"the run needed more than {MAX_PODS} pods")
        index, lab = self.made, self.lab
        name = f"p{index}"
        namespace = lab.namespace(name)
        lb_side, pod_side = lab.veth(self.spaces["lb"], f"a{index}", namespace, f"e{index}")
        lab.attach(self.spaces["lb"], lb_side, self.bridge)
        address = f"10.1.0.{10 + index}"
        lab.address(namespace, pod_side, f"{address}/24")
        lab.route(namespace, "default", POD_GATEWAY)
        passes = "0" if version == BROKEN_VERSION else "1"
        argv = ["/bin/sh", "-c", POD_SCRIPT, "pod", str(version), name, passes,
                f"{self.startup_seconds:.3f}"]  # fmt: skip
        handle = containers.start_container(
            lab.run_id, argv, self.pod_limits, runtime=oci_runtime(), name=name,
            hostname=name, network_namespace=namespace,
        )  # fmt: skip
        self.handles.append(handle)
        return Pod(name, version, address, namespace, handle, now)

    def kill(self, pod: Pod) -> None:
        """What a crash looks like: SIGKILL to every process of the pod's container."""
        pod.handle.group.kill_all()

    def stop(self, pod: Pod) -> None:
        """Delete the pod's container (its namespace stays until the run ends)."""
        pod.handle.stop()

    def stop_everything(self) -> None:
        """Every container the run made, whatever state the controller was in (a
        failure midway), then the namespaces, which kills a client still running in
        its own; its thread ends with it."""
        errors = []
        for handle in self.handles:
            try:
                handle.stop()
            except Exception as error:  # noqa: BLE001 - stop the others, then report
                errors.append(error)
        self.lab.close()
        for client in self.clients:
            client.thread.join(timeout=10)
        for group in self.tools.values():
            try:
                group.remove()
            except Exception as error:  # noqa: BLE001 - reported below with the others
                errors.append(error)
        if errors:
            raise errors[0]

    def probe(self, pods: list[Pod]) -> set[str]:
        """Addresses among ``pods`` whose GET /ready answered 200."""
        if not pods:
            return set()
        argv = [sys.executable, "-c", PROBER, str(REQUEST_TIMEOUT), str(POD_PORT),
                *(p.address for p in pods)]  # fmt: skip
        result = self.lab.exec(
            self.spaces["lb"], argv, timeout=REQUEST_TIMEOUT + 10, cgroup=self.tools["prober"]
        )
        try:
            return set(json.loads(result.stdout.decode().strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return set()

    # -- the load balancer ---------------------------------------------------------------

    def set_endpoints(self, addresses: list[str]) -> None:
        """Replace the round-robin map in one nftables transaction: connections already
        set up keep their pod (conntrack), new ones go to the new set. With no endpoint
        the VIP's port has no rule and nothing listens: the client is refused."""
        if addresses == self.endpoints:
            return
        script = f"flush chain ip {self.table} prerouting\n"
        if addresses:
            entries = ", ".join(f"{i} : {a} . {POD_PORT}" for i, a in enumerate(addresses))
            script += (
                f"add rule ip {self.table} prerouting ip daddr {VIP} tcp dport {SERVICE_PORT} "
                f"dnat ip addr . port to numgen inc mod {len(addresses)} map {{ {entries} }}\n"
            )
        self._nft(script)
        self.endpoints = list(addresses)

    def _nft(self, script: str) -> None:
        ns = self.spaces["lb"]
        self.lab.commands.append(f"ip netns exec {ns} nft -f - <<'EOF'\n{script}EOF")
        result = self.lab.exec(ns, ["nft", "-f", "-"], stdin=script.encode())
        if not result.ok:
            raise RuntimeError(f"nft in {ns}: {result.stderr.decode(errors='replace').strip()}")

    # -- the client ------------------------------------------------------------------------

    def client(self, rate: float, seconds: float, mode: str = "steady") -> ClientRun:
        client = ClientRun(self, rate, seconds, mode)
        self.clients.append(client)
        return client


class ClientRun:
    """The client running in a thread of its own; ``take()`` hands over the rows that
    arrived since the last call, so the lab can show them while the run goes on."""

    def __init__(self, cluster: Cluster, rate: float, seconds: float, mode: str) -> None:
        self.rows: list[dict] = []
        self.finished: dict = {}
        self.error: str | None = None
        self._taken = 0
        self._buffer = b""
        self._lock = threading.Lock()
        argv = ["ip", "netns", "exec", cluster.spaces["cl"], sys.executable, "-c", CLIENT,
                VIP, str(SERVICE_PORT), str(rate), str(seconds), mode, str(REQUEST_TIMEOUT)]  # fmt: skip
        run_id = cluster.lab.run_id

        def go() -> None:
            try:
                result = proc.run(argv, run_id=run_id, wall_seconds=seconds + 15,
                                  output_bytes=4096, open_files=1024, on_stdout=self._feed,
                                  cgroup=cluster.tools["client"])  # fmt: skip
                if not self.finished:
                    detail = result.stderr.decode(errors="replace").strip()[-300:]
                    self.error = f"the client stopped early: {detail or result.returncode}"
            except Exception as error:  # noqa: BLE001 - reported by the lab, not lost
                self.error = f"the client failed: {error}"

        self.thread = threading.Thread(target=go, name="orchestration-client", daemon=True)
        self.thread.start()

    def _feed(self, data: bytes) -> None:
        self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        with self._lock:
            for line in lines:
                row = json.loads(line)
                if "seq" in row:
                    self.rows.append(row)
                else:
                    self.finished = row

    def running(self) -> bool:
        return self.thread.is_alive()

    def take(self) -> list[dict]:
        with self._lock:
            new, self._taken = self.rows[self._taken :], len(self.rows)
        return new

    def wait(self) -> None:
        self.thread.join()
        if self.error:
            raise RuntimeError(self.error)


def oci_runtime() -> str:
    """Pods join a namespace the run made, which needs an OCI runtime (runc, crun)."""
    chosen = containers.choose_runtime()
    if chosen == "bwrap":
        raise containers.RuntimeUnavailable(
            "pods join the run's network namespaces, which needs runc (apt-get install -y runc)"
        )
    return chosen


def wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
