"""The doctor never crashes on a missing or broken probe; host facts are plain data."""

from __future__ import annotations

import json
import sys
import types

import pytest

from labs.sandbox import doctor, hostfacts
from labs.sandbox.capability import Capability

pytestmark = pytest.mark.sandbox


def test_a_missing_or_broken_module_becomes_a_finding(monkeypatch):
    broken = types.ModuleType("labs.sandbox.broken_probe")

    def explode() -> list[Capability]:
        raise RuntimeError("boom")

    broken.capabilities = explode
    monkeypatch.setitem(sys.modules, "labs.sandbox.broken_probe", broken)
    monkeypatch.setattr(doctor, "PROBED_MODULES", ("broken_probe", "no_such_module_here"))
    found = doctor.probe_all()
    assert [cap.name for cap in found] == ["broken_probe", "no_such_module_here"]
    assert not any(cap.ok for cap in found)
    assert "boom" in found[0].detail and "ModuleNotFoundError" in found[1].detail
    assert all(cap.install for cap in found)


def test_labs_ready_needs_the_required_capabilities():
    ready = [Capability(name, True, "fine") for name in doctor.REQUIRED]
    assert doctor.labs_ready(ready)
    assert not doctor.labs_ready(ready[1:])
    assert not doctor.labs_ready(
        [*ready[1:], Capability(doctor.REQUIRED[0], False, "gone", "apt-get install -y runc")]
    )


def test_render_text_and_json():
    caps = [
        Capability("runc", False, "runc is not installed", "apt-get install -y runc"),
        Capability("tcg", True, "boots"),
    ]
    text = doctor.render(caps)
    assert "fix: apt-get install -y runc" in text and "labs NOT ready" in text
    data = json.loads(doctor.render(caps, as_json=True))
    assert data["ready"] is False
    assert data["capabilities"][0] == {
        "name": "runc",
        "ok": False,
        "detail": "runc is not installed",
        "install": "apt-get install -y runc",
    }


def test_kvm_missing_with_tcg_working_reads_as_information():
    caps = [
        Capability("kvm", False, "/dev/kvm present but a probe guest did not boot in 8 s"),
        Capability("tcg", True, "TCG: a probe guest booted in 6.5 s"),
    ]
    kvm_line = doctor.render(caps).splitlines()[0]
    assert kvm_line.startswith("info kvm")
    assert "KVM not usable here: using TCG (/dev/kvm present but" in kvm_line
    assert "MISS" not in doctor.render(caps)
    # Without a working TCG there is no fallback: KVM's absence is a failure again.
    no_tcg = [caps[0], Capability("tcg", False, "QEMU is missing", "apt-get install -y qemu")]
    assert doctor.render(no_tcg).splitlines()[0].startswith("MISS kvm")
    # The JSON keeps the capability as it is: names and ok flags are for programs.
    assert json.loads(doctor.render(caps, as_json=True))["capabilities"][0]["ok"] is False


def test_host_facts_are_json_data():
    facts = hostfacts.collect("tcg")
    assert json.loads(json.dumps(facts)) == facts
    assert facts["accelerator"] == "tcg"
    assert facts["cores"] >= 1 and facts["memory_total_bytes"] > 0
    assert facts["kernel"] and facts["cpu_model"] and facts["python"].startswith("3.")
    assert facts["cgroup_mode"] in {"v1", "hybrid", "v2", "none"}
    assert set(facts["versions"]) >= {"runc", "bwrap", "qemu"}
