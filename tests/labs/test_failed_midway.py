"""A VM-side lab that fails midway cleans up after itself: a step is made to raise
while the lab's guests, disks or namespaces are up, and the lab's own clean-up (its
``finally`` blocks, run when the exception leaves the generator) removes everything,
before the runner's reaper gets to look."""

from __future__ import annotations

import pytest

from labs import runner
from labs.experiments import (
    desktop_capacity,
    get_lab,
    images,
    networking,
    orchestration,
    sandboxed_containers,
    vm_disks,
)
from labs.models import LabRun
from labs.sandbox import reaper
from tests.labs.leftovers import leftovers, nothing_left

pytestmark = pytest.mark.sandbox


class InjectedFailure(RuntimeError):
    pass


# Per lab: small parameters, and the step made to fail (module, function name, and
# which call of it fails), chosen so that the lab has started what it cleans up.
CASES = {
    "vm-disks": (
        {"virtual_gib": 1, "write_mib": 8, "chain_length": 1, "read_repeats": 1, "clones": 1,
         "full_disk_mib": 16},
        (vm_disks, "chain_samples", 1),  # the guest is up, the images made, the tmpfs mounted
        {"processes", "mounts", "scratch_dirs"},
    ),
    "desktop-capacity": (
        {"max_users": 1, "session_mib": 4, "rds_memory_mib": 192, "vdi_memory_mib": 128,
         "idle_seconds": 0.5, "busy_iterations": 2000},
        (desktop_capacity, "_login", 2),  # the VDI user's login, in a freshly booted VM
        {"processes", "scratch_dirs"},
    ),
    "networking": (
        {"probes": 1},
        (networking, "probe_forward", 1),  # namespaces built, servers listening, NAT set
        {"processes", "netns"},
    ),
    "sandboxed-containers": (
        {"repeats": 1},
        (sandboxed_containers, "_in_guest", 1),  # the shared VM is up, its container not yet
        {"processes", "scratch_dirs"},
    ),
    "orchestration": (
        {"scenario": 1, "replicas": 2, "rate": 10, "window_seconds": 6},
        (orchestration, "change", 1),  # pods up, the client sending, the balancer set
        {"processes", "netns", "containers", "cgroups", "scratch_dirs"},
    ),
    "images": (
        {"variant": 1, "deps_mib": 1},
        (images, "_layer_rows", 1),  # the registry and its namespaces up, images built
        {"processes", "netns", "cgroups", "scratch_dirs"},
    ),
}  # fmt: skip


@pytest.mark.parametrize("slug", list(CASES))
def test_a_lab_that_fails_midway_leaves_nothing(db, host_capabilities, monkeypatch, slug):
    params, (module, step, failing_call), up = CASES[slug]
    lab = get_lab(slug)
    params, errors = lab.validate(params)
    assert not errors
    run = LabRun.objects.create(lab=slug, params=params)
    seen_when_failing: list[dict] = []
    calls = []
    real_step = getattr(module, step)

    def failing_step(*args, **kwargs):
        calls.append(step)
        if len(calls) == failing_call:
            seen_when_failing.append(leftovers(run.sandbox_id))
            raise InjectedFailure(f"{step} failed on purpose")
        return real_step(*args, **kwargs)

    monkeypatch.setattr(module, step, failing_step)
    reaped = []
    real_reap = reaper.reap

    def reap(**kwargs):
        reaped.append(report := real_reap(**kwargs))
        return report

    monkeypatch.setattr(runner.reaper, "reap", reap)

    run = runner.execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == f"InjectedFailure: {step} failed on purpose"
    assert run.samples  # measured before the failure, and kept
    # The failure came while the lab had things running...
    [before] = seen_when_failing
    assert {kind for kind, names in before.items() if names} >= up, before
    # ...and the lab removed them itself: the runner's reaper found nothing to do.
    assert [report.removed for report in reaped] == [0], [r.summary() for r in reaped]
    assert nothing_left(run.sandbox_id), leftovers(run.sandbox_id)
