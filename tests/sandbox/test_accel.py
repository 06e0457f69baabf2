"""The accelerator decision's cache (labs/sandbox/accel.py), without booting guests."""

from __future__ import annotations

import pytest

from labs.sandbox import accel


@pytest.fixture
def probes(monkeypatch, tmp_path):
    """A fake boot probe that counts its calls and answers as told; a cache of our own."""
    monkeypatch.setattr(accel, "_cache_path", lambda: tmp_path / "accel.json")
    monkeypatch.setattr(accel, "_cache_key", lambda: {"qemu": "test", "assets": "test"})
    monkeypatch.setattr(accel, "_kvm_usable_device", lambda: "no device here")
    calls = []

    def boot_probe(accelerator: str, timeout: float) -> dict:
        calls.append(accelerator)
        return {"booted": probes.tcg_boots, "why": "told to"}

    probes = type("Probes", (), {"calls": calls, "boot_probe": staticmethod(boot_probe)})
    probes.tcg_boots = True
    return probes


def test_a_tcg_guest_that_booted_is_remembered(probes):
    assert accel.decide(probes.boot_probe)["tcg"]["booted"]
    assert accel.decide(probes.boot_probe)["tcg"]["booted"]
    assert probes.calls == ["tcg"]  # probed once, then read from the cache


def test_a_failed_tcg_probe_is_tried_again_next_time(probes):
    # A host too busy for the probe's deadline must not refuse VM labs from then on.
    probes.tcg_boots = False
    assert not accel.decide(probes.boot_probe)["tcg"]["booted"]
    probes.tcg_boots = True
    assert accel.decide(probes.boot_probe)["tcg"]["booted"]
    assert probes.calls == ["tcg", "tcg", "tcg"]  # failed twice (it retries), then booted
