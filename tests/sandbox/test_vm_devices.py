"""Guests with devices: the virtio drivers come from the guest kernel's own package and
load only when asked for; a virtio disk's writes land in its qcow2 image."""

from __future__ import annotations

import json
import subprocess

import pytest

from labs.sandbox import guest_assets, guest_modules, vms
from labs.sandbox.naming import adhoc_run_id

from .guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox


def test_modules_and_their_load_order_come_from_the_kernel_package(built_assets):  # noqa: F811
    modules = {path.stem: path.read_bytes() for path in guest_assets.modules_dir().glob("*.ko")}
    assert set(guest_modules.WANTED) <= set(modules)
    order = guest_modules.load_lists(modules)
    assert order["virtio_blk"][-1] == "virtio_blk"
    assert order["virtio_blk"].index("virtio") < order["virtio_blk"].index("virtio_blk")
    assert order["virtio_net"][:-1] and "failover" in order["virtio_net"]


def test_a_virtio_disk_is_seen_and_written_through_to_its_image(qemu, tmp_path):  # noqa: F811
    image = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "256M"], check=True)
    run_id = adhoc_run_id()
    drive = (
        "-drive",
        f"if=none,id=d0,file={image},format=qcow2",
        "-device",
        "virtio-blk-device,drive=d0",
    )
    options = vms.VMOptions(timeout=60, modules=("virtio_mmio", "virtio_blk"), extra_args=drive)
    with vms.start_vm(run_id, options) as vm:
        rc, output = vm.run(
            "cat /sys/block/vda/size; dd if=/dev/zero of=/dev/vda bs=1M count=8 conv=fsync 2>/dev/null; echo written"
        )
        assert rc == 0, output
        sectors, written = output.split()
        assert int(sectors) * 512 == 256 << 20 and written == "written"
    assert_vm_left_nothing(run_id)
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(image)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert info["actual-size"] >= 8 << 20  # the guest's 8 MiB really reached the host file


def test_a_plain_boot_loads_no_modules(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    with vms.start_vm(run_id, vms.VMOptions(timeout=60)) as vm:
        assert vm.run("cat /proc/modules | wc -l") == (0, "0\n")
    assert_vm_left_nothing(run_id)


def test_unknown_modules_are_refused_before_anything_starts():
    with pytest.raises(vms.VMRequestError, match="no such guest module"):
        vms.qemu_argv(
            process_name="vl1-x", accelerator="tcg", machine="microvm", memory_mib=128,
            vcpus=1, serial=None, qmp=None, modules=("nonsense",),
        )  # fmt: skip
