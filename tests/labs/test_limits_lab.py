"""limits through the real sandbox: an OOM-killed hog, CPU quotas, a VM's vCPUs."""

import pytest

from labs.csv_export import run_csv
from labs.experiments import get_lab
from labs.experiments.base import RunContext, Sample
from labs.experiments.limits import QUOTAS, parse_loops
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper, vms
from labs.sandbox.naming import adhoc_run_id

pytestmark = pytest.mark.sandbox
LAB = get_lab("limits")


def test_parameters_are_bounded():
    cleaned, errors = LAB.validate({})
    assert not errors
    assert cleaned == {"memory_limit_mib": 64, "window_seconds": 1.0, "include_vm": 1}
    _, errors = LAB.validate({"memory_limit_mib": "8", "window_seconds": "9", "include_vm": "2"})
    assert errors["memory_limit_mib"] == "Must be between 16 and 256 MiB."
    assert errors["window_seconds"] == "Must be between 0.5 and 3.0 s."
    assert errors["include_vm"] == "Must be between 0 and 1."


def test_loop_reports_are_parsed():
    output = "iterations=1200 centis=51\nnoise\niterations=800 centis=50\n"
    assert parse_loops(output) == [(1200, 51), (800, 50)]


# Its quota runs are compared with whole-core runs between them: another test process
# taking a core at the wrong moment skews the ratio, so it runs alone.
@pytest.mark.exclusive
def test_limits_kills_the_hog_and_scales_with_the_quota(db, host_capabilities):
    # One-second windows: ten CFS periods per measurement, so a 50 % quota is not
    # blurred by where the window starts in a period.
    params = {"memory_limit_mib": 16, "window_seconds": 1.0, "include_vm": 1}
    run = LabRun.objects.create(lab=LAB.slug, params=params)
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    memory = [s for s in run.samples if s["part"] == "memory"]
    assert len(memory) >= 5  # sampled while it grew, not only at the end
    times = [s["t_seconds"] for s in memory]
    assert times == sorted(times)
    assert max(s["memory_mib"] for s in memory) <= 16.5  # never past the limit
    (kill,) = [s for s in run.samples if s["part"].startswith("memory-")]
    assert kill["part"] == "memory-kill" and kill["oom_kills"] >= 1
    assert 12 <= kill["memory_mib"] <= 16.5  # stopped at the limit, not before

    cpu = [s for s in run.samples if s["part"] == "cpu"]
    # Every quota run sits between two whole-core reference runs.
    assert [s["quota_percent"] for s in cpu] == [100, 10, 100, 25, 100, 50, 100, 75, 100]
    assert all(s["iterations"] > 0 and s["elapsed_seconds"] >= 1.0 for s in cpu)
    for before, capped, after in zip(cpu[0:-1:2], cpu[1::2], cpu[2::2], strict=True):
        assert capped["quota_percent"] in QUOTAS and before["fraction_of_full"] is None
        mean = (before["iterations_per_second"] + after["iterations_per_second"]) / 2
        assert capped["fraction_of_full"] == pytest.approx(
            capped["iterations_per_second"] / mean, rel=0.01
        )

    summary = run.summary
    assert summary["oom_killed"] is True and summary["memory_limit_mib"] == 16
    assert summary["memory_peak_mib"] == kill["memory_mib"]
    # Generous bounds: a shared host is noisy, but half a core is about half the work.
    assert 0.3 <= summary["cpu_throughput_at_50_percent"] <= 0.7, cpu
    assert summary["cpu_throughput_at_10_percent"] < summary["cpu_throughput_at_75_percent"]
    if vms.host_capacity()["vcpus"] >= 2:
        vm = {s["vcpus"]: s for s in run.samples if s["part"] == "vm"}
        assert set(vm) == {1, 2} and all(s["iterations"] > 0 for s in vm.values())
        assert isinstance(summary["vm_two_vcpu_speedup"], float)
    else:
        assert "skipped" in summary["vm_note"]

    fig = LAB.figure(run.samples, run.summary, run.host_facts)
    names = {trace.name for trace in fig.data}
    assert {"container memory (cgroup)", "memory limit (16 MiB)", "OOM kill (peak memory)"} <= names
    assert {"container loop (each run)", "proportional to the quota"} <= names
    assert fig.layout.yaxis.title.text == "memory, MiB"
    assert "s" in fig.layout.xaxis.title.text and "%" in fig.layout.xaxis2.title.text
    assert "whole core" in fig.layout.yaxis2.title.text
    assert "per second" in fig.layout.yaxis3.title.text
    assert any("Measured on" in a.text for a in fig.layout.annotations)

    lines = run_csv(run, LAB).splitlines()
    assert lines[0].startswith("run_id,lab,part,t_seconds_s,memory_mib_MiB,limit_mib_MiB")
    assert len(lines) == 1 + len(run.samples)
    assert not any(reaper.inventory(only={run.sandbox_id}).values())


def test_closing_the_lab_during_the_hog_stops_it(host_capabilities):
    run_id = adhoc_run_id()
    params = {"memory_limit_mib": 256, "window_seconds": 0.5, "include_vm": 0}
    events = LAB.run(params, RunContext(run_id=run_id))
    try:
        for event in events:
            if isinstance(event, Sample) and event.values.get("t_seconds", 0) > 0.2:
                break  # the hog is running and growing
        assert any(reaper.inventory(only={run_id}).values())
    finally:
        events.close()
    assert not any(reaper.inventory(only={run_id}).values())
    reaper.reap(only={run_id})
