"""Container images with a real builder (podman) and a real registry, per run.

Everything lives in the run's scratch directory ``runs/vl<id>-images/``: podman's
storage (graphroot, runroot, its libpod state), its configuration files, the build
contexts, the OCI runtime's state for build steps, podman's blob-info cache and the
registry's blobs. The host's default store (/var/lib/containers/storage) is never
used, and nothing is pulled from the internet: the base image is imported from the
busybox root filesystem the app already builds (container_assets.py).

How each rule is kept (docs/architecture.md, sandbox rules):

- limits: every podman and registry process runs in the run's cgroup ``vl<id>-images``
  (memory, pids, CPU) under a wall limit and an output cap (proc.run); build steps
  (RUN) run below ``vl<id>-build``, which we make with memory, pids and CPU limits
  (``--cgroup-parent``; ``--memory`` for each step as well), with
  the default ulimits of our containers.conf (within this host's hard limits, which
  podman's own defaults exceed here);
- names: images and repositories are ``vl<id>-…``, processes carry ``VIRTLAB_RUN``,
  the runtime is given ``--root`` in the scratch directory, so the reaper finds all;
- mounts: every podman command runs in a private mount namespace (``unshare
  --mount``) that binds the run's own blob-info cache over podman's host-wide one
  (/var/lib/containers/cache, which root podman always writes otherwise). Its overlay
  mounts live and die with that namespace: a killed podman leaves no mount on the host;
- network: the registry listens on an address inside a network namespace the run
  creates, and pushes and pulls run in a second one, cabled to it by a veth pair
  whose byte counters are the bytes that crossed the wire (netns.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import cgroups, container_assets, proc
from .capability import Capability
from .naming import name_for
from .netns import NetLab
from .paths import scratch_root
from .reaper import remove_scratch_dir

INSTALL = "apt-get install -y podman docker-registry"
PODMAN = "podman"
REGISTRY = "docker-registry"
# Root podman writes its blob-info cache (which layer digests it has seen where) here
# whatever --root says; each command binds the run's own copy over it.
HOST_BLOB_CACHE = Path("/var/lib/containers/cache")
# Default ulimits for containers, within this host's hard limits (podman's built-in
# defaults ask for more open files than many hosts allow, and its containers fail).
ULIMITS = ("nofile=1024:1024", "nproc=1024:1024")
PODMAN_MEMORY_MIB = 768  # podman, the registry and their children
PODMAN_PIDS = 256
REGISTRY_MEMORY_MIB = 256
REGISTRY_PIDS = 64
STEP_MEMORY_MIB = 256  # each build step (RUN) container
STEP_PIDS = 128  # every build step's processes together
CPU_PERCENT = 100  # podman, its build steps and the registry: a core each at most
REGISTRY_PORT = 5000
REGISTRY_ADDRESS = "10.213.0.1"
CLIENT_ADDRESS = "10.213.0.2"
COMMAND_SECONDS = 120.0
CACHE_HIT_RE = re.compile(r"^--> Using cache ([0-9a-f]{64})", re.MULTILINE)
# A multi-stage build prefixes its step lines with the stage: "[1/2] STEP 3/5: RUN …".
STEP_RE = re.compile(r"^(?:\[\d+/\d+\] )?STEP (\d+)/(\d+): (.*)$", re.MULTILINE)


class ImageError(RuntimeError):
    pass


@dataclass
class Build:
    """One ``podman build``: what it took and what podman said about its cache."""

    tag: str
    seconds: float
    steps: int  # instructions that make a layer (every stage's STEP lines but FROM)
    cache_hits: int  # steps podman reported as "Using cache"
    first_rebuilt_step: int | None  # the first step not taken from the cache
    image_id: str
    instructions: list[str] = field(default_factory=list)


@dataclass
class Transfer:
    """One push or pull through the run's veth: bytes each way and the time taken."""

    seconds: float
    bytes_sent: int
    bytes_received: int


def tools_present() -> list[str]:
    """Which of the tools this driver needs are missing."""
    return [tool for tool in (PODMAN, REGISTRY, "unshare") if shutil.which(tool) is None]


def version(tool: str) -> str | None:
    if shutil.which(tool) is None:
        return None
    try:
        done = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else None


class ImageWorkspace:
    """A run's podman store, configuration, build contexts and registry; ``close()``
    (or leaving the ``with``) stops the registry, deletes the namespaces and cgroups
    and removes the scratch directory."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.scratch = scratch_root() / name_for(run_id, "images")
        self.group_name = name_for(run_id, "images")
        self.steps_group = name_for(run_id, "build")
        self.group: cgroups.Cgroup | None = None
        self.registry_group: cgroups.Cgroup | None = None
        self.net: NetLab | None = None
        self.registry: subprocess.Popen | None = None
        self.client_ns = ""
        self.client_if = ""
        self.store = ""  # the store commands use (use_store), and its pull-side twin

    # -- set-up ---------------------------------------------------------------------

    def __enter__(self) -> ImageWorkspace:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open(self) -> None:
        missing = tools_present()
        if missing:
            raise ImageError(f"missing: {', '.join(missing)} ({INSTALL})")
        root = scratch_root()
        root.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(self.scratch):
            remove_scratch_dir(self.scratch)  # a leftover of a crashed run with this id
        self.scratch.mkdir(mode=0o700)
        for sub in ("libpod", "tmp", "runc", "cache", "net", "contexts", "registry"):
            (self.scratch / sub).mkdir(mode=0o700)
        HOST_BLOB_CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)  # the bind's target
        s = self.scratch
        ulimits = ", ".join(f'"{u}"' for u in ULIMITS)
        (s / "containers.conf").write_text(
            f"[containers]\ndefault_ulimits = [{ulimits}]\n"
            f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "none"\n'
            f'tmp_dir = "{s / "libpod"}"\nimage_copy_tmp_dir = "{s / "tmp"}"\n'
            f'runtime = "runc"\n'
            f'[network]\nnetwork_config_dir = "{s / "net"}"\n'
        )
        # Every command names its store (use_store); this only keeps the host's
        # storage.conf out of it.
        (s / "storage.conf").write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{s / "store-none"}"\n'
            f'runroot = "{s / "r-none"}"\n'
        )
        # No search registries: a short name never resolves to the internet.
        (s / "registries.conf").write_text(
            f'unqualified-search-registries = []\n[[registry]]\nlocation = "{self.registry_host}"\n'
            "insecure = true\n"
        )
        (s / "registry.yml").write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {s / 'registry'}\n"
            f"http:\n  addr: {self.registry_host}\n"
        )
        (s / "auth.json").write_text('{"auths": {}}\n')
        self.group = cgroups.create(
            self.group_name, memory_bytes=PODMAN_MEMORY_MIB << 20, pids=PODMAN_PIDS,
            cpu_percent=CPU_PERCENT,
        )  # fmt: skip
        # The build steps' parent, made here with limits of its own, so every step's
        # cgroup (podman makes one below it) is held to them whatever podman sets.
        cgroups.create(
            self.steps_group, memory_bytes=STEP_MEMORY_MIB << 20, pids=STEP_PIDS,
            cpu_percent=CPU_PERCENT,
        )  # fmt: skip

    @property
    def registry_host(self) -> str:
        return f"{REGISTRY_ADDRESS}:{REGISTRY_PORT}"

    def _env(self) -> dict[str, str]:
        s = self.scratch
        return {
            "CONTAINERS_CONF": str(s / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(s / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(s / "registries.conf"),
            "REGISTRY_AUTH_FILE": str(s / "auth.json"),
            "TMPDIR": str(s / "tmp"),
            "HOME": str(s / "tmp"),
        }

    def use_store(self, key: str) -> None:
        """Build in a store of its own from now on (``store-<key>``), and pull into a
        second one (``pulled-<key>``): one variant's layers never serve as another's
        cache; the first pull starts from an empty store, the second finds the first
        image's layers there."""
        if not re.fullmatch(r"[a-z0-9]{1,4}", key):
            raise ValueError(f"bad store key: {key!r}")
        self.store = key
        # Run roots stay short ("r<key>"): podman refuses one longer than 50 characters.
        for sub in (f"store-{key}", f"r{key}", f"pulled-{key}", f"p{key}"):
            (self.scratch / sub).mkdir(mode=0o700, exist_ok=True)

    def podman_argv(self, *args: str, pulled: bool = False) -> list[str]:
        if not self.store:
            raise ImageError("no store chosen (use_store)")
        s = self.scratch
        store, runroot = (
            (f"pulled-{self.store}", f"p{self.store}")
            if pulled
            else (f"store-{self.store}", f"r{self.store}")
        )
        podman = [
            PODMAN, "--root", str(s / store), "--runroot", str(s / runroot),
            "--storage-driver", "overlay", "--tmpdir", str(s / "libpod"),
            "--cgroup-manager", "cgroupfs", "--events-backend", "none",
            "--network-config-dir", str(s / "net"), *args,
        ]  # fmt: skip
        # A private mount namespace: podman's overlay mounts die with it, and the run's
        # blob-info cache stands in for the host-wide one.
        return [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", 'mount --bind "$0" "$1" && shift && exec "$@"',
            str(s / "cache"), str(HOST_BLOB_CACHE), *podman,
        ]  # fmt: skip

    def podman(
        self, *args: str, netns: str | None = None, timeout: float = COMMAND_SECONDS, **where
    ) -> proc.ProcResult:
        argv = self.podman_argv(*args, **where)
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        result = proc.run(
            argv, run_id=self.run_id, wall_seconds=timeout, env=self._env(),
            output_bytes=256 * 1024, cgroup=self.group, open_files=4096,
        )  # fmt: skip
        if not result.ok:
            why = "timed out" if result.timed_out else f"exit {result.returncode}"
            text = (result.stderr or result.stdout).decode(errors="replace").strip()
            raise ImageError(f"podman {args[0]} failed ({why}): {text[-600:]}")
        return result

    # -- images -----------------------------------------------------------------------

    def image_name(self, what: str) -> str:
        return f"localhost/{name_for(self.run_id, what)}"

    def import_base(self) -> tuple[str, float]:
        """The busybox root filesystem as a one-layer base image; its name and seconds."""
        tarball = self.scratch / "tmp" / "rootfs.tar"
        subprocess.run(
            ["tar", "-C", str(container_assets.rootfs_dir()), "--exclude",
             container_assets.STAMP, "--numeric-owner", "-cf", str(tarball), "."],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        name = self.image_name("base") + ":latest"
        started = time.monotonic()
        self.podman("import", "--quiet", str(tarball), name)
        seconds = time.monotonic() - started
        tarball.unlink()
        return name, seconds

    def context(self, what: str) -> Path:
        path = self.scratch / "contexts" / what
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def build(self, context: Path, tag: str, *, no_cache: bool = False) -> Build:
        args = [
            "build", "--pull=never", "--network", "none", "--layers",
            "--runtime-flag", f"root={self.scratch / 'runc'}",
            "--cgroup-parent", f"/{cgroups.PARENT}/{self.steps_group}",
            "--memory", f"{STEP_MEMORY_MIB}m",
            *[f"--ulimit={u}" for u in ULIMITS],
            "-f", str(context / "Containerfile"), "-t", tag,
        ]  # fmt: skip
        if no_cache:
            args.append("--no-cache")
        started = time.monotonic()
        result = self.podman(*args, str(context))
        seconds = time.monotonic() - started
        return parse_build(tag, seconds, result.stdout.decode(errors="replace"))

    def layers(self, image: str) -> list[dict]:
        """The image's layers from podman's history, oldest first: the instruction
        that made each, its size in bytes, and whether it is the imported base."""
        out = self.podman("history", "--no-trunc", "--format", "json", image).stdout
        rows = []
        for entry in reversed(json.loads(out or b"[]")):
            rows.append({
                "instruction": _instruction(entry.get("CreatedBy", "")),
                "bytes": int(entry.get("size") or 0),
                "base": entry.get("comment") == "imported from tarball",
            })  # fmt: skip
        return rows

    def image_bytes(self, *images: str) -> list[int]:
        """Each image's size in bytes (its layers, uncompressed), in one podman call."""
        out = self.podman("image", "inspect", "--format", "{{.Size}}", *images).stdout
        return [int(line) for line in out.decode().split()]

    def layer_digests(self, image: str) -> list[str]:
        out = self.podman("image", "inspect", "--format", "{{json .RootFS.Layers}}", image).stdout
        return json.loads(out or b"[]")

    # -- the registry -------------------------------------------------------------------

    def start_registry(self) -> None:
        """Two namespaces cabled by a veth pair; the registry listens in one of them."""
        self.net = NetLab(self.run_id)
        reg = self.net.namespace("reg")
        self.client_ns = self.net.namespace("cli")
        reg_if, self.client_if = self.net.veth(reg, "rg", self.client_ns, "cl")
        self.net.address(reg, reg_if, f"{REGISTRY_ADDRESS}/24")
        self.net.address(self.client_ns, self.client_if, f"{CLIENT_ADDRESS}/24")
        log = open(self.scratch / "registry.log", "wb")  # noqa: SIM115 - the child keeps it
        # A cgroup of its own: podman's (every podman command is killed with its group
        # when it ends) would take the registry with it.
        self.registry_group = cgroups.create(
            name_for(self.run_id, "registry"), memory_bytes=REGISTRY_MEMORY_MIB << 20,
            pids=REGISTRY_PIDS, cpu_percent=CPU_PERCENT,
        )  # fmt: skip
        hook = proc.make_preexec(
            proc.rlimit_pairs(1024, 256 << 20, None, None), list(self.registry_group.procs_files)
        )
        try:
            self.registry = subprocess.Popen(
                ["ip", "netns", "exec", reg, REGISTRY, "serve", str(self.scratch / "registry.yml")],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=hook,
                env=proc.sandbox_env(self.run_id), start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.registry.poll() is not None:
                break
            probe = self.net.exec(
                self.client_ns,
                ["busybox", "wget", "-q", "-O", "-", f"http://{self.registry_host}/v2/"],
                timeout=3,
            )
            if probe.ok:
                return
            time.sleep(0.1)
        text = (self.scratch / "registry.log").read_text(errors="replace")[-400:]
        raise ImageError(f"the registry did not start: {text}")

    def _counters(self) -> tuple[int, int]:
        """Bytes the client side of the veth has sent and received."""
        out = subprocess.run(
            ["ip", "-n", self.client_ns, "-s", "-j", "link", "show", "dev", self.client_if],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        stats = json.loads(out)[0]["stats64"]
        return stats["tx"]["bytes"], stats["rx"]["bytes"]

    def _transfer(self, *args: str, **where) -> Transfer:
        sent, received = self._counters()
        started = time.monotonic()
        self.podman(*args, netns=self.client_ns, **where)
        seconds = time.monotonic() - started
        sent_after, received_after = self._counters()
        return Transfer(seconds, sent_after - sent, received_after - received)

    def remote(self, repository: str, tag: str) -> str:
        return f"{self.registry_host}/{name_for(self.run_id, repository)}:{tag}"

    def push(self, image: str, remote: str) -> Transfer:
        return self._transfer("push", "--tls-verify=false", "--quiet", image, remote)

    def pull(self, remote: str) -> Transfer:
        """Into the store's pull-side twin, empty at first: what a fresh host downloads."""
        return self._transfer("pull", "--tls-verify=false", "--quiet", remote, pulled=True)

    def registry_bytes(self) -> int:
        """Bytes of blobs the registry stores (each layer once, however many images)."""
        blobs = self.scratch / "registry" / "docker" / "registry" / "v2" / "blobs"
        total = 0
        for directory, _, files in os.walk(blobs):
            for name in files:
                total += os.lstat(os.path.join(directory, name)).st_size
        return total

    # -- teardown ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the registry, remove the namespaces, cgroups and the run's store. Every
        step is tried even when one before it failed (a registry that would not die,
        a busy cgroup); the first failure is raised at the end."""
        errors: list[BaseException] = []

        def attempt(step) -> None:
            try:
                step()
            except Exception as error:  # noqa: BLE001 - the rest must still go
                errors.append(error)

        if self.registry is not None:
            registry, self.registry = self.registry, None
            attempt(lambda: proc.kill_group(registry.pid))
            attempt(lambda: registry.wait(timeout=10))
        if self.net is not None:
            net, self.net = self.net, None
            attempt(net.close)
        for group in (self.registry_group, self.group):
            if group is not None:
                attempt(group.remove)
        self.group = self.registry_group = None
        attempt(lambda: cgroups.remove_named(self.steps_group))
        if os.path.lexists(self.scratch):
            attempt(lambda: remove_scratch_dir(self.scratch))
        if errors:
            raise errors[0]


def _instruction(created_by: str) -> str:
    text = created_by.removeprefix("/bin/sh -c ").strip()
    text = text.removeprefix("#(nop) ").strip()
    return text


def parse_build(tag: str, seconds: float, output: str) -> Build:
    """Steps, cache hits and the image id from ``podman build``'s own report."""
    steps = STEP_RE.findall(output)
    lines = output.splitlines()
    hits = 0
    first_rebuilt = None
    # Each "STEP n/m" line is followed, for a step taken from the cache, by
    # "--> Using cache <id>" before the next STEP line. FROM steps are not counted.
    index = 0
    for position, line in enumerate(lines):
        match = STEP_RE.match(line)
        if not match:
            continue
        index += 1
        if match.group(3).upper().startswith("FROM "):
            continue
        following = []
        for later in lines[position + 1 :]:
            if STEP_RE.match(later):
                break
            following.append(later)
        if any(CACHE_HIT_RE.match(item) for item in following):
            hits += 1
        elif first_rebuilt is None:
            first_rebuilt = index
    image_id = lines[-1].strip() if lines else ""
    return Build(
        tag=tag,
        seconds=seconds,
        steps=sum(not text.upper().startswith("FROM ") for _, _, text in steps),
        cache_hits=hits,
        first_rebuilt_step=first_rebuilt,
        image_id=image_id,
        instructions=[text for _, _, text in steps],
    )


def capabilities() -> list[Capability]:
    missing = tools_present()
    if PODMAN in missing:
        return [
            Capability("image-builder", False, "podman is not installed", INSTALL),
            Capability("image-registry", False, "needs podman first", INSTALL),
        ]
    found = version(PODMAN)
    if found is None:
        builder = Capability("image-builder", False, "podman --version failed", INSTALL)
    elif not container_assets.is_up_to_date():
        builder = Capability(
            "image-builder", False, f"{found}, but no busybox rootfs to import as a base image",
            "python manage.py build_guest_assets",
        )  # fmt: skip
    else:
        builder = Capability("image-builder", True, f"{found}, rootful, storage per run in var/")
    if REGISTRY in missing:
        registry = Capability("image-registry", False, "docker-registry is not installed", INSTALL)
    else:
        registry = Capability(
            "image-registry", True, f"{version(REGISTRY) or REGISTRY}, one per run in a namespace"
        )
    return [builder, registry]
