"""orchestration: a desired-state controller over real containers, under real traffic.

The teaching subject is the ``Controller`` below, a model of Kubernetes' control
loop (a Deployment and its ReplicaSets, a Service's endpoints), not Kubernetes: every
``period`` it

1. **watches**: which pods still run (the container's cgroup has processes) and
   which answer their readiness check (GET /ready);
2. **diffs** the desired state (replicas, version, strategy) against them;
3. **acts**: creates or deletes pods (real runc containers, orchestration_cluster.py)
   and publishes the ready ones as the load balancer's endpoints.

A client sends a steady request rate through the load balancer the whole time and
records every request: when, how long, and which version and pod answered. The
scenarios (``scenario`` parameter) each run one or two passes of that traffic:

1. self-healing: a pod's processes are killed; once with readiness checks, once
   without (a new pod gets traffic as soon as its container runs);
2. scaling: 1 → ``replicas`` pods, then the throughput at each replica count;
3. rolling update vs recreate: every pod is replaced by version 2;
4. rollback: version 3 fails its readiness check; after ``progress_deadline`` seconds
   without progress the controller undoes the rollout.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from labs.sandbox.limits import Limits
from labs.sandbox.netns import NetLab

from .base import NEEDS_CONTAINERS, Column, Lab, Param, ParamError, Progress, RunContext, Sample
from .guests import stopping
from .orchestration_cluster import BROKEN_VERSION, BURST_CONNECTIONS, Cluster, Pod, wait_until
from .orchestration_figure import figure
from .stats import median_or_none, rounded

SCENARIOS = {1: "self-healing", 2: "scaling", 3: "update", 4: "rollback"}
SCENARIO_LABELS = {
    1: "self-healing (kill a pod)",
    2: "scaling (1 → replicas)",
    3: "rolling update vs recreate",
    4: "rollback (version 3 fails readiness)",
}
EVENT_AT = 2.0  # seconds into a pass when the scenario's change happens
SETTLE_SECONDS = 20.0  # at most this long to get a pass's first pods ready
BURST_SECONDS = 1.5  # each throughput measurement (scaling)

PARAMS = (
    Param("scenario", "Scenario", 3, 1, 4,
          "1 self-healing: a pod is killed, with and then without readiness checks; "
          "2 scaling: 1 → replicas pods, then throughput per replica count; "
          "3 rolling update vs recreate: every pod replaced by version 2; "
          "4 rollback: version 3 fails its readiness check."),
    Param("replicas", "Replicas", 3, 1, 4,
          "Desired pods (1–4): each is a runc container in a network namespace of its own."),
    Param("rate", "Request rate", 20, 5, 50,
          "Requests per second the client sends the whole time (5–50).", "req/s"),
    Param("window_seconds", "Traffic window per pass", 10, 6, 20,
          f"How long each pass sends traffic (6–20 s); the change comes {EVENT_AT:g} s in.",
          "s"),
    Param("period_ms", "Controller period", 250, 100, 2000,
          "How often the controller watches, diffs and acts (100–2000 ms).", "ms"),
    Param("startup_ms", "Pod start-up time", 500, 0, 3000,
          "How long the service loads before it listens (0–3000 ms): the time a readiness "
          "check waits out.", "ms"),
    Param("max_surge", "maxSurge", 1, 0, 2,
          "Rolling update: pods allowed above the desired count (0–2)."),
    Param("max_unavailable", "maxUnavailable", 0, 0, 2,
          "Rolling update: ready pods allowed below the desired count (0–2). maxSurge and "
          "maxUnavailable may not both be 0."),
    Param("progress_deadline", "Progress deadline", 3.0, 1.0, 8.0,
          "Rollback: seconds without progress before the controller undoes a rollout.",
          "s", float),
    Param("pod_cpu_percent", "CPU limit per pod", 25, 10, 100,
          "Each pod's CPU quota, % of one core (its cgroup; a Kubernetes CPU limit).", "%"),
)  # fmt: skip


@dataclass
class Spec:
    """The desired state: what a Deployment's spec says."""

    replicas: int
    version: int
    strategy: str = "rolling"  # or "recreate"
    max_surge: int = 1
    max_unavailable: int = 0
    readiness: bool = True
    progress_deadline: float = 3.0


class Controller:
    """Watch → diff → act, once per period. Every decision is logged as an event."""

    def __init__(self, cluster: Cluster, spec: Spec, started: float) -> None:
        self.cluster, self.spec, self.started = cluster, spec, started
        self.pods: list[Pod] = []
        self.events: list[dict] = []
        self.history = [spec.version]  # the versions rolled out, newest last
        self.last_progress = time.monotonic()

    def event(self, kind: str, pod: Pod | None = None, note: str = "") -> None:
        self.events.append({
            "t": time.monotonic() - self.started, "event": kind,
            "pod": pod.name if pod else None, "version": pod.version if pod else None,
            "note": note,
        })  # fmt: skip

    def set_version(self, version: int) -> None:
        self.spec.version = version
        self.history.append(version)
        self.last_progress = time.monotonic()
        self.event("rollout", note=f"desired version {version} ({self.spec.strategy})")

    def reconcile(self) -> None:
        self.watch()
        self.act()
        self.publish()

    # 1. watch: what is really there
    def watch(self) -> None:
        for pod in list(self.pods):
            if not pod.handle.alive():
                self.event("noticed dead", pod)
                self.pods.remove(pod)
                self.cluster.stop(pod)
        waiting = [p for p in self.pods if not p.ready]
        passed = (
            self.cluster.probe(waiting)
            if self.spec.readiness
            else {p.address for p in waiting}  # no check: running counts as ready
        )
        for pod in waiting:
            if pod.address in passed:
                pod.ready_at = time.monotonic()
                self.last_progress = pod.ready_at
                self.event("ready", pod)

    # 2 and 3. diff desired against actual, and act
    def act(self) -> None:
        spec = self.spec
        current = [p for p in self.pods if p.version == spec.version]
        old = [p for p in self.pods if p.version != spec.version]
        if old and self._stalled():
            self.rollback()
            self.act()  # the same pass acts on the restored desired state
            return
        if spec.strategy == "recreate" and old:
            for pod in old:  # all at once: the update's outage
                self.delete(pod, "recreate: old version")
            return
        # Scale up the current version, up to replicas + maxSurge pods in all.
        alive = [p for p in self.pods if not p.terminating]
        while len(current) < spec.replicas and len(alive) < spec.replicas + spec.max_surge:
            alive.append(pod := self.create(spec.version))
            current.append(pod)
        # Delete old pods (not-ready ones first) while enough ready pods remain.
        for pod in sorted(old, key=lambda p: p.ready):
            available = sum(1 for p in self.pods if p.ready and not p.terminating)
            if not pod.ready or available - 1 >= spec.replicas - spec.max_unavailable:
                self.delete(pod, "old version")
        # Scale down the current version (not-ready pods first).
        for pod in sorted(current, key=lambda p: p.ready)[: max(0, len(current) - spec.replicas)]:
            self.delete(pod, "scale down")

    def _stalled(self) -> bool:
        return time.monotonic() - self.last_progress > self.spec.progress_deadline

    def rollback(self) -> None:
        """Kubernetes marks such a rollout failed (progressDeadlineSeconds) and waits for
        `kubectl rollout undo`; this controller undoes it itself."""
        previous = next((v for v in reversed(self.history) if v != self.spec.version), None)
        if previous is None:
            return
        self.event("rollback", note=f"no progress for {self.spec.progress_deadline:g} s: "
                   f"back to version {previous}")  # fmt: skip
        self.set_version(previous)

    def create(self, version: int) -> Pod:
        pod = self.cluster.create_pod(version, time.monotonic())
        self.last_progress = time.monotonic()  # scaling a version up counts as progress
        self.pods.append(pod)
        self.event("created", pod)
        return pod

    def delete(self, pod: Pod, why: str) -> None:
        # Out of the endpoints first (publish), stopped after: no new request reaches it.
        pod.terminating = True
        self.last_progress = time.monotonic()
        self.event("deleted", pod, why)

    def publish(self) -> None:
        serving = [p.address for p in self.pods if p.ready and not p.terminating]
        if serving != self.cluster.endpoints:
            self.cluster.set_endpoints(serving)
            names = [p.name for p in self.pods if p.ready and not p.terminating]
            self.event("endpoints", note=" ".join(names) or "none")
        for pod in [p for p in self.pods if p.terminating]:
            self.pods.remove(pod)
            self.cluster.stop(pod)

    def settle(self, deadline: float) -> bool:
        """Reconcile until the desired pods are all ready (before traffic starts)."""
        while time.monotonic() < deadline:
            self.reconcile()
            ready = [p for p in self.pods if p.ready and p.version == self.spec.version]
            if len(ready) == self.spec.replicas == len(self.pods):
                return True
            time.sleep(0.05)
        return False

    def remove_all(self) -> None:
        self.cluster.set_endpoints([])
        for pod in self.pods:
            self.cluster.stop(pod)
        self.pods.clear()


# --- passes ------------------------------------------------------------------------------


def passes(params: dict) -> list[tuple[str, Spec]]:
    """(name, starting spec) of each pass of the chosen scenario."""
    replicas, scenario = params["replicas"], SCENARIOS[params["scenario"]]
    rolling = {"max_surge": params["max_surge"], "max_unavailable": params["max_unavailable"],
               "progress_deadline": params["progress_deadline"]}  # fmt: skip
    if scenario == "self-healing":
        return [("heal-readiness", Spec(replicas, 1, **rolling)),
                ("heal-no-readiness", Spec(replicas, 1, readiness=False, **rolling))]  # fmt: skip
    if scenario == "scaling":
        return [("scale", Spec(1, 1, **rolling))]
    if scenario == "update":
        return [("rolling", Spec(replicas, 1, **rolling)),
                ("recreate", Spec(replicas, 1, strategy="recreate", **rolling))]  # fmt: skip
    return [("rollback", Spec(replicas, 1, **rolling))]


def change(name: str, controller: Controller, cluster: Cluster, params: dict) -> None:
    """The scenario's change, ``EVENT_AT`` seconds into the pass."""
    if name.startswith("heal"):
        victim = controller.pods[0]
        cluster.kill(victim)
        controller.event("kill", victim, "SIGKILL to the pod's processes")
    elif name == "scale":
        controller.spec.replicas = params["replicas"]
        controller.event("scale", note=f"desired replicas 1 → {params['replicas']}")
    elif name in ("rolling", "recreate"):
        controller.set_version(2)
    elif name == "rollback":
        controller.set_version(BROKEN_VERSION)


def run_pass(cluster: Cluster, name: str, spec: Spec, params: dict, ctx: RunContext,
             index: int, count: int):  # fmt: skip
    """One pass: settle, traffic with the change at EVENT_AT, the controller running
    throughout. Yields progress and the rows as they arrive; returns False if stopped."""
    base = index / count
    yield Progress(f"{name}: starting {spec.replicas} pod(s) of version {spec.version}", base)
    started = time.monotonic()
    controller = Controller(cluster, spec, started)
    if not controller.settle(started + SETTLE_SECONDS):
        raise RuntimeError(f"{name}: the first pods were not ready within {SETTLE_SECONDS:g} s")
    window, period = params["window_seconds"], params["period_ms"] / 1000
    client = cluster.client(params["rate"], window)
    start = time.monotonic()
    controller.started = start
    for event in controller.events:  # the settling happened before the window
        event["t"] = None
    changed = False
    tick = 0
    stopped = False
    while client.running():
        now = time.monotonic()
        if not changed and now - start >= EVENT_AT:
            # The change happens between two passes of the controller: it sees it on
            # its next watch, as a real controller sees a crash on its next event.
            change(name, controller, cluster, params)
            changed = True
        else:
            controller.reconcile()
        for row in client.take():
            yield Sample(request_row(name, row, start))
        done = sum(1 for p in controller.pods if p.ready)
        yield Progress(f"{name}: {now - start:.0f} of {window} s, {done} pod(s) ready, "
                       f"{len(controller.pods)} running", base + (now - start) / window / count)  # fmt: skip
        if ctx.should_stop():
            stopped = True
            break
        tick += 1
        wait_until(start + tick * period)
    client.wait()
    for row in client.take():
        yield Sample(request_row(name, row, start))
    for event in controller.events:
        yield Sample({"kind": "event", "pass": name, **event, "t": rounded(event["t"], 3)})
    if name == "scale" and not stopped:
        yield from throughput(cluster, controller, params, base, count)
    controller.remove_all()
    return not stopped


def throughput(cluster: Cluster, controller: Controller, params: dict, base: float, count: int):
    """Requests per second at each replica count, with many requests in flight."""
    for replicas in range(1, params["replicas"] + 1):
        yield Progress(f"throughput with {replicas} replica(s)", base + 0.9 / count)
        controller.spec.replicas = replicas
        settled = controller.settle(time.monotonic() + SETTLE_SECONDS)
        burst = cluster.client(BURST_CONNECTIONS, BURST_SECONDS, mode="burst")
        burst.wait()
        found = burst.finished
        result = f"{found['burst_failed']} failed"
        if not settled:  # measured with fewer pods ready than the row's replica count
            result += "; not every replica was ready in time"
        yield Sample({
            "kind": "throughput", "pass": "scale", "replicas": replicas,
            "requests_per_second": rounded(found["burst_ok"] / found["seconds"], 1),
            "result": result,
        })  # fmt: skip


def request_row(name: str, row: dict, start: float) -> dict:
    return {
        "kind": "request", "pass": name, "t": rounded(row["t"] - start, 3),
        "latency_ms": row["ms"], "result": row["result"], "version": row["version"],
        "pod": row["pod"],
    }  # fmt: skip


def run(params: dict, ctx: RunContext):
    if params["max_surge"] == 0 and params["max_unavailable"] == 0:
        raise ParamError("maxSurge and maxUnavailable cannot both be 0: no pod could be replaced")
    limits = Limits(wall_seconds=_max_seconds(params), cpu_percent=params["pod_cpu_percent"],
                    memory_mib=32, pids=32, open_files=256, tmpfs_mib=1, output_bytes=4096)  # fmt: skip
    todo = passes(params)
    with NetLab(ctx.run_id) as lab:
        yield Progress("building the client, load-balancer and pod namespaces", 0.0)
        cluster = Cluster(lab, limits, params["startup_ms"] / 1000)
        try:
            cluster.build()
            for index, (name, spec) in enumerate(todo):
                finished = yield from run_pass(cluster, name, spec, params, ctx, index, len(todo))
                if not finished:
                    yield from stopping()
                    return
            yield Sample({
                "kind": "setup",
                "result": f"{cluster.made} pods made, {len(lab.namespaces)} namespaces",
                "details": [{"title": f"The {len(lab.commands)} ip and nft commands this run ran",
                             "text": "\n".join(lab.commands)}],
            })  # fmt: skip
        finally:
            cluster.stop_everything()


# --- summary ------------------------------------------------------------------------------


def pass_rows(samples: list[dict], name: str, kind: str = "request") -> list[dict]:
    return [s for s in samples if s.get("kind") == kind and s.get("pass") == name]


def timed_events(samples: list[dict], name: str) -> list[dict]:
    """The pass's controller events inside its traffic window (settling has no time)."""
    return [e for e in pass_rows(samples, name, "event") if e["t"] is not None]


def event_time(samples: list[dict], name: str, event: str, after: float = 0.0) -> float | None:
    return next(
        (e["t"] for e in timed_events(samples, name)
         if e["event"] == event and e["t"] >= after),
        None,
    )  # fmt: skip


def longest_outage(rows: list[dict]) -> float | None:
    """Seconds from the first to the last request of the longest run of failures."""
    longest, first = 0.0, None
    for row in sorted(rows, key=lambda r: r["t"]):
        if row["result"] != "ok":
            first = row["t"] if first is None else first
            longest = max(longest, row["t"] - first)
        else:
            first = None
    return rounded(longest, 3) if rows else None


def failed(rows: list[dict]) -> int:
    return sum(1 for r in rows if r["result"] != "ok")


def first_answer(rows: list[dict], after: float, pods: set[str] | None = None,
                 version: int | None = None) -> float | None:  # fmt: skip
    return next(
        (r["t"] for r in sorted(rows, key=lambda r: r["t"])
         if r["result"] == "ok" and r["t"] >= after
         and (pods is None or r["pod"] in pods) and (version is None or r["version"] == version)),
        None,
    )  # fmt: skip


def mixed_seconds(rows: list[dict]) -> float | None:
    """How long answers came from both versions: last v1 answer − first v2 answer."""
    ok = [r for r in rows if r["result"] == "ok"]
    last_old = max((r["t"] for r in ok if r["version"] == 1), default=None)
    first_new = min((r["t"] for r in ok if r["version"] == 2), default=None)
    if last_old is None or first_new is None:
        return None
    return rounded(max(0.0, last_old - first_new), 3)


def summarize(samples: list[dict], params: dict) -> dict:
    requests = [s for s in samples if s.get("kind") == "request"]
    ok = [r["latency_ms"] for r in requests if r["result"] == "ok"]
    summary: dict = {
        "scenario": SCENARIO_LABELS.get(params.get("scenario"), "?"),
        "requests_total": len(requests),
        "requests_failed": failed(requests),
        "median_latency_ms": rounded(median_or_none(ok), 3),
        "pods_created": sum(
            1 for s in samples if s.get("kind") == "event" and s["event"] == "created"
        ),  # fmt: skip
    }
    for name, label in (("heal-readiness", "with"), ("heal-no-readiness", "without")):
        rows = pass_rows(samples, name)
        if not rows:
            continue
        killed = event_time(samples, name, "kill")
        created = [e for e in timed_events(samples, name)
                   if e["event"] == "created" and killed is not None and e["t"] >= killed]  # fmt: skip
        new_pods = {e["pod"] for e in created}
        noticed = event_time(samples, name, "noticed dead", killed or 0)
        ready = event_time(samples, name, "ready", killed or 0)
        served = first_answer(rows, killed or 0, new_pods) if killed is not None else None
        summary |= {
            f"heal_failed_{label}_readiness": failed(rows),
            f"heal_notice_seconds_{label}_readiness": _since(noticed, killed),
            f"heal_serving_seconds_{label}_readiness": _since(served, killed),
            f"heal_ready_seconds_{label}_readiness": _since(ready, killed),
        }
    if rows := pass_rows(samples, "scale"):
        scaled = event_time(samples, "scale", "scale")
        created = [e for e in timed_events(samples, "scale")
                   if e["event"] == "created" and scaled is not None and e["t"] >= scaled]  # fmt: skip
        readies = [e["t"] for e in timed_events(samples, "scale")
                   if e["event"] == "ready" and scaled is not None and e["t"] >= scaled]  # fmt: skip
        firsts = [first_answer(rows, scaled, {e["pod"]}) for e in created] if scaled else []
        all_ready = max(readies) if len(readies) >= len(created) and readies else None
        summary |= {
            "scale_failed": failed(rows),
            "scale_seconds_all_ready": _since(all_ready, scaled),
            "scale_seconds_all_serving": (
                _since(max(firsts), scaled) if firsts and None not in firsts else None
            ),
        }
        bursts = {s["replicas"]: s["requests_per_second"] for s in samples
                  if s.get("kind") == "throughput"}  # fmt: skip
        for replicas, rps in sorted(bursts.items()):
            summary[f"throughput_rps_{replicas}"] = rps
        if len(bursts) > 1 and bursts.get(1):
            summary["throughput_gain"] = rounded(bursts[max(bursts)] / bursts[1], 2)
    for name in ("rolling", "recreate"):
        if rows := pass_rows(samples, name):
            rollout = event_time(samples, name, "rollout")
            last_old = max((r["t"] for r in rows if r["result"] == "ok" and r["version"] == 1),
                           default=None)  # fmt: skip
            summary |= {
                f"{name}_failed_requests": failed(rows),
                f"{name}_outage_seconds": longest_outage(rows),
                f"{name}_seconds_to_v2_only": _since(last_old, rollout),
                f"{name}_mixed_seconds": mixed_seconds(rows),
            }
    if rows := pass_rows(samples, "rollback"):
        answered = [r for r in rows if r["result"] == "ok"]
        summary |= {
            "rollback_failed_requests": failed(rows),
            "rollback_broken_answers": sum(1 for r in answered if r["version"] == BROKEN_VERSION),
            "rollback_old_version_answers": sum(1 for r in answered if r["version"] == 1),
            "rollback_seconds": _since(
                event_time(samples, "rollback", "rollback"),
                event_time(samples, "rollback", "rollout"),
            ),  # fmt: skip
        }
    return summary


def _since(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return rounded(later - earlier, 3)


def _max_seconds(params: dict) -> float:
    count = 2 if params.get("scenario", 3) in (1, 3) else 1
    per_pass = SETTLE_SECONDS + params.get("window_seconds", 10) + 20
    bursts = params.get("replicas", 3) * (SETTLE_SECONDS + BURST_SECONDS + 5)
    return 30 + count * per_pass + (bursts if params.get("scenario") == 2 else 0)


class OrchestrationLab(Lab):
    """The catalogue's Lab, plus the checks that need two parameters at once: made
    when the form is submitted, so a refused combination starts nothing."""

    def validate(self, raw):
        cleaned, errors = super().validate(raw)
        if errors:
            return cleaned, errors
        if cleaned["max_surge"] == 0 and cleaned["max_unavailable"] == 0:
            errors["max_unavailable"] = (
                "maxSurge and maxUnavailable cannot both be 0: no pod could be replaced."
            )
        # The rollback must have time to happen inside the traffic window.
        need = EVENT_AT + cleaned["progress_deadline"] + 2
        if cleaned["scenario"] == 4 and cleaned["window_seconds"] < need:
            errors["window_seconds"] = (
                f"The rollback scenario needs a window of at least {math.ceil(need)} s with a "
                f"{cleaned['progress_deadline']:g} s progress deadline (the new version comes "
                f"{EVENT_AT:g} s in)."
            )
        return cleaned, errors


LAB = OrchestrationLab(
    slug="orchestration",
    title="Orchestration: a control loop heals, scales and rolls out under traffic",
    summary="A small desired-state controller runs replicas of an HTTP service as real "
    "containers behind a load balancer, while a client measures every request through a "
    "crash, a scale-up, a rolling update, a recreate and a rollback.",
    explanation=(
        "**This is a model of Kubernetes' control loop, not Kubernetes.** The controller is "
        "a class of about 140 lines of Python in the lab (`labs/experiments/orchestration.py`): "
        "every period it *watches* (which pods still run, which answer `GET /ready`), "
        "*diffs* that against the desired state (replicas, version, update strategy) and "
        "*acts* (creates or deletes pods, then publishes the ready ones to the load "
        "balancer), the same loop a Deployment controller, a ReplicaSet controller and the "
        "endpoints controller run between them in a real cluster.\n\n"
        "Each **pod** is a real runc container (busybox `httpd`) in a network namespace of "
        "its own, cabled to a bridge in a load-balancer namespace. Its page says which "
        "version and which pod answered (`v2 p7`). The **Service** is an nftables "
        "destination-NAT rule in that namespace: connections to 10.0.0.1:80 go round robin "
        "(`numgen inc`) to the ready pods, as kube-proxy's rules do. A **client** in a "
        "namespace of its own sends a steady request rate the whole time and records each "
        "request's result, latency and the version that answered. Everything lives in "
        "namespaces the run creates and deletes; the host's network is not touched.\n\n"
        "**Self-healing**: a pod's processes are killed. Requests the load balancer still "
        "sends it fail until the controller notices (up to one period) and takes it out; "
        "a replacement is created at once. The pass runs twice: with a readiness check the "
        "new pod gets traffic only once `/ready` answers; without one it gets traffic as "
        "soon as its container runs, while the service is still starting (`startup_ms`), "
        "and those requests are refused.\n\n"
        "**Scaling**: 1 → `replicas` pods; the time until every new pod answered, then the "
        f"throughput at each replica count with {BURST_CONNECTIONS} requests in flight. "
        "Each pod may use "
        "`pod_cpu_percent` of one core, so more pods help until the host's own cores (the "
        "client, the load balancer and the pods share them) are the limit: on a 2-core host "
        "throughput stops growing long before it would on a real cluster of many nodes.\n\n"
        "**Rolling update vs recreate**: every pod is replaced by version 2. A rolling "
        "update keeps at least `replicas − maxUnavailable` ready pods and at most "
        "`replicas + maxSurge` pods in all, so both versions answer for a while and (with "
        "maxUnavailable 0) no request needs to fail. Recreate deletes every old pod first: "
        "the service answers nothing until new pods are ready.\n\n"
        "**Rollback**: version 3's readiness check fails. Its surge pod never becomes "
        "ready, so it never gets traffic and the old pods keep serving; after "
        "`progress_deadline` seconds without progress the controller goes back to version 1. "
        "(Kubernetes marks such a rollout failed and waits for `kubectl rollout undo`.)\n\n"
        "Failed requests are counted, not hidden: the chart shows every request over time, "
        "coloured by the version that answered, failures in red, with the controller's "
        "events (kill, noticed, created, ready, endpoints) marked. Times depend on this "
        "host's load: a pod here takes a few hundred milliseconds to start (runc, a "
        "namespace and a veth pair), where a real cluster also pulls images and schedules."
    ),
    params=PARAMS,
    needs=("runc", *NEEDS_CONTAINERS[1:], "netns", "nftables-netns"),
    columns=(
        Column("kind", "Row"),
        Column("pass", "Pass"),
        Column("t", "Time in the pass", "s"),
        Column("latency_ms", "Latency", "ms"),
        Column("result", "Result"),
        Column("version", "Version"),
        Column("pod", "Pod"),
        Column("event", "Controller event"),
        Column("note", "Note"),
        Column("replicas", "Replicas"),
        Column("requests_per_second", "Throughput", "req/s"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=_max_seconds,
    predict_keys=("recreate_outage_seconds", "rolling_failed_requests"),
    summary_labels={
        "scenario": "Scenario",
        "requests_total": "Requests sent",
        "requests_failed": "Requests failed",
        "median_latency_ms": "Median latency of answered requests (ms)",
        "pods_created": "Pods created",
        "heal_failed_with_readiness": "Self-healing with readiness checks: failed requests",
        "heal_failed_without_readiness": "Self-healing without readiness checks: failed requests",
        "heal_notice_seconds_with_readiness": "With readiness: kill → controller noticed (s)",
        "heal_notice_seconds_without_readiness": "Without readiness: kill → noticed (s)",
        "heal_serving_seconds_with_readiness": "With readiness: kill → new pod answered (s)",
        "heal_serving_seconds_without_readiness": "Without readiness: kill → new pod answered (s)",
        "heal_ready_seconds_with_readiness": "With readiness: kill → new pod ready (s)",
        "heal_ready_seconds_without_readiness": "Without readiness: kill → new pod ready (s)",
        "scale_failed": "Scaling: failed requests",
        "scale_seconds_all_ready": "Scaling: change → all new pods ready (s)",
        "scale_seconds_all_serving": "Scaling: change → every new pod answered (s)",
        "throughput_rps_1": "Throughput with 1 replica (req/s)",
        "throughput_rps_2": "Throughput with 2 replicas (req/s)",
        "throughput_rps_3": "Throughput with 3 replicas (req/s)",
        "throughput_rps_4": "Throughput with 4 replicas (req/s)",
        "throughput_gain": "Throughput, most replicas ÷ one",
        "rolling_failed_requests": "Rolling update: failed requests",
        "rolling_outage_seconds": "Rolling update: longest run of failures (s)",
        "rolling_seconds_to_v2_only": "Rolling update: rollout → last version-1 answer (s)",
        "rolling_mixed_seconds": "Rolling update: both versions answering (s)",
        "recreate_failed_requests": "Recreate: failed requests",
        "recreate_outage_seconds": "Recreate: longest run of failed requests (s)",
        "recreate_seconds_to_v2_only": "Recreate: rollout → last version-1 answer (s)",
        "recreate_mixed_seconds": "Recreate: both versions answering (s)",
        "rollback_failed_requests": "Rollback: failed requests",
        "rollback_broken_answers": "Rollback: answers from the broken version 3",
        "rollback_old_version_answers": "Rollback: answers from version 1",
        "rollback_seconds": "Rollback: rollout → controller undid it (s)",
    },
)
