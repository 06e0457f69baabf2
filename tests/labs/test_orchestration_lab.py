"""orchestration through the real sandbox: the controller heals, scales, rolls out and
rolls back pods that are real runc containers, behind an nftables load balancer in the
run's namespaces, while a client sends traffic the whole time.

Failed-request counts are data: the tests check that they are counted (and where a
design guarantees it, e.g. that a broken version never answers), never how many there
were or how long anything took."""

from __future__ import annotations

import pytest

from labs.csv_export import run_csv
from labs.experiments import get_lab
from labs.experiments import orchestration as lab_module
from labs.experiments.orchestration import Controller, Spec
from labs.experiments.orchestration_cluster import Pod
from labs.models import LabRun
from labs.presenters import present
from labs.runner import execute_run
from labs.sandbox.naming import run_prefix
from tests.labs.leftovers import leftovers, nothing_left

LAB = get_lab("orchestration")
# Windows long enough for a slow, shared host to finish what the scenario starts.
SMALL = {"replicas": 2, "rate": 10, "window_seconds": 10, "period_ms": 200, "startup_ms": 300}


def test_parameters_are_bounded():
    cleaned, errors = LAB.validate({})
    assert not errors and cleaned == LAB.defaults()
    _, errors = LAB.validate({"scenario": "5", "replicas": "0", "rate": "51",
                              "window_seconds": "60", "period_ms": "50", "colour": "red"})  # fmt: skip
    assert errors == {
        "scenario": "Must be between 1 and 4.",
        "replicas": "Must be between 1 and 4.",
        "rate": "Must be between 5 and 50 req/s.",
        "window_seconds": "Must be between 6 and 20 s.",
        "period_ms": "Must be between 100 and 2000 ms.",
        "colour": "This lab has no such parameter.",
    }
    _, errors = LAB.validate({"replicas": "2.5", "progress_deadline": "0.5"})
    assert errors == {"replicas": "Enter a whole number.",
                      "progress_deadline": "Must be between 1.0 and 8.0 s."}  # fmt: skip
    assert LAB.max_seconds(LAB.defaults()) < 600
    assert LAB.max_seconds({**LAB.defaults(), "scenario": 2, "replicas": 4}) > LAB.max_seconds(
        {**LAB.defaults(), "scenario": 4}
    )


def test_combinations_that_cannot_work_are_refused_before_anything_starts():
    _, errors = LAB.validate({"max_surge": 0, "max_unavailable": 0})
    # Each is in bounds; together no pod could ever be replaced.
    assert errors == {
        "max_unavailable": "maxSurge and maxUnavailable cannot both be 0: no pod could be replaced."
    }
    _, errors = LAB.validate({"scenario": 4, "window_seconds": 6, "progress_deadline": 5})
    assert "rollback scenario needs a window of at least 9 s" in errors["window_seconds"]
    _, errors = LAB.validate({"scenario": 4, "window_seconds": 9, "progress_deadline": 5})
    assert not errors


@pytest.mark.sandbox
def test_both_rollout_bounds_at_zero_stop_a_run_that_got_past_the_form(db, host_capabilities):
    params = {**LAB.defaults(), "max_surge": 0, "max_unavailable": 0}
    run = execute_run(LabRun.objects.create(lab=LAB.slug, params=params).pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "maxSurge and maxUnavailable cannot both be 0" in run.error
    assert nothing_left(run.sandbox_id)


# --- the controller's decisions, on pods that stand still -----------------------------


class StillHandle:
    def __init__(self) -> None:
        self.running = True

    def alive(self) -> bool:
        return self.running


class PaperCluster:
    """Records what the controller asks for; pods become ready when the test says."""

    def __init__(self) -> None:
        self.made = 0
        self.endpoints: list[str] = []
        self.ready: set[str] = set()
        self.stopped: list[str] = []

    def create_pod(self, version: int, now: float) -> Pod:
        self.made += 1
        return Pod(f"p{self.made}", version, f"10.1.0.{10 + self.made}", "ns", StillHandle(), now)

    def probe(self, pods: list[Pod]) -> set[str]:
        return {p.address for p in pods if p.name in self.ready}

    def stop(self, pod: Pod) -> None:
        self.stopped.append(pod.name)

    def set_endpoints(self, addresses: list[str]) -> None:
        self.endpoints = list(addresses)


def _settled(cluster: PaperCluster, spec: Spec) -> Controller:
    controller = Controller(cluster, spec, 0.0)
    controller.reconcile()
    cluster.ready |= {p.name for p in controller.pods}
    controller.reconcile()
    return controller


@pytest.mark.parametrize("surge,unavailable", [(1, 0), (0, 1), (2, 0), (1, 1)])
def test_a_rolling_update_keeps_its_bounds_at_every_pass(surge, unavailable):
    cluster = PaperCluster()
    spec = Spec(3, 1, max_surge=surge, max_unavailable=unavailable, progress_deadline=60)
    controller = _settled(cluster, spec)
    assert len(cluster.endpoints) == 3
    controller.set_version(2)
    for _ in range(20):
        controller.reconcile()
        running = [p for p in controller.pods]
        assert len(running) <= 3 + surge
        assert len(cluster.endpoints) >= 3 - unavailable
        cluster.ready |= {p.name for p in running}  # everything new passes, next pass
    assert sorted(p.version for p in controller.pods) == [2, 2, 2]
    assert len(cluster.endpoints) == 3 and set(cluster.stopped) == {"p1", "p2", "p3"}


def test_recreate_removes_every_old_pod_before_creating_new_ones():
    cluster = PaperCluster()
    controller = _settled(cluster, Spec(3, 1, strategy="recreate"))
    controller.set_version(2)
    controller.reconcile()
    assert cluster.endpoints == [] and controller.pods == []
    controller.reconcile()
    assert [p.version for p in controller.pods] == [2, 2, 2]


def test_a_rollout_that_makes_no_progress_is_rolled_back(monkeypatch):
    clock = {"now": 100.0}
    monkeypatch.setattr(lab_module.time, "monotonic", lambda: clock["now"])
    cluster = PaperCluster()
    controller = _settled(cluster, Spec(2, 1, max_surge=1, progress_deadline=3))
    controller.set_version(3)
    controller.reconcile()  # the surge pod of version 3, never ready
    assert sorted(p.version for p in controller.pods) == [1, 1, 3]
    clock["now"] += 2
    controller.reconcile()
    assert controller.spec.version == 3 and len(cluster.endpoints) == 2
    clock["now"] += 2  # past the deadline
    controller.reconcile()
    assert controller.spec.version == 1
    assert [p.version for p in controller.pods] == [1, 1] and len(cluster.endpoints) == 2
    assert [e["event"] for e in controller.events if e["event"] in ("rollout", "rollback")] == [
        "rollout", "rollback", "rollout"]  # fmt: skip


def test_a_dead_pod_is_replaced_and_leaves_the_endpoints():
    cluster = PaperCluster()
    controller = _settled(cluster, Spec(2, 1))
    victim = controller.pods[0]
    victim.handle.running = False
    controller.reconcile()
    assert victim.address not in cluster.endpoints and victim.name in cluster.stopped
    assert [p.name for p in controller.pods] == ["p2", "p3"]  # the replacement, not ready yet
    cluster.ready.add("p3")
    controller.reconcile()
    assert len(cluster.endpoints) == 2


# --- real runs ---------------------------------------------------------------------------


def _run(params: dict) -> LabRun:
    params, errors = LAB.validate(params)
    assert not errors, errors
    run = execute_run(LabRun.objects.create(lab=LAB.slug, params=params).pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert nothing_left(run.sandbox_id), leftovers(run.sandbox_id)
    assert set(run.summary) <= LAB.summary_keys  # every key is labelled for the page
    present(run)  # the figure and the table draw
    assert run_csv(run, LAB)
    return run


def _events(run: LabRun, name: str) -> list[dict]:
    return [s for s in run.samples if s["kind"] == "event" and s["pass"] == name
            and s["t"] is not None]  # fmt: skip


def _requests(run: LabRun, name: str) -> list[dict]:
    return sorted(
        (s for s in run.samples if s["kind"] == "request" and s["pass"] == name),
        key=lambda s: s["t"],
    )


def _every_request_recorded(run: LabRun, name: str) -> list[dict]:
    rows = _requests(run, name)
    assert len(rows) == run.params["rate"] * run.params["window_seconds"]
    for row in rows:
        assert row["result"] == "ok" or row["version"] is None
        assert row["latency_ms"] >= 0
    return rows


@pytest.mark.sandbox
def test_the_controller_heals_a_killed_pod(db, host_capabilities):
    run = _run({**SMALL, "scenario": 1})
    for name in ("heal-readiness", "heal-no-readiness"):
        rows = _every_request_recorded(run, name)
        kinds = [e["event"] for e in _events(run, name)]
        # kill → noticed → a new pod → ready → published, in that order
        order = [kinds.index(k) for k in ("kill", "noticed dead", "created", "ready")]
        assert order == sorted(order), kinds
        killed = next(e for e in _events(run, name) if e["event"] == "kill")
        new = next(e for e in _events(run, name) if e["event"] == "created")
        assert new["pod"] != killed["pod"]
        last = [e for e in _events(run, name) if e["event"] == "endpoints"][-1]
        assert new["pod"] in last["note"].split() and killed["pod"] not in last["note"].split()
        assert any(r["pod"] == new["pod"] for r in rows)  # the replacement serves
    summary = run.summary
    for label in ("with", "without"):
        assert isinstance(summary[f"heal_failed_{label}_readiness"], int)  # counted: data
        assert summary[f"heal_serving_seconds_{label}_readiness"] > 0


@pytest.mark.sandbox
def test_the_controller_scales_out_and_measures_throughput(db, host_capabilities):
    run = _run({**SMALL, "scenario": 2, "replicas": 3, "window_seconds": 12})
    rows = _every_request_recorded(run, "scale")
    created = [e["pod"] for e in _events(run, "scale") if e["event"] == "created"]
    assert len(created) == 2
    answered_by = {r["pod"] for r in rows if r["result"] == "ok"}
    assert set(created) <= answered_by and len(answered_by) == 3
    bursts = [s for s in run.samples if s["kind"] == "throughput"]
    assert [b["replicas"] for b in bursts] == [1, 2, 3]
    assert all(b["requests_per_second"] > 0 for b in bursts)
    assert run.summary["scale_seconds_all_serving"] > 0
    assert isinstance(run.summary["scale_failed"], int)


@pytest.mark.sandbox
def test_rolling_update_and_recreate_replace_every_pod(db, host_capabilities):
    run = _run({**SMALL, "scenario": 3, "max_surge": 1, "max_unavailable": 0, "window_seconds": 12})
    prefix = run_prefix(run.sandbox_id)
    for name in ("rolling", "recreate"):
        rows = _every_request_recorded(run, name)
        answered = [r for r in rows if r["result"] == "ok"]
        assert answered[0]["version"] == 1 and answered[-1]["version"] == 2
        # Once version 2 is the only one, version 1 never answers again.
        last_v1 = max(r["t"] for r in answered if r["version"] == 1)
        assert all(r["version"] == 2 for r in answered if r["t"] > last_v1)
        endpoints = [e["note"].split() for e in _events(run, name) if e["event"] == "endpoints"]
        if name == "rolling":
            # maxUnavailable 0: never fewer than 2 endpoints; maxSurge 1: never more than 3.
            assert all(2 <= len(pods) <= 3 for pods in endpoints), endpoints
        else:
            assert ["none"] in endpoints  # every old pod gone before any new one is ready
        assert isinstance(run.summary[f"{name}_failed_requests"], int)
        assert run.summary[f"{name}_outage_seconds"] >= 0
    commands = present(run).details[0][1]
    assert f"ip netns add {prefix}lb" in commands and "numgen inc mod" in commands


@pytest.mark.sandbox
def test_a_version_that_fails_readiness_is_rolled_back(db, host_capabilities):
    run = _run({**SMALL, "scenario": 4, "progress_deadline": 2.0})
    rows = _every_request_recorded(run, "rollback")
    events = _events(run, "rollback")
    broken = [e["pod"] for e in events if e["event"] == "created" and e["version"] == 3]
    assert broken  # the rollout did start
    assert not any(e["event"] == "ready" and e["version"] == 3 for e in events)
    assert any(e["event"] == "rollback" for e in events)
    assert set(broken) <= {e["pod"] for e in events if e["event"] == "deleted"}
    assert not any(r["version"] == 3 for r in rows)  # it never got traffic
    assert rows[-1]["result"] == "ok" and rows[-1]["version"] == 1
    assert run.summary["rollback_broken_answers"] == 0
    assert isinstance(run.summary["rollback_failed_requests"], int)
