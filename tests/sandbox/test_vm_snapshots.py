"""Guests restored from a snapshot (vm_snapshots.py) against real QEMU.

The restored guests also run every test of test_vms.py (its ``vm`` fixture has both
starts); these are the tests only a restored guest needs: that each one is its own
machine, that none of them writes the snapshot, and what is refused.
"""

from __future__ import annotations

import fcntl
import hashlib

import pytest

from labs.sandbox import vm_snapshots, vms
from labs.sandbox.naming import adhoc_run_id

from .guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox


@pytest.fixture
def restored(qemu):  # noqa: F811
    """Start restored guests; stop them and check nothing is left, whatever happens."""
    started = []

    def start(**options) -> vms.VMHandle:
        run_id = adhoc_run_id()
        started.append(run_id)
        options.setdefault("timeout", 60)
        return vms.start_vm(run_id, vms.VMOptions(start="snapshot", **options))

    handles = []
    yield lambda **options: handles.append(start(**options)) or handles[-1]
    for handle in handles:
        handle.stop()
    for run_id in started:
        assert_vm_left_nothing(run_id)


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_each_restored_guest_has_its_own_name_token_and_randomness(restored):
    first, second = restored(name="a"), restored(name="b")
    seen = []
    for handle in (first, second):
        rc, output = handle.run(
            "cat /proc/sys/kernel/hostname /etc/virtlab-token; head -c 16 /dev/urandom | od -An -tx1"
        )
        assert rc == 0
        hostname, token, random_bytes = output.strip().split("\n")
        assert hostname == handle.boot.extra["hostname"]
        assert token == handle.boot.extra["token"]
        seen.append((hostname, token, random_bytes.strip()))
    # Without the reseed both would print the same bytes (the generator's state is in
    # the snapshot); the hostname and token come from the host, one per VM.
    assert len({item[0] for item in seen}) == len({item[1] for item in seen}) == 2
    assert seen[0][2] != seen[1][2]


def test_a_restored_guest_passes_the_boot_marker_and_says_how_it_started(restored):
    handle = restored()
    assert handle.boot.extra["start"] == "snapshot"
    assert 0 < handle.boot.extra["restored_seconds"] <= handle.boot.boot_wall_seconds
    snapshot = vm_snapshots.find(
        vm_snapshots.Shape(handle.boot.accelerator, handle.boot.machine, 128, 1)
    )
    assert snapshot is not None
    assert snapshot.meta["state_bytes"] < 1 << 20  # device state only: RAM is the file


def test_guests_never_write_the_snapshot_they_came_from(restored):
    handle = restored()
    shape = vm_snapshots.Shape(handle.boot.accelerator, handle.boot.machine, 128, 1)
    ram = vm_snapshots.find(shape).ram_path
    before = _sha256(ram)
    # Dirty tens of MiB of guest memory: copy-on-write keeps it in this VM alone.
    rc, _ = handle.run("dd if=/dev/urandom of=/tmp/fill bs=1M count=24 2>/dev/null; sync")
    assert rc == 0
    handle.stop()
    assert _sha256(ram) == before
    # And the next guest starts from the same clean memory: no /tmp/fill there.
    assert restored().run("ls /tmp/fill")[0] != 0


def test_modules_are_part_of_a_snapshots_shape(restored):
    # The template of a shape with modules booted with them loaded; one without did not.
    with_veth = restored(modules=("veth",), name="mod")
    assert with_veth.run("[ -d /sys/module/veth ] && echo loaded") == (0, "loaded\n")
    plain = restored(name="plain")
    assert plain.run("[ -d /sys/module/veth ] || echo absent") == (0, "absent\n")


@pytest.mark.parametrize(
    "options",
    [
        {"extra_cmdline": "quiet"},
        {"snapshot_disk_mib": 64},
        {"extra_args": ("-device", "virtio-rng-device")},
    ],
)
def test_options_that_change_the_machine_are_refused_before_anything_starts(options):
    run_id = adhoc_run_id()
    with pytest.raises(vms.VMRequestError, match="restored from a snapshot"):
        vms.start_vm(run_id, vms.VMOptions(start="snapshot", **options))
    assert_vm_left_nothing(run_id)


def test_an_unknown_start_is_refused():
    with pytest.raises(vms.VMRequestError, match="unknown start"):
        vms.start_vm(adhoc_run_id(), vms.VMOptions(start="warm"))


@pytest.fixture
def own_snapshots(tmp_path, monkeypatch):
    """Snapshots kept in the test's own directory, so none of the shared ones go."""
    monkeypatch.setattr(vm_snapshots, "snapshots_root", lambda: tmp_path / "snapshots")
    return tmp_path / "snapshots"


def _shape_of(handle: vms.VMHandle) -> vm_snapshots.Shape:
    boot = handle.boot
    return vm_snapshots.Shape(boot.accelerator, boot.machine, boot.memory_mib, boot.vcpus)


def test_a_snapshot_of_another_build_is_replaced(restored, own_snapshots, monkeypatch):
    handle = restored()
    assert handle.boot.extra["snapshot_built_seconds"] is not None  # a fresh directory
    current = vm_snapshots.find(_shape_of(handle)).directory
    # As if the guest kernel had been rebuilt: the digest changes, a new template is
    # booted, and the snapshot of the old build is removed.
    monkeypatch.setattr(vm_snapshots, "FORMAT", vm_snapshots.FORMAT + 1000)
    fresh = restored()
    assert fresh.boot.extra["snapshot_built_seconds"] is not None
    assert vm_snapshots.find(_shape_of(fresh)).directory != current
    assert not current.exists()
    assert restored().boot.extra["snapshot_built_seconds"] is None  # then it is reused


def test_old_snapshots_go_but_never_one_in_use(restored, own_snapshots, monkeypatch):
    monkeypatch.setattr(vm_snapshots, "MAX_SNAPSHOTS", 1)
    first = _shape_of(restored(memory_mib=128))
    # While a VM is being restored from the first (its lock held shared), a second
    # shape is built: the first is over the limit but stays.
    with open(vm_snapshots._lock_path(vm_snapshots.snapshot_dir(first)), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        second = _shape_of(restored(memory_mib=112))
    assert vm_snapshots.find(first) and vm_snapshots.find(second)
    # Once nobody uses it, building a third removes the least recently used.
    restored(memory_mib=104)
    assert vm_snapshots.find(first) is None


def test_a_lab_guest_is_booted_when_qemu_cannot_snapshot(qemu, own_snapshots, monkeypatch):  # noqa: F811
    from labs.experiments.guests import boot_kept_vm

    # A QEMU without the capability answers the monitor with an error, as this does.
    monkeypatch.setattr(
        vm_snapshots, "IGNORE_SHARED", [{"capability": "x-no-such-capability", "state": True}]
    )
    run_id = adhoc_run_id()
    handle, _attempts = boot_kept_vm(run_id, "fb")
    try:
        assert handle.boot.extra["start"] == "cold"
        assert "could not save the template" in handle.boot.extra["restore_failed"]
        assert handle.run("echo up") == (0, "up\n")
    finally:
        handle.stop()
    assert_vm_left_nothing(run_id)
