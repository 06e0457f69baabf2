"""isolation through the real sandbox: the same probes on the host, in a container, in a VM."""

import platform

import pytest

from labs.csv_export import run_csv
from labs.experiments import get_lab
from labs.experiments.isolation import PROBES, cell, parse_probe_output
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper, userns

pytestmark = pytest.mark.sandbox
LAB = get_lab("isolation")


def test_parameters_are_bounded():
    cleaned, errors = LAB.validate({})
    assert not errors and cleaned == {"vm_memory_mib": 128}
    _, errors = LAB.validate({"vm_memory_mib": "512"})
    assert errors["vm_memory_mib"] == "Must be between 96 and 256 MiB."


def test_probe_output_parsing_and_cells():
    text = "noise\n@@virtlab-probe kernel_release\n6.1.0\n@@virtlab-probe interfaces\nlo\neth0\n"
    assert parse_probe_output(text) == {"kernel_release": ["6.1.0"], "interfaces": ["lo", "eth0"]}
    assert cell("interfaces", ["lo", "eth0"]) == "2: lo, eth0"
    long_list = [f"/m{i} (tmpfs)" for i in range(30)]
    assert cell("mounts", long_list).startswith("30: /m0 (tmpfs)")
    assert "(24 more)" in cell("mounts", long_list)
    assert cell("cgroup", ["5:pids:/a", "4:memory:/b", "0::/c"]) == "4:memory:/b"
    assert len(cell("hostname", ["x" * 1000])) == 400


def test_isolation_compares_host_container_and_vm(db, host_capabilities):
    run = LabRun.objects.create(lab=LAB.slug, params={"vm_memory_mib": 128})
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    rows = {s["probe"]: s for s in run.samples}
    assert list(rows) == [key for key, _ in PROBES]
    assert all(row["host"] and row["container"] and row["vm"] for row in rows.values())
    kernel = rows["kernel_release"]
    # Namespaces, one kernel: the container answers with the host's own release.
    assert kernel["host"] == kernel["container"] == platform.release() != kernel["vm"]
    assert kernel["container_same_as_host"] is True and kernel["vm_same_as_host"] is False
    assert rows["processes"]["container"] == "1"  # only the probe's own shell, as PID 1
    assert int(rows["processes"]["vm"]) > 1 and int(rows["processes"]["host"]) > 1
    assert rows["interfaces"]["container"] == "1: lo"
    assert rows["hostname"]["container"].startswith(f"vl{run.sandbox_id}-")
    assert rows["memory_total_mib"]["container"] == rows["memory_total_mib"]["host"]
    assert int(rows["memory_total_mib"]["vm"]) < 128
    assert float(rows["uptime_seconds"]["vm"]) < float(rows["uptime_seconds"]["container"])
    assert rows["uptime_seconds"]["container_same_as_host"] is True
    # Defence in depth: container root is an unprivileged host uid, behind a filter.
    if userns.available():
        assert rows["uid_map"]["container"] == f"0 → {userns.SANDBOX_UID} (65536 ids)"
    assert rows["uid_map"]["vm"].startswith("0 → 0 (every id")
    assert rows["seccomp"]["container"] == "filter"

    summary = run.summary
    assert summary["container_shares_host_kernel"] is True
    assert summary["vm_shares_host_kernel"] is False
    assert summary["host_kernel"] == summary["container_kernel"] == platform.release()
    assert summary["vm_kernel"] == kernel["vm"]
    assert summary["container_processes_visible"] == 1

    fig = LAB.figure(run.samples, run.summary, run.host_facts)
    (table,) = fig.data
    assert table.type == "table"
    assert [h for h in table.header.values] == [
        "<b>probe</b>", "<b>host</b>", "<b>container</b>", "<b>VM</b>"
    ]  # fmt: skip
    assert len(table.cells.values[0]) == len(PROBES)
    assert any("Measured on" in a.text for a in fig.layout.annotations)

    lines = run_csv(run, LAB).splitlines()
    assert lines[0].startswith("run_id,lab,label,host,container,vm,container_same_as_host")
    assert len(lines) == 1 + len(PROBES)
    assert not any(reaper.inventory(only={run.sandbox_id}).values())
