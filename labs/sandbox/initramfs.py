"""The guest's busybox initramfs: a gzip'd cpio (newc) archive written in pure Python.

Writing the archive ourselves means no host ``cpio`` is needed and device nodes can be
created without root. The archive is reproducible (fixed mtimes, sorted entries), so
its hash says whether a rebuild changed anything.

The ``/init`` it carries speaks the protocol that ``vms.py`` drives, on a control
channel of its own — the second serial port, ttyS1 — so that nothing a guest prints
on its console (ttyS0, kept for people and for the kernel's own messages, a panic
among them) can get in the way of a command or its answer:

* at boot it prints ``VIRTLAB-BOOTED uptime=<guest /proc/uptime>`` on the control
  channel, then on the console;
* with ``virtlab.mode=oneshot`` on the kernel command line it then powers off at once
  (plain boot timing);
* otherwise it reads request lines from the control channel:
  ``RUN <token> <timeout s> <base64 shell>`` runs the script with busybox ``sh`` and
  answers ``VIRTLAB-BEGIN <token>``, the output, an extra newline, then
  ``VIRTLAB-END <token> rc=<N>``; ``POWEROFF <token>`` answers
  ``VIRTLAB-POWEROFF <token>`` and powers off with ``poweroff -f``;
  ``WAKE <token> <hostname> <hex seed>`` is the first request a guest restored from a
  snapshot gets (vm_snapshots.py): it takes the hostname, keeps the token in
  ``/etc/virtlab-token``, reseeds the kernel's random generator with the seed
  (``/bin/vl-reseed``, guest_src/) and answers with the boot marker again,
  ``VIRTLAB-BOOTED uptime=<…> reseed=<its exit status>``, so a restored guest passes the
  same readiness check as a booted one. Everything but the reseed is a shell builtin:
  under TCG each fork costs milliseconds.

A QEMU command line without the control port (a raw one, as the benchmarks use)
still sees the boot marker on the console.
"""

from __future__ import annotations

import gzip
import io
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from virtlab.files import replace_file

BOOT_MARKER = "VIRTLAB-BOOTED"

# PID 1 of the guest. Kept tiny: every line runs under TCG at boot.
GUEST_INIT = r"""#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Routine kernel messages stay off the console; a panic (level 0) still shows.
echo 1 > /proc/sys/kernel/printk
stty -echo 2>/dev/null
mode=serve
modules=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    virtlab.mode=*) mode="${arg#virtlab.mode=}" ;;
    virtlab.modules=*) modules="${arg#virtlab.modules=}" ;;
  esac
done
# Device drivers a lab asked for (guest_modules.py), each after its dependencies.
for name in $(echo "$modules" | tr , ' '); do
  for dep in $(cat "/lib/modules/$name.load" 2>/dev/null); do
    [ -d "/sys/module/$dep" ] || insmod "/lib/modules/$dep.ko"
  done
done
# The control channel: no echo before the marker, since the host may send its first
# request right after it.
ctl=/dev/ttyS1
stty -F $ctl -echo 2>/dev/null && exec 3<>$ctl || exec 3>/dev/null
read -r up idle < /proc/uptime
echo "VIRTLAB-BOOTED uptime=$up" >&3
echo "VIRTLAB-BOOTED uptime=$up"
if [ "$mode" = oneshot ]; then
  poweroff -f
  reboot -f
fi
while read -r verb token limit payload <&3; do
  case "$verb" in
    RUN)
      echo "$payload" | base64 -d > /tmp/cmd
      timeout -s KILL "$limit" sh /tmp/cmd < /dev/null > /tmp/out 2>&1
      rc=$?
      { echo "VIRTLAB-BEGIN $token"; cat /tmp/out; echo; echo "VIRTLAB-END $token rc=$rc"; } >&3
      ;;
    WAKE)
      echo "$limit" > /proc/sys/kernel/hostname
      echo "$token" > /etc/virtlab-token
      echo "$payload" > /tmp/seed
      /bin/vl-reseed < /tmp/seed
      rc=$?
      : > /tmp/seed
      read -r up idle < /proc/uptime
      echo "VIRTLAB-BOOTED uptime=$up reseed=$rc" >&3
      ;;
    POWEROFF)
      echo "VIRTLAB-POWEROFF $token" >&3
      sync
      poweroff -f
      reboot -f
      ;;
  esac
done
poweroff -f
"""

DIRECTORIES = ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "etc")
# Present before devtmpfs is mounted so the kernel can give init a console.
DEVICE_NODES = {"dev/console": (5, 1), "dev/null": (1, 3)}


@dataclass(frozen=True)
class Entry:
    path: str  # inside the archive, no leading slash
    mode: int  # st_mode including the file type bits
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def _newc_header(ino: int, entry: Entry, name_size: int) -> bytes:
    fields = (
        ino,
        entry.mode,
        0,  # uid
        0,  # gid
        2 if stat.S_ISDIR(entry.mode) else 1,
        0,  # mtime: fixed, for a reproducible archive
        len(entry.data),
        0,  # devmajor
        0,  # devminor
        entry.rdev[0],
        entry.rdev[1],
        name_size,
        0,  # check
    )
    return b"070701" + b"".join(f"{value:08X}".encode() for value in fields)


def _pad4(length: int) -> bytes:
    return b"\0" * (-length % 4)


def cpio_newc(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    for ino, entry in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = entry.path.encode() + b"\0"
        header = _newc_header(0 if entry.path == "TRAILER!!!" else ino, entry, len(name))
        out.write(header + name + _pad4(len(header) + len(name)))
        out.write(entry.data + _pad4(len(entry.data)))
    return out.getvalue()


def applet_paths(busybox: Path) -> list[str]:
    """Where busybox wants each applet (``usr/bin/awk``…), from the binary itself."""
    listing = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    return sorted({line.strip() for line in listing.splitlines() if line.strip()})


def entries(
    busybox: Path,
    modules: dict[str, bytes] | None = None,
    load_lists: dict[str, list[str]] | None = None,
    programs: dict[str, bytes] | None = None,
) -> list[Entry]:
    """The archive's entries; ``modules`` (name → .ko) go to /lib/modules with a
    ``<name>.load`` list each (what to insmod, in order); ``programs`` (name → static
    executable) go to /bin."""
    result = [Entry(d, stat.S_IFDIR | 0o755) for d in DIRECTORIES]
    for name, data in (programs or {}).items():
        result.append(Entry(f"bin/{name}", stat.S_IFREG | 0o755, data))
    if modules:
        result += [Entry("lib", stat.S_IFDIR | 0o755), Entry("lib/modules", stat.S_IFDIR | 0o755)]
        for name, data in modules.items():
            result.append(Entry(f"lib/modules/{name}.ko", stat.S_IFREG | 0o644, data))
            order = "\n".join((load_lists or {}).get(name, [name])) + "\n"
            result.append(Entry(f"lib/modules/{name}.load", stat.S_IFREG | 0o644, order.encode()))
    result += [Entry(path, stat.S_IFCHR | 0o600, rdev=rdev) for path, rdev in DEVICE_NODES.items()]
    result.append(Entry("bin/busybox", stat.S_IFREG | 0o755, busybox.read_bytes()))
    for applet in applet_paths(busybox):
        if applet in ("bin/busybox", "init"):
            continue
        target = b"/bin/busybox"
        result.append(Entry(applet, stat.S_IFLNK | 0o777, target))
    result.append(Entry("init", stat.S_IFREG | 0o755, GUEST_INIT.encode()))
    return sorted(result, key=lambda e: e.path)


def build_initramfs(
    busybox: Path,
    destination: Path,
    modules: dict[str, bytes] | None = None,
    load_lists: dict[str, list[str]] | None = None,
    programs: dict[str, bytes] | None = None,
) -> None:
    archive = cpio_newc(entries(busybox, modules, load_lists, programs))
    # No file name or time in the gzip header: the same inputs give the same bytes.
    replace_file(destination, gzip.compress(archive, mtime=0))


def is_static_elf(path: Path) -> bool:
    """True for an ELF without a PT_INTERP header (the guest has no dynamic loader)."""
    with path.open("rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
            return False
        order = "little" if header[5] == 1 else "big"
        phoff = int.from_bytes(header[32:40], order)
        phentsize = int.from_bytes(header[54:56], order)
        phnum = int.from_bytes(header[56:58], order)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return all(
        int.from_bytes(table[i * phentsize : i * phentsize + 4], order) != pt_interp
        for i in range(phnum)
    )
