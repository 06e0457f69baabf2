"""vm-features through the real sandbox: savevm/loadvm and a local live migration."""

import pytest

from labs.csv_export import run_csv
from labs.experiments import get_lab
from labs.experiments.base import Progress, RunContext
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper
from labs.sandbox.naming import adhoc_run_id
from tests.labs.leftovers import nothing_left

pytestmark = pytest.mark.sandbox
LAB = get_lab("vm-features")


def test_parameters_are_bounded():
    cleaned, errors = LAB.validate({})
    assert not errors and cleaned == {"repeats": 1, "vm_memory_mib": 128}
    _, errors = LAB.validate({"repeats": "4", "vm_memory_mib": "64"})
    assert errors["repeats"] == "Must be between 1 and 3."
    assert errors["vm_memory_mib"].startswith("Must be between 96 and ")
    _, errors = LAB.validate({"vm_memory_mib": "512"})
    assert "MiB" in errors["vm_memory_mib"]
    _, errors = LAB.validate({"repeats": "one"})
    assert errors["repeats"] == "Enter a whole number."


def test_snapshot_restores_state_and_migration_keeps_the_guest(db, host_capabilities):
    run = LabRun.objects.create(lab=LAB.slug, params={"repeats": 1, "vm_memory_mib": 96})
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    by_feature = {s["feature"]: s for s in run.samples}
    assert set(by_feature) == {"migration settings", "snapshot", "migration"}
    snapshot, migration = by_feature["snapshot"], by_feature["migration"]
    # The token written before savevm and overwritten after it was back after loadvm.
    assert snapshot["state_restored"] is True
    assert snapshot["savevm_seconds"] > 0 and snapshot["loadvm_seconds"] > 0
    assert 1 < snapshot["state_mib"] < 96 + 64  # the guest RAM it touched, plus metadata
    # The destination answered with the token the source had written.
    assert migration["guest_alive_after"] is True
    assert 0 < migration["downtime_ms"] < migration["total_ms"]
    assert migration["transferred_mb"] > 1
    assert migration["accelerator"] in {"kvm", "tcg"}
    settings = by_feature["migration settings"]
    assert settings["max_bandwidth_mb_s"] > 0 and settings["downtime_limit_ms"] > 0

    summary = run.summary
    assert summary["snapshot_restored"] is True and summary["guest_alive_after_migration"] is True
    assert summary["migration_total_ms"] == migration["total_ms"]
    assert summary["downtime_fraction"] == pytest.approx(
        migration["downtime_ms"] / migration["total_ms"], abs=0.001
    )
    assert isinstance(summary["downtime_fraction"], float) and 0 < summary["downtime_fraction"] < 1
    assert summary["migration_mb"] == migration["transferred_mb"]
    assert summary["snapshot_state_mib"] == snapshot["state_mib"]

    fig = LAB.figure(run.samples, run.summary, run.host_facts)
    assert [t.name for t in fig.data] == [
        "savevm", "loadvm", "migration total", "guest paused (downtime)",
    ]  # fmt: skip
    assert fig.layout.yaxis.title.text == "seconds"
    assert fig.layout.yaxis2.title.text == "milliseconds"
    assert fig.data[3].y == (migration["downtime_ms"],)
    texts = [a.text for a in fig.layout.annotations]
    assert any("downtime target" in t for t in texts) and any("Measured on" in t for t in texts)

    lines = run_csv(run, LAB).splitlines()
    assert lines[0].startswith("run_id,lab,feature,repeat,memory_mib_MiB,savevm_seconds_s")
    assert len(lines) == 1 + len(run.samples)
    assert nothing_left(run.sandbox_id)


def test_closing_the_lab_midway_stops_its_guests(host_capabilities):
    # The runner may close the generator at any yield: the lab never keeps a guest
    # running across one (each measurement stops its QEMU processes before it returns).
    run_id = adhoc_run_id()
    events = LAB.run({"repeats": 2, "vm_memory_mib": 96}, RunContext(run_id=run_id))
    seen = []
    try:
        for event in events:
            seen.append(event)
            assert not reaper.inventory(only={run_id})["processes"], event
            if isinstance(event, Progress) and event.step.startswith("live migration 1"):
                break
    finally:
        events.close()
    assert any(getattr(e, "values", {}).get("feature") == "snapshot" for e in seen)
    assert nothing_left(run_id)
    reaper.reap(only={run_id})
