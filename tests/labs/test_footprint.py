"""footprint through the real sandbox: containers and QEMU guests kept running together."""

import pytest

from labs.csv_export import run_csv
from labs.experiments import get_lab
from labs.experiments.base import RunContext, Sample
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper
from labs.sandbox.naming import adhoc_run_id
from tests.labs.leftovers import nothing_left

pytestmark = pytest.mark.sandbox
LAB = get_lab("footprint")


def test_parameters_are_bounded():
    cleaned, errors = LAB.validate({})
    assert not errors and cleaned == {"max_instances": 3, "vm_memory_mib": 128}
    _, errors = LAB.validate({"max_instances": "7", "vm_memory_mib": "32"})
    assert "between 1 and" in errors["max_instances"]
    assert errors["vm_memory_mib"] == "Must be between 96 and 256 MiB."
    _, errors = LAB.validate({"max_instances": "2.5"})
    assert errors["max_instances"] == "Enter a whole number."


def test_footprint_measures_containers_and_vms(db, host_capabilities):
    # An ad-hoc id: a run named vl1-… could collide with another test session's.
    run = LabRun.objects.create(lab=LAB.slug, params={"max_instances": 2, "vm_memory_mib": 96})
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    memory = [s for s in run.samples if s["kind"] == "memory"]
    assert [(s["series"], s["instances"]) for s in memory] == [
        ("container", 1), ("container", 2), ("vm", 1), ("vm", 2),
    ]  # fmt: skip
    for sample in memory:
        assert sample["rss_mib"] > 0 and 0 < sample["pss_mib"] <= sample["rss_mib"]
    vm_two = memory[-1]
    assert vm_two["accelerator"] in {"kvm", "tcg"} and vm_two["cgroup_mib"] is None
    assert memory[1]["cgroup_mib"] > 0  # containers also report their cgroups' charge
    disk = {s["item"]: s["size_mib"] for s in run.samples if s["kind"] == "disk"}
    assert set(disk) == {"busybox root filesystem", "guest kernel", "guest initramfs"}
    assert all(size > 0 for size in disk.values())

    summary = run.summary
    assert summary["instances_measured"] == 2
    # A guest holds a kernel and the RAM it touched; a container is two small processes.
    assert summary["vm_mib_per_instance"] > 10 * summary["container_mib_per_instance"] > 0
    assert summary["vm_over_container_mib_per_instance"] == pytest.approx(
        summary["vm_mib_per_instance"] / summary["container_mib_per_instance"], rel=0.02
    )
    assert summary["vm_mib_per_instance"] == pytest.approx(vm_two["pss_mib"] / 2, rel=0.01)
    assert summary["vm_kernel_initramfs_mib"] > summary["container_rootfs_mib"] > 0
    assert isinstance(summary["vm_over_container_mib_per_instance"], float)

    fig = LAB.figure(run.samples, run.summary, run.host_facts)
    names = {trace.name for trace in fig.data}
    assert {"containers RSS", "containers PSS", "VMs (QEMU) RSS", "VMs (QEMU) PSS"} <= names
    dashes = {t.name: t.line.dash for t in fig.data if t.type == "scatter"}
    assert dashes["containers RSS"] == "solid" and dashes["VMs (QEMU) PSS"] == "dash"
    assert [t.type for t in fig.data].count("bar") == 3
    assert "MiB" in fig.layout.yaxis.title.text and fig.layout.yaxis.type == "log"
    assert "MiB" in fig.layout.yaxis2.title.text
    assert "instances" in fig.layout.xaxis.title.text
    assert any("Measured on" in a.text for a in fig.layout.annotations)

    lines = run_csv(run, LAB).splitlines()
    assert lines[0].startswith("run_id,lab,series,instances,item,rss_mib_MiB,pss_mib_MiB")
    assert len(lines) == 1 + len(run.samples)
    assert nothing_left(run.sandbox_id)


def test_closing_the_lab_midway_stops_what_it_started(host_capabilities):
    # The runner closes a cancelled lab's generator: its finally blocks must clean up.
    run_id = adhoc_run_id()
    events = LAB.run({"max_instances": 2, "vm_memory_mib": 96}, RunContext(run_id=run_id))
    try:
        for event in events:
            if isinstance(event, Sample) and event.values.get("instances") == 2:
                break  # two containers are running now
        assert any(reaper.inventory(only={run_id}).values())
    finally:
        events.close()
    assert nothing_left(run_id)
    reaper.reap(only={run_id})
