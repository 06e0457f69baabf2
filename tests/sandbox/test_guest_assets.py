"""Guest assets: built from Debian packages into var/, never installed on the host."""

from __future__ import annotations

import gzip
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from labs.sandbox import guest_assets, initramfs

from .guest_fixtures import built_assets  # noqa: F401

pytestmark = pytest.mark.sandbox


def test_build_is_idempotent_and_reports_in_one_line(built_assets):  # noqa: F811
    report = guest_assets.build()
    assert "up to date" in report
    assert "\n" not in report
    assert guest_assets.kernel_version() in report


def test_the_kernel_is_a_debian_cloud_kernel_kept_in_var(built_assets):  # noqa: F811
    assert re.fullmatch(r"\d+\.\d+\.\d+-\d+-cloud-amd64", guest_assets.kernel_version())
    assert guest_assets.kernel_path().read_bytes()[0x202:0x206] == b"HdrS"  # bzImage header
    # Unpacked with dpkg -x into var, never installed: dpkg does not know the package.
    package = guest_assets.manifest()["kernel"]["package"]
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True)
    assert b"install ok installed" not in status.stdout


def test_initramfs_holds_init_and_busybox_applets(built_assets):  # noqa: F811
    listing = subprocess.run(
        ["busybox", "cpio", "-t"],
        input=gzip.decompress(guest_assets.initramfs_path().read_bytes()),
        capture_output=True,
        check=True,
    ).stdout.decode()
    names = set(listing.split())
    assert {"init", "bin/busybox", "bin/sh", "dev/console", "proc", "sys"} <= names


def test_cpio_writer_round_trips_through_busybox_cpio(tmp_path):
    archive = initramfs.cpio_newc(
        [
            initramfs.Entry("d", stat.S_IFDIR | 0o755),
            initramfs.Entry("d/odd-size", stat.S_IFREG | 0o644, b"abc"),
            initramfs.Entry("link", stat.S_IFLNK | 0o777, b"d/odd-size"),
        ]
    )
    subprocess.run(["busybox", "cpio", "-i", "-d"], input=archive, cwd=tmp_path, check=True)
    assert (tmp_path / "d" / "odd-size").read_bytes() == b"abc"
    assert (tmp_path / "link").is_symlink()


def test_the_aarch64_busybox_is_a_static_arm_binary(built_assets):  # noqa: F811
    header = guest_assets.aarch64_busybox_path().read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == 183  # EM_AARCH64
    assert initramfs.is_static_elf(guest_assets.aarch64_busybox_path())
    assert not initramfs.is_static_elf(Path(sys.executable).resolve())


def test_capabilities_and_footprint(built_assets):  # noqa: F811
    capabilities = {c.name: c for c in guest_assets.capabilities()}
    assert set(capabilities) == {
        "guest-kernel",
        "guest-initramfs",
        "guest-modules",
        "aarch64-busybox",
    }
    assert all(c.ok for c in capabilities.values())
    sizes = guest_assets.footprint()
    assert sizes["kernel_bytes"] > 1 << 20
    assert sizes["initramfs_bytes"] > 100 << 10
    assert sizes["total_bytes"] == sizes["kernel_bytes"] + sizes["initramfs_bytes"]


def test_missing_assets_point_at_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("VIRTLAB_VAR", str(tmp_path))
    capabilities = guest_assets.capabilities()
    assert not any(c.ok for c in capabilities)
    assert all(c.install == guest_assets.BUILD_HINT for c in capabilities)
