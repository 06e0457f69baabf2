"""vm-disks on the real host: thin vs thick, overlay chains, clones and an overcommitted
thin disk whose small filesystem fills up, all measured and all cleaned away."""

from __future__ import annotations

import pytest

from labs.experiments import get_lab
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper

pytestmark = pytest.mark.sandbox

SMALL = {
    "virtual_gib": 1,
    "write_mib": 8,
    "chain_length": 2,
    "read_repeats": 1,
    "clones": 1,
    "full_disk_mib": 16,
}


def test_the_disks_cost_what_they_cost(db, host_capabilities):
    lab = get_lab("vm-disks")
    params, errors = lab.validate(SMALL)
    assert not errors
    run = LabRun.objects.create(lab=lab.slug, params=params)
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    rows = {(s["part"], s.get("kind"), s.get("overlays")): s for s in run.samples}
    thin, thick = rows[("provisioning", "thin", None)], rows[("provisioning", "thick", None)]
    assert thick["allocated_before_mib"] >= 1024  # preallocated: all of it, at once
    assert thin["allocated_before_mib"] < 2  # thin: nothing until written
    assert 8 <= thin["allocated_after_mib"] < 16  # what the guest wrote, and not more
    chains = [s for s in run.samples if s["part"] == "chain"]
    assert [c["images_read_through"] for c in chains] == [1, 2, 3]
    assert all(c["read_mib_per_s"] > 0 for c in chains)
    full = rows[("clone", "full", None)]
    linked = rows[("clone", "linked", None)]
    assert full["allocated_mib"] >= 8 > linked["allocated_mib"]
    assert linked["guest_reads_base_data"] and linked["guest_writes_own_data"]
    overcommit = rows[("overcommit", "thin, over-committed", None)]
    # The write never got past the small filesystem, whatever QEMU did about it.
    assert overcommit["allocated_after_mib"] <= 16
    assert overcommit["outcome"] in ("QEMU paused the guest", "the guest saw an I/O error")

    summary = run.summary
    assert summary["full_over_linked_clone_size"] > 5
    assert summary["thin_fraction_of_thick"] < 0.05
    assert not any(reaper.inventory(only={run.sandbox_id}).values())


def test_out_of_bounds_parameters_are_refused():
    lab = get_lab("vm-disks")
    _, errors = lab.validate({**SMALL, "virtual_gib": 64, "full_disk_mib": 1})
    assert set(errors) == {"virtual_gib", "full_disk_mib"}


def test_a_run_stopped_mid_way_leaves_nothing_and_the_reaper_clears_a_crashed_one(db):
    from labs.experiments.base import Progress, RunContext
    from labs.sandbox.naming import adhoc_run_id

    lab = get_lab("vm-disks")
    params, _ = lab.validate(SMALL)
    # Stopped by the runner (the generator is closed) once the guest is up.
    run_id = adhoc_run_id()
    events = lab.run(params, RunContext(run_id=run_id))
    for event in events:
        if isinstance(event, Progress) and "reads" in event.step:
            break
    assert any(reaper.inventory(only={run_id}).values())  # the guest, the disks, the tmpfs
    events.close()
    assert not any(reaper.inventory(only={run_id}).values())
    reaper.reap(only={run_id})

    # A worker that died mid-run closes nothing: the reaper removes the guest, unmounts
    # the small filesystem and deletes every image by name.
    run_id = adhoc_run_id()
    events = lab.run(params, RunContext(run_id=run_id))
    for event in events:
        if isinstance(event, Progress) and "reads" in event.step:
            break
    left = reaper.inventory(only={run_id})
    assert left["mounts"] and left["scratch_dirs"] and left["processes"]
    report = reaper.reap(only={run_id})
    assert not report.errors
    assert not any(reaper.inventory(only={run_id}).values())
    events.close()  # now finds nothing left to stop
