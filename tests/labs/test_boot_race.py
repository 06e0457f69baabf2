"""boot-race through the real sandbox: containers and QEMU guests on this host."""

import pytest

from labs.experiments import get_lab
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper

pytestmark = pytest.mark.sandbox


@pytest.fixture
def finished_run(db, host_capabilities):
    lab = get_lab("boot-race")
    params, errors = lab.validate({"repeats": 1})
    assert not errors
    run = LabRun.objects.create(lab=lab.slug, params=params)
    return execute_run(run.pk)


def test_boot_race_measures_containers_and_vms(finished_run):
    run = finished_run
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    series = {sample["series"] for sample in run.samples}
    assert {"container", "vm", "vm-restored"} <= series
    for sample in run.samples:
        assert sample["start_seconds"] > 0
    vm = next(s for s in run.samples if s["series"] == "vm")
    container = next(s for s in run.samples if s["series"] == "container")
    # A guest boots a whole kernel; a container is a fenced-off process.
    assert vm["start_seconds"] > container["start_seconds"]
    assert vm["guest_uptime_seconds"] > 0 and vm["accelerator"] in {"kvm", "tcg"}
    restored = next(s for s in run.samples if s["series"] == "vm-restored")
    # The restored guest's clock carries on from the template's boot: not shown.
    assert restored["guest_uptime_seconds"] is None and restored["accelerator"] == vm["accelerator"]
    summary = run.summary
    assert summary["vm_over_container_median"] == pytest.approx(
        summary["median_vm_seconds"] / summary["median_container_seconds"], rel=0.01
    )
    assert summary["restored_over_container_median"] == pytest.approx(
        summary["median_vm_restored_seconds"] / summary["median_container_seconds"], rel=0.01
    )
    facts = run.host_facts
    assert facts["accelerator"] in {"kvm", "tcg"} and facts["kernel"] and facts["cores"] >= 1
    assert reaper.inventory(only={run.sandbox_id}) == {
        k: [] for k in reaper.inventory(only={run.sandbox_id})
    }


def test_boot_race_figure_and_csv(finished_run):
    from labs.csv_export import run_csv

    run = finished_run
    lab = get_lab("boot-race")
    fig = lab.figure(run.samples, run.summary, run.host_facts)
    names = [trace.name for trace in fig.data]
    assert {"container (runc)", "VM (QEMU)", "VM restored from a snapshot"} <= set(names)
    assert fig.layout.yaxis.type == "log" and "seconds" in fig.layout.yaxis.title.text
    assert any("Measured on" in a.text for a in fig.layout.annotations)
    lines = run_csv(run, lab).splitlines()
    assert lines[0].startswith("run_id,lab,series,repeat,start_seconds_s")
    assert len(lines) == 1 + len(run.samples)
    assert all(line.startswith(f"{run.pk},boot-race,") for line in lines[1:])
