"""The shipped exercises' checks, run in real sandboxes: each step's check fails
before the step is done and passes after the student's commands (typed into the
terminal, as in the browser), and nothing typed in the student's shell changes what
a check runs."""

from __future__ import annotations

import itertools
import os
import shutil
import time
from pathlib import Path

import pytest
from django.conf import settings

from courseware.coursefiles.exercise_files import ExerciseSpec, parse_exercise, read_exercise_files
from courseware.exercises import check_step
from labs.sandbox import containers, reaper, terminals, vms
from labs.sandbox.limits import Limits
from labs.sandbox.naming import adhoc_run_id
from terminals.sandboxes import GUEST_MODULES
from tests.sandbox.guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox

CONTENT = Path(settings.VIRTLAB_CONTENT_DIR)
LIMITS = Limits(wall_seconds=120, memory_mib=64, pids=32)
_markers = itertools.count(1)


def exercise(lesson_dir: str, slug: str) -> ExerciseSpec:
    files, problems = read_exercise_files(CONTENT / lesson_dir)
    assert not problems
    return parse_exercise(slug, files[slug], f"{lesson_dir}/exercises/{slug}")


def step(spec: ExerciseSpec, key: str):
    return next(s for s in spec.steps if s.key == key)


def typed(terminal, command: str, timeout: float = 60.0) -> str:
    """Type ``command`` into the shell and wait until it has run: a marker the shell
    computes (so the echo of the typed line itself never matches)."""
    n = next(_markers)
    # On a line of its own: a command may end in & (started in the background).
    terminal.write(f"{command}\necho typed-$(({n} + 1000000))\n".encode())
    marker = f"typed-{n + 1000000}".encode()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen.replace(f"$(({n} + 1000000))".encode(), b""):
        assert time.monotonic() < deadline, f"no marker; the shell printed {seen[-400:]!r}"
        chunk = terminal.read()
        assert chunk is not None, f"the shell ended; it printed {seen[-400:]!r}"
        if not chunk:
            time.sleep(0.02)
        seen += chunk
    return seen.decode(errors="replace")


def outcome(terminal, spec: ExerciseSpec, key: str):
    return check_step(step(spec, key), terminal.check)


def assert_step(terminal, spec: ExerciseSpec, key: str, commands: list[str]) -> None:
    """Not done before the commands, done after them."""
    before = outcome(terminal, spec, key)
    assert not before.done, f"{key} passed before its step was done"
    assert before.message.strip()
    for command in commands:
        typed(terminal, command)
    after = outcome(terminal, spec, key)
    assert after.done, f"{key} still fails after its step: {after.message}"


# --- Sandboxes ----------------------------------------------------------------------------


@pytest.fixture
def container():
    if os.geteuid() != 0 or not shutil.which("runc"):
        pytest.skip("interactive containers need root and runc")
    ok, why = containers.probe_runtime("runc")
    if not ok:
        pytest.skip(why)
    run_id = adhoc_run_id()
    try:
        with terminals.start_terminal(run_id, LIMITS) as shell:
            typed(shell, "true")
            yield shell
    finally:
        reaper.reap(only={run_id})


@pytest.fixture(scope="module")
def vm(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    handle = vms.start_vm(
        run_id,
        vms.VMOptions(
            timeout=300, start="snapshot", terminal=True, name="term", modules=GUEST_MODULES
        ),
    )
    yield handle
    handle.stop()
    assert_vm_left_nothing(run_id)


@pytest.fixture
def vm_shell(vm):
    with vm.open_terminal() as shell:
        typed(shell, "true")
        yield shell


# --- 1. A container and a VM from the inside ------------------------------------------------


def test_inside_a_container_and_a_vm(container, vm_shell):
    spec = exercise("07-containers", "inside-a-container-and-a-vm")
    typed(container, "mkdir -p /tmp/answers")
    assert_step(container, spec, "check-container-kernel", ["uname -r > /tmp/answers/kernel"])
    assert_step(container, spec, "check-container-pid1", ["cat /proc/1/comm > /tmp/answers/pid1"])
    assert_step(
        container,
        spec,
        "check-container-rootfs",
        ["awk '$2 == \"/\" {print $3}' /proc/mounts > /tmp/answers/rootfs"],
    )
    assert_step(
        container,
        spec,
        "check-container-memory",
        ["free -m | awk '/^Mem:/ {print $2}' > /tmp/answers/memory"],
    )
    # The container's answers are not the VM's: each sandbox has its own /tmp.
    typed(vm_shell, "mkdir -p /tmp/answers")
    assert_step(
        vm_shell,
        spec,
        "check-vm-answers",
        [
            "uname -r > /tmp/answers/kernel",
            "cat /proc/1/comm > /tmp/answers/pid1",
            "awk '$2 == \"/\" {print $3}' /proc/mounts > /tmp/answers/rootfs",
            "free -m | awk '/^Mem:/ {print $2}' > /tmp/answers/memory",
        ],
    )
    assert_step(vm_shell, spec, "check-vm-pid2", ["cat /proc/2/comm > /tmp/answers/pid2"])
    # The container's answer copied into the VM step's place fails: another kernel.
    typed(vm_shell, "cp /tmp/answers/kernel /tmp/answers/kernel.vm")
    container_kernel = container.check("uname -r")[1].strip()
    typed(vm_shell, f"echo {container_kernel} > /tmp/answers/kernel")
    assert not outcome(vm_shell, spec, "check-vm-answers").done
    typed(vm_shell, "mv /tmp/answers/kernel.vm /tmp/answers/kernel")
    vm_kernel = vm_shell.check("uname -r")[1].strip()
    assert vm_kernel != container_kernel
    typed(container, f"echo {container_kernel} > /tmp/answers/vm-kernel")
    wrong = outcome(container, spec, "check-compare-kernels")
    assert not wrong.done and "container's own" in wrong.message
    assert_step(
        container, spec, "check-compare-kernels", [f"echo {vm_kernel} > /tmp/answers/vm-kernel"]
    )


def test_a_wrong_answer_says_what_is_missing(container):
    spec = exercise("07-containers", "inside-a-container-and-a-vm")
    typed(container, "mkdir -p /tmp/answers && echo 1.2.3-not-this > /tmp/answers/kernel")
    result = outcome(container, spec, "check-container-kernel")
    assert not result.done
    assert result.message == (
        "/tmp/answers/kernel holds '1.2.3-not-this', which is not the release uname -r prints here."
    )


# --- 2. A memory limit by hand --------------------------------------------------------------


def test_oom_by_hand(vm_shell):
    spec = exercise("07-containers", "oom-by-hand")
    assert_step(vm_shell, spec, "check-mounted", ["mount -t cgroup2 none /sys/fs/cgroup"])
    assert_step(
        vm_shell,
        spec,
        "check-limit",
        [
            "echo +memory > /sys/fs/cgroup/cgroup.subtree_control",
            "mkdir /sys/fs/cgroup/lab",
            "echo 20M > /sys/fs/cgroup/lab/memory.max",
        ],
    )
    assert_step(
        vm_shell,
        spec,
        "check-member",
        ["sleep 1000 &", "echo $! > /sys/fs/cgroup/lab/cgroup.procs"],
    )
    assert_step(
        vm_shell,
        spec,
        "check-oom",
        [
            "sh -c 'echo $$ > /sys/fs/cgroup/lab/cgroup.procs;"
            " exec dd if=/dev/zero of=/dev/null bs=40M count=1'"
        ],
    )
    typed(vm_shell, "mkdir -p /tmp/answers && echo sleep > /tmp/answers/killed")
    assert not outcome(vm_shell, spec, "check-killed").done
    assert_step(vm_shell, spec, "check-killed", ["echo dd > /tmp/answers/killed"])


# --- 3. Network namespaces by hand ----------------------------------------------------------


def test_namespaces_by_hand(vm_shell):
    spec = exercise("05-virtual-networking", "namespaces-by-hand")
    assert_step(
        vm_shell,
        spec,
        "check-two-namespaces",
        [
            "mkdir -p /tmp/answers",
            "unshare -n sleep 3600 &",
            "echo $! > /tmp/answers/red",
            "unshare -n sleep 3600 &",
            "echo $! > /tmp/answers/blue",
        ],
    )
    typed(vm_shell, "red=$(cat /tmp/answers/red); blue=$(cat /tmp/answers/blue)")
    # An address put in the VM's own namespace by mistake is named.
    typed(vm_shell, "nsenter -t $red -n ip link set lo up; ip addr add 10.99.0.1/32 dev lo")
    mistaken = outcome(vm_shell, spec, "check-red-address")
    assert not mistaken.done
    typed(vm_shell, "ip addr del 10.99.0.1/32 dev lo")
    assert_step(
        vm_shell,
        spec,
        "check-red-address",
        ["nsenter -t $red -n ip addr add 10.99.0.1/32 dev lo"],
    )
    assert_step(
        vm_shell,
        spec,
        "check-unreachable",
        [
            "nsenter -t $blue -n ip link set lo up",
            "nsenter -t $blue -n ip addr add 10.99.0.2/32 dev lo",
            "nsenter -t $blue -n ping -c 1 10.99.0.1 2> /tmp/answers/blue-ping",
        ],
    )
    # One end still in the VM's namespace is named.
    typed(vm_shell, "ip link add veth-red type veth; ip link set veth-red netns $red")
    assert not outcome(vm_shell, spec, "check-cable").done
    assert_step(vm_shell, spec, "check-cable", ["ip link set veth0 netns $blue"])
    # Addresses without the links up: nothing crosses yet.
    typed(vm_shell, "nsenter -t $red -n ip addr add 10.99.1.1/24 dev veth-red")
    typed(vm_shell, "nsenter -t $blue -n ip addr add 10.99.1.2/24 dev veth0")
    assert not outcome(vm_shell, spec, "check-ping-across").done
    assert_step(
        vm_shell,
        spec,
        "check-ping-across",
        ["nsenter -t $red -n ip link set veth-red up", "nsenter -t $blue -n ip link set veth0 up"],
    )


# --- What the student types cannot change a check -----------------------------------------

SHADOWS = [
    # A fake `check`, `uname` and `sh` first on PATH, and a shell function and an alias
    # named sh: all only in the student's shell.
    "mkdir -p /tmp/bin",
    "printf '#!/bin/sh\\necho fake\\nexit 0\\n' > /tmp/bin/check",
    "cp /tmp/bin/check /tmp/bin/uname; cp /tmp/bin/check /tmp/bin/sh",
    "chmod +x /tmp/bin/check /tmp/bin/uname /tmp/bin/sh",
    "export PATH=/tmp/bin:$PATH",
    "sh() { echo fake; return 0; }",
    "alias uname='echo fake'",
    "mkdir -p /tmp/answers && echo fake > /tmp/answers/kernel",
]


def test_a_shadowed_shell_or_fake_check_in_the_container_changes_nothing(container):
    spec = exercise("07-containers", "inside-a-container-and-a-vm")
    for command in SHADOWS:
        typed(container, command)
    assert "fake" in typed(container, "uname -r")  # the student's shell is fooled
    assert not outcome(container, spec, "check-container-kernel").done  # the check is not
    typed(container, "busybox uname -r > /tmp/answers/kernel")
    assert outcome(container, spec, "check-container-kernel").done


def test_a_shadowed_shell_or_fake_check_in_the_vm_changes_nothing(vm_shell):
    spec = exercise("07-containers", "inside-a-container-and-a-vm")
    for command in SHADOWS:
        typed(vm_shell, command)
    assert "fake" in typed(vm_shell, "uname -r")
    for name in ("pid1", "rootfs", "memory"):  # answers to the other questions, right
        typed(vm_shell, f"rm -f /tmp/answers/{name}")
    typed(vm_shell, "cat /proc/1/comm > /tmp/answers/pid1")
    typed(vm_shell, "awk '$2 == \"/\" {print $3}' /proc/mounts > /tmp/answers/rootfs")
    typed(vm_shell, "free -m | awk '/^Mem:/ {print $2}' > /tmp/answers/memory")
    result = outcome(vm_shell, spec, "check-vm-answers")
    assert not result.done and "kernel" in result.message
    typed(vm_shell, "busybox uname -r > /tmp/answers/kernel")
    assert outcome(vm_shell, spec, "check-vm-answers").done
