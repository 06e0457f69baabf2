"""Guest assets: the VM kernel, the busybox initramfs and the aarch64 busybox.

They are built, never installed on the host (docs/architecture.md): packages are
fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into ``var/``. A
manifest records what was built from what, so ``build()`` is quick when nothing
changed and rebuilds only the part whose input did.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import guest_modules
from .capability import Capability
from .initramfs import GUEST_INIT, build_initramfs, is_static_elf
from .paths import assets_dir

KERNEL_METAPACKAGE = "linux-image-cloud-amd64"
ARM64_BUSYBOX_PACKAGE = "busybox-static:arm64"
HOST_BUSYBOX = Path("/bin/busybox")
BUILD_HINT = "python manage.py build_guest_assets"
APT_TIMEOUT = 600
GUEST_SOURCES = Path(__file__).with_name("guest_src")
# Static, no C library, no start files: the program brings its own entry point.
GUEST_CFLAGS = ("-static", "-nostdlib", "-Os", "-s", "-ffreestanding", "-fno-stack-protector",
                "-fno-pie", "-no-pie", "-Wall", "-Werror")  # fmt: skip


class AssetBuildError(RuntimeError):
    pass


def kernel_path() -> Path:
    return assets_dir() / "vmlinuz"


def initramfs_path() -> Path:
    return assets_dir() / "initramfs.cpio.gz"


def initramfs_with_modules_path() -> Path:
    """The same initramfs plus the virtio/vsock modules (guest_modules.py), for guests
    with devices; plain boots keep the smaller one, so boot figures do not change."""
    return assets_dir() / "initramfs-modules.cpio.gz"


def modules_dir() -> Path:
    return assets_dir() / "modules"


def aarch64_busybox_path() -> Path:
    return assets_dir() / "aarch64" / "busybox"


def _manifest_path() -> Path:
    return assets_dir() / "manifest.json"


def manifest() -> dict:
    try:
        return json.loads(_manifest_path().read_text())
    except (OSError, ValueError):
        return {}


def kernel_version() -> str | None:
    """The guest kernel release (``6.1.0-…-cloud-amd64``), as recorded at build time."""
    return manifest().get("kernel", {}).get("release")


def footprint() -> dict[str, int]:
    """Bytes on disk of what a VM boots from (the footprint lab compares these)."""
    sizes = {}
    for key, path in (("kernel_bytes", kernel_path()), ("initramfs_bytes", initramfs_path())):
        sizes[key] = path.stat().st_size if path.exists() else 0
    sizes["total_bytes"] = sizes["kernel_bytes"] + sizes["initramfs_bytes"]
    return sizes


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    # apt may ask nothing here, but make sure it never waits for a terminal.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT
    )


def _apt_download(package: str, workdir: Path, notes: list[str]) -> Path:
    """Download one .deb into ``workdir`` and return its path.

    A clean machine may have no package lists yet, and old lists name versions the
    mirror has since dropped (a 404): either way, refresh the lists once and retry.
    """
    result = _run(["apt-get", "download", package], cwd=workdir)
    if result.returncode != 0:
        refresh = _run(["apt-get", "update"])
        if refresh.returncode == 0:
            notes.append(f"ran apt-get update to download {package}")
            result = _run(["apt-get", "download", package], cwd=workdir)
    if result.returncode != 0:
        raise AssetBuildError(f"apt-get download {package} failed: {result.stderr.strip()}")
    name = package.split(":")[0]
    debs = sorted(workdir.glob(f"{name}_*.deb"))
    if not debs:
        raise AssetBuildError(f"apt-get download {package} left no .deb in {workdir}")
    return debs[-1]


def _deb_field(deb: Path, field: str) -> str:
    result = _run(["dpkg-deb", "-f", str(deb), field])
    if result.returncode != 0:
        raise AssetBuildError(f"dpkg-deb -f {deb.name} {field}: {result.stderr.strip()}")
    return result.stdout.strip()


def _real_kernel_package(meta_deb: Path) -> str:
    """``linux-image-cloud-amd64`` only depends on the versioned image package."""
    depends = _deb_field(meta_deb, "Depends")
    match = re.search(r"(linux-image-[0-9][^\s,(]*-cloud-amd64)", depends)
    if not match:
        raise AssetBuildError(f"no versioned cloud kernel in Depends: {depends!r}")
    return match.group(1)


def _build_kernel(workdir: Path, notes: list[str]) -> dict:
    meta = _apt_download(KERNEL_METAPACKAGE, workdir, notes)
    package = _real_kernel_package(meta)
    deb = _apt_download(package, workdir, notes)
    tree = workdir / "kernel-tree"
    result = _run(["dpkg", "-x", str(deb), str(tree)])
    if result.returncode != 0:
        raise AssetBuildError(f"dpkg -x {deb.name}: {result.stderr.strip()}")
    images = sorted((tree / "boot").glob("vmlinuz-*"))
    if not images:
        raise AssetBuildError(f"{deb.name} holds no boot/vmlinuz-*")
    release = images[0].name.removeprefix("vmlinuz-")
    try:
        modules = guest_modules.collect(tree, release)
    except guest_modules.ModuleError as error:
        raise AssetBuildError(str(error)) from error
    if modules_dir().exists():
        shutil.rmtree(modules_dir())
    modules_dir().mkdir(parents=True)
    for name, data in modules.items():
        (modules_dir() / f"{name}.ko").write_bytes(data)
    shutil.copyfile(images[0], kernel_path())
    return {
        "package": package,
        "version": _deb_field(deb, "Version"),
        "release": release,
        "sha256": _sha256(kernel_path()),
        "modules_sha256": guest_modules.digest(modules),
        "modules_wanted": list(guest_modules.WANTED),
    }


def _read_modules() -> dict[str, bytes]:
    return {path.stem: path.read_bytes() for path in sorted(modules_dir().glob("*.ko"))}


def _arm64_enabled() -> bool:
    result = _run(["dpkg", "--print-foreign-architectures"])
    return "arm64" in result.stdout.split()


def _enable_arm64(notes: list[str]) -> None:
    """Let apt see arm64 package lists. This changes apt's configuration (not what is
    installed): it is the only host change the asset build makes, and it says so."""
    for argv in (["dpkg", "--add-architecture", "arm64"], ["apt-get", "update"]):
        result = _run(argv)
        if result.returncode != 0:
            raise AssetBuildError(f"{' '.join(argv)} failed: {result.stderr.strip()[-400:]}")
    notes.append("enabled the arm64 architecture in dpkg and ran apt-get update")


def _build_aarch64_busybox(workdir: Path, notes: list[str]) -> dict:
    if not _arm64_enabled():
        _enable_arm64(notes)
    deb = _apt_download(ARM64_BUSYBOX_PACKAGE, workdir, notes)
    tree = workdir / "busybox-arm64"
    result = _run(["dpkg", "-x", str(deb), str(tree)])
    if result.returncode != 0:
        raise AssetBuildError(f"dpkg -x {deb.name}: {result.stderr.strip()}")
    target = aarch64_busybox_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tree / "bin" / "busybox", target)
    target.chmod(0o755)
    return {"version": _deb_field(deb, "Version"), "sha256": _sha256(target)}


def guest_programs() -> dict[str, bytes]:
    """Our own small guest programs (guest_src/*.c), compiled into static executables
    for the initramfs's /bin. They use no C library, so only a C compiler is needed."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise AssetBuildError("no C compiler for the guest's helper programs: apt-get install gcc")
    programs = {}
    with tempfile.TemporaryDirectory(prefix="guest-programs-") as tmp:
        for source in sorted(GUEST_SOURCES.glob("*.c")):
            target = Path(tmp) / source.stem
            result = _run([compiler, *GUEST_CFLAGS, "-o", str(target), str(source)])
            if result.returncode != 0:
                raise AssetBuildError(f"compiling {source.name}: {result.stderr.strip()[-400:]}")
            programs[source.stem] = target.read_bytes()
    return programs


def _initramfs_inputs(kernel: dict) -> dict:
    sources = hashlib.sha256()
    for source in sorted(GUEST_SOURCES.glob("*.c")):
        sources.update(source.name.encode() + b"\0" + source.read_bytes())
    return {
        "busybox_sha256": _sha256(HOST_BUSYBOX),
        "init_sha256": hashlib.sha256(GUEST_INIT.encode()).hexdigest(),
        "modules_sha256": kernel.get("modules_sha256"),
        "programs_sha256": sources.hexdigest(),
    }


def build(force: bool = False) -> str:
    """Build whatever is missing or stale under ``assets_dir()``; one-line report."""
    started = time.monotonic()
    root = assets_dir()
    root.mkdir(parents=True, exist_ok=True)
    current = {} if force else manifest()
    built: list[str] = []
    notes: list[str] = []

    with tempfile.TemporaryDirectory(dir=root, prefix="build-") as tmp:
        workdir = Path(tmp)
        kernel = current.get("kernel")
        # A module added to guest_modules.WANTED is picked out of the kernel package.
        stale = (
            not kernel
            or kernel.get("sha256") is None
            or kernel.get("modules_wanted") != list(guest_modules.WANTED)
        )
        if stale or not kernel_path().exists() or not modules_dir().exists():
            if shutil.which("apt-get") is None:
                raise AssetBuildError("apt-get is missing: the guest kernel comes from apt")
            current["kernel"] = _build_kernel(workdir, notes)
            built.append(f"kernel {current['kernel']['release']}")

        if not HOST_BUSYBOX.exists():
            raise AssetBuildError("/bin/busybox is missing: apt-get install busybox-static")
        if not is_static_elf(HOST_BUSYBOX):
            raise AssetBuildError("/bin/busybox is not static: apt-get install busybox-static")
        inputs = _initramfs_inputs(current["kernel"])
        missing = not initramfs_path().exists() or not initramfs_with_modules_path().exists()
        if current.get("initramfs") != inputs or missing:
            programs = guest_programs()
            build_initramfs(HOST_BUSYBOX, initramfs_path(), programs=programs)
            modules = _read_modules()
            build_initramfs(
                HOST_BUSYBOX,
                initramfs_with_modules_path(),
                modules,
                guest_modules.load_lists(modules),
                programs,
            )
            current["initramfs"] = inputs
            built.append("initramfs")

        if not current.get("aarch64_busybox") or not aarch64_busybox_path().exists():
            current["aarch64_busybox"] = _build_aarch64_busybox(workdir, notes)
            built.append("aarch64 busybox")

    current["notes"] = sorted(set(current.get("notes", [])) | set(notes))
    _manifest_path().write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
    took = time.monotonic() - started
    sizes = footprint()
    what = ", ".join(built) if built else "up to date"
    extra = f" ({'; '.join(notes)})" if notes else ""
    return (
        f"guest assets in {root}: {what}; kernel {current['kernel']['release']} "
        f"{sizes['kernel_bytes']} B, initramfs {sizes['initramfs_bytes']} B "
        f"[{took:.1f} s]{extra}"
    )


def capabilities() -> list[Capability]:
    built = manifest()
    checks = (
        ("guest-kernel", kernel_path(), f"kernel {kernel_version()}"),
        ("guest-initramfs", initramfs_path(), "busybox initramfs"),
        ("guest-modules", initramfs_with_modules_path(), "initramfs with virtio/vsock modules"),
        ("aarch64-busybox", aarch64_busybox_path(), "aarch64 busybox"),
    )
    result = []
    for name, path, what in checks:
        if path.exists() and built:
            result.append(Capability(name, True, f"{what} at {path} ({path.stat().st_size} B)"))
        else:
            result.append(Capability(name, False, f"{path} has not been built", BUILD_HINT))
    return result
