"""emulation through the real sandbox: native, qemu-user and a QEMU guest."""

import pytest

from labs.csv_export import run_csv
from labs.experiments import get_lab
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper

pytestmark = pytest.mark.sandbox


@pytest.fixture
def lab():
    return get_lab("emulation")


def test_parameters_are_bounded(lab):
    _, errors = lab.validate({"iterations": 5, "repeats": 9, "include_vm": 2})
    assert set(errors) == {"iterations", "repeats", "include_vm"}


def test_emulation_run_measures_all_three(db, host_capabilities, lab):
    params, _ = lab.validate({"iterations": 20_000, "repeats": 1, "include_vm": 1})
    run = execute_run(LabRun.objects.create(lab=lab.slug, params=params).pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    modes = [s["mode"] for s in run.samples]
    assert modes == ["native", "qemu-user", "vm"]
    for sample in run.samples:
        assert sample["wall_seconds"] > 0 and sample["iterations"] == 20_000
    summary = run.summary
    # Translating every aarch64 instruction costs more than running x86-64 natively.
    assert summary["qemu_user_slowdown"] > 1
    assert summary["qemu_user_slowdown"] == pytest.approx(
        summary["median_qemu_user_seconds"] / summary["median_native_seconds"], rel=0.02
    )
    assert summary["vm_accelerator"] in {"kvm", "tcg"}
    if summary["vm_accelerator"] == "tcg":
        assert summary["tcg_vm_slowdown"] == summary["vm_slowdown"]
    assert not any(reaper.inventory(only={run.sandbox_id}).values())

    fig = lab.figure(run.samples, summary, run.host_facts)
    assert len(fig.data) == 3 and all(trace.type == "bar" for trace in fig.data)
    assert "seconds" in fig.layout.yaxis.title.text
    assert fig.data[0].text[0] == "1.0×"
    lines = run_csv(run, lab).splitlines()
    assert lines[0].startswith("run_id,lab,mode,repeat,iterations,wall_seconds_s")
    assert len(lines) == 4


def test_without_vm_skips_the_guest(db, host_capabilities, lab):
    params, _ = lab.validate({"iterations": 10_000, "repeats": 2, "include_vm": 0})
    run = execute_run(LabRun.objects.create(lab=lab.slug, params=params).pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert [s["mode"] for s in run.samples] == ["native", "qemu-user"] * 2
    assert run.summary["vm_slowdown"] is None and "tcg_vm_slowdown" not in run.summary
