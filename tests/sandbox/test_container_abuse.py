"""Hostile workloads in real containers: each must be contained, the limit that
stopped it reported, and nothing named after the run may remain afterwards."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labs.sandbox import containers, userns
from labs.sandbox.limits import Limits

pytestmark = pytest.mark.sandbox

MIB = 1 << 20


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def test_fork_bomb_hits_the_pids_limit(run_id, runtime, no_leftovers):
    limits = Limits(wall_seconds=15, pids=24)
    result = containers.run_container(
        run_id, sh("f(){ f|f& }; f; sleep 1; echo survived; exit 1"), limits, runtime=runtime
    )
    assert "pids" in result.limits_hit
    assert result.stopped_by == "pids"
    assert b"fork" in result.stderr
    no_leftovers(run_id)


def test_memory_bomb_is_oom_killed(run_id, runtime, no_leftovers):
    limits = Limits(wall_seconds=15, memory_mib=32)
    # Command substitution keeps every byte in the shell's memory, touching the pages.
    result = containers.run_container(
        run_id,
        sh("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}"),
        limits,
        runtime=runtime,
    )
    assert result.oom_killed
    assert result.stopped_by == "memory"
    assert result.peak_memory_bytes <= 32 * MIB
    assert b"200000000" not in result.stdout
    no_leftovers(run_id)


def test_filling_the_tmpfs_stops_at_its_size(run_id, runtime, no_leftovers):
    limits = Limits(wall_seconds=15, tmpfs_mib=4, file_size_mib=64)
    result = containers.run_container(
        run_id, sh("dd if=/dev/zero of=/tmp/fill bs=1M count=50"), limits, runtime=runtime
    )
    assert result.exit_code != 0
    assert "tmpfs" in result.limits_hit
    assert result.stopped_by == "tmpfs"
    assert b"No space left on device" in result.stderr
    no_leftovers(run_id)


def test_one_huge_file_hits_the_file_size_limit(run_id, runtime, no_leftovers):
    limits = Limits(wall_seconds=15, tmpfs_mib=32, file_size_mib=2)
    script = (
        "dd if=/dev/zero of=/tmp/big bs=1M count=20 2>/dev/null; rc=$?; wc -c < /tmp/big; exit $rc"
    )
    result = containers.run_container(run_id, sh(script), limits, runtime=runtime)
    assert result.stopped_by == "file_size"
    assert int(result.stdout.split()[-1]) <= 2 * MIB
    no_leftovers(run_id)


@pytest.mark.parametrize("writer", ["yes", "cat /dev/zero"], ids=["lines", "no-newlines"])
def test_endless_output_is_truncated_and_stopped(run_id, runtime, no_leftovers, writer):
    limits = Limits(wall_seconds=20, output_bytes=4096)
    result = containers.run_container(run_id, sh(f"echo START; {writer}"), limits, runtime=runtime)
    assert result.truncated
    assert result.stopped_by == "output"
    assert len(result.stdout) + len(result.stderr) <= 4096
    assert result.stdout.startswith(b"START\n")
    assert result.output_bytes_seen > 4096
    no_leftovers(run_id)


@pytest.mark.exclusive  # an uncapped loop against a capped one: needs the cores to itself
def test_busy_loop_is_held_to_its_cpu_quota(run_id, runtime, no_leftovers):
    def burn(percent: int) -> containers.ContainerResult:
        limits = Limits(wall_seconds=1.5, cpu_percent=percent)
        return containers.run_container(
            run_id, sh("while :; do :; done"), limits, runtime=runtime, name=f"cpu{percent}"
        )

    with ThreadPoolExecutor(2) as pool:
        capped, full = pool.map(burn, [20, 100])
    assert capped.stopped_by == full.stopped_by == "wall"
    assert "cpu" in capped.limits_hit
    # Loose ratios only: 20 % of a core gives well under half a core, and clearly
    # less than the uncapped loop running beside it.
    assert capped.cpu_seconds < 0.5 * capped.wall_seconds
    assert full.cpu_seconds > 2 * capped.cpu_seconds
    no_leftovers(run_id)


def test_sleeping_past_the_wall_limit_is_killed(run_id, runtime, no_leftovers):
    result = containers.run_container(
        run_id, sh("echo started; sleep 60"), Limits(wall_seconds=1), runtime=runtime
    )
    assert result.timed_out
    assert result.stopped_by == "wall"
    assert result.stdout == b"started\n"
    assert result.wall_seconds < 30
    no_leftovers(run_id)


def test_a_setsid_child_does_not_outlive_the_run(run_id, runtime, no_leftovers):
    # The child reports once it has its own session; the parent waits for that and leaves.
    script = (
        "(setsid sh -c 'echo escaped; exec sleep 60 >/dev/null 2>&1' &) | head -n 1; "
        "echo parent-leaves"
    )
    result = containers.run_container(run_id, sh(script), Limits(wall_seconds=10), runtime=runtime)
    assert result.exit_code == 0
    assert result.stdout == b"escaped\nparent-leaves\n"
    assert result.wall_seconds < 10  # the run ended with the parent, not at the wall limit
    no_leftovers(run_id)


@pytest.fixture
def host_listener():
    """A TCP port on the host's loopback standing for the web app; counts connections."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[tuple] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(peer)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def test_no_network_reaches_the_host_or_outside(run_id, runtime, no_leftovers, host_listener):
    port, accepted = host_listener
    # 192.0.2.1 is TEST-NET-1; with no route in the empty namespace nothing is sent.
    script = f"""
        ip -o link | cut -d: -f2
        ip route | grep . && echo HAS-ROUTE
        nc -w 1 127.0.0.1 {port} </dev/null && echo HOST-LOOPBACK-REACHED
        wget -q -T 1 -O - http://127.0.0.1:{port}/ && echo HOST-WEB-REACHED
        nc -w 1 192.0.2.1 80 </dev/null && echo OUTSIDE-REACHED
        wget -q -T 1 -O - http://192.0.2.1/ && echo OUTSIDE-WEB-REACHED
        echo done
    """
    result = containers.run_container(run_id, sh(script), Limits(wall_seconds=20), runtime=runtime)
    output = result.stdout.decode()
    assert output.split() == ["lo", "done"]
    assert "REACHED" not in output and "HAS-ROUTE" not in output
    assert accepted == []
    assert b"unreachable" in result.stderr.lower() or b"refused" in result.stderr.lower()
    no_leftovers(run_id)


def test_host_proc_sys_and_mount_are_out_of_reach(run_id, runtime, no_leftovers):
    host_pid = os.getpid()
    script = f"""
        ls /proc | grep -c '^[0-9]'
        test -e /proc/{host_pid}/cmdline && echo SEES-HOST-PID
        head -c 16 /proc/kcore 2>/dev/null | wc -c
        echo 1 > /proc/sys/kernel/sysrq && echo PROC-SYS-WRITABLE
        echo x > /sys/kernel/uevent_helper 2>/dev/null && echo SYS-WRITABLE
        mount -t tmpfs none /tmp && echo MOUNTED
        mount -t proc proc /proc && echo MOUNTED
        mount --bind / /tmp && echo MOUNTED
        cat /proc/self/cgroup | grep -v ':/$' | grep virtlab && echo SEES-HOST-CGROUPS
        echo end
    """
    result = containers.run_container(run_id, sh(script), Limits(wall_seconds=20), runtime=runtime)
    lines = result.stdout.decode().split()
    assert lines[-1] == "end"
    assert int(lines[0]) < 10  # only the container's own processes
    assert lines[1] == "0"  # /proc/kcore gives nothing
    for marker in ("SEES-HOST-PID", "WRITABLE", "MOUNTED", "SEES-HOST-CGROUPS"):
        assert marker not in result.stdout.decode()
    assert b"mount" in result.stderr
    no_leftovers(run_id)


def test_cleanup_does_not_follow_planted_symlinks(run_id, runtime, no_leftovers, tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("precious")
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    (host_dir / "inside").write_text("also precious")
    script = f"""
        ln -s {secret} /tmp/evil-file; ln -s {host_dir} /tmp/evil-dir
        mkdir /tmp/d; ln -s {host_dir} /tmp/d/deeper; ln -s / /tmp/root
        cat /tmp/evil-file || echo cannot-read; echo planted; sleep 60
    """
    handle = containers.start_container(
        run_id, sh(script), Limits(wall_seconds=20), runtime=runtime
    )
    try:
        planted = handle.scratch / "tmp" / "evil-dir"
        for _ in range(500):
            if os.path.islink(handle.scratch / "tmp" / "root"):
                break
            time.sleep(0.01)
        # The host sees the links the container made in its scratch tmpfs…
        assert os.readlink(planted) == str(host_dir)
    finally:
        handle.stop()  # …and its cleanup walks them without following.
    assert secret.read_text() == "precious"
    assert (host_dir / "inside").read_text() == "also precious"
    assert not handle.scratch.exists()
    no_leftovers(run_id)


def test_planted_links_are_not_readable_inside(run_id, runtime, no_leftovers, tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("precious")
    result = containers.run_container(
        run_id,
        sh(f"ln -s {secret} /tmp/evil; cat /tmp/evil || echo cannot-read"),
        Limits(wall_seconds=10),
        runtime=runtime,
    )
    assert b"precious" not in result.stdout and b"cannot-read" in result.stdout
    assert secret.read_text() == "precious"
    no_leftovers(run_id)


def test_thousands_of_file_descriptors_hit_nofile(run_id, runtime, no_leftovers):
    # busybox tail opens every file it is given before reading any of them.
    script = (
        "ulimit -n; i=0; while [ $i -lt 2000 ]; do : > /tmp/f$i; i=$((i+1)); done; "
        "tail -q -n 0 /tmp/f*"
    )
    result = containers.run_container(
        run_id, sh(script), Limits(wall_seconds=20, open_files=256), runtime=runtime
    )
    assert result.stdout.split()[0] == b"256"
    assert b"Too many open files" in result.stderr
    assert "open_files" in result.limits_hit
    assert result.stopped_by == "open_files"
    no_leftovers(run_id)


THREAD_BOMB = """
import threading, time
started = 0
try:
    for _ in range(1000):
        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
        started += 1
except RuntimeError as error:
    print("stopped after", started, error)
    raise SystemExit(3)
print("all started")
"""


@pytest.mark.skipif(
    not os.path.exists("/usr/bin/python3"), reason="needs the host's python3 to bind in"
)
def test_threads_past_the_pids_limit(run_id, runtime, no_leftovers):
    limits = Limits(wall_seconds=20, pids=32)
    result = containers.run_container(
        run_id,
        ["/usr/bin/python3", "-c", THREAD_BOMB],
        limits,
        runtime=runtime,
        ro_binds={"/usr": "/usr"},
    )
    assert b"stopped after" in result.stdout, result.stderr
    assert int(result.stdout.split()[2]) < 32
    assert "pids" in result.limits_hit
    assert result.stopped_by == "pids"
    no_leftovers(run_id)


def test_twenty_containers_at_once(run_id, runtime, no_leftovers):
    limits = Limits(wall_seconds=30, memory_mib=32, pids=16)

    def one(index: int) -> containers.ContainerResult:
        return containers.run_container(
            run_id, sh("echo up; sleep 0.2; echo done"), limits, runtime=runtime, name=f"c{index}"
        )

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    for result in results:
        assert (
            result.exit_code == 0 and result.stdout == b"up\ndone\n"
        ) or result.stopped_by is not None
    assert sum(result.exit_code == 0 for result in results) >= 10
    no_leftovers(run_id)


# Opening for writing is the whole test: nothing is ever written, so a sandbox that
# failed it would still leave the host's settings as they were.
HOST_KNOBS = (
    "/proc/sys/kernel/core_pattern",
    "/proc/sys/kernel/modprobe",
    "/proc/sys/vm/overcommit_ratio",
    "/proc/sys/vm/drop_caches",
    "/proc/sys/fs/file-max",
    "/proc/sysrq-trigger",
    "/sys/kernel/uevent_helper",
    "/sys/kernel/mm/transparent_hugepage/enabled",
)


def test_host_kernel_settings_cannot_be_opened_for_writing(run_id, runtime, no_leftovers):
    core_pattern_before = Path("/proc/sys/kernel/core_pattern").read_text()
    script = "".join(f"(exec 3>>{knob}) 2>/dev/null && echo OPENED:{knob}; " for knob in HOST_KNOBS)
    script += "cat /proc/sys/kernel/core_pattern >/dev/null && echo readable; echo end"
    result = containers.run_container(run_id, sh(script), Limits(wall_seconds=20), runtime=runtime)
    output = result.stdout.decode()
    assert output.split()[-2:] == ["readable", "end"], result.stderr
    assert "OPENED" not in output
    assert Path("/proc/sys/kernel/core_pattern").read_text() == core_pattern_before
    no_leftovers(run_id)


def test_container_root_is_an_unprivileged_host_uid(run_id, runtime, no_leftovers):
    if runtime == "bwrap" and not userns.unprivileged_bwrap_works()[0]:
        pytest.skip(userns.unprivileged_bwrap_works()[1])
    script = "id -u; cat /proc/self/uid_map; echo hello > /tmp/owned; echo written; sleep 30"
    handle = containers.start_container(
        run_id, sh(script), Limits(wall_seconds=20), runtime=runtime
    )
    try:
        written = handle.scratch / "tmp" / "owned"
        for _ in range(500):
            if written.exists() and written.stat().st_size:
                break
            time.sleep(0.01)
        owner = written.stat()
    finally:
        handle.stop()
    assert owner.st_uid == userns.SANDBOX_UID != 0
    assert owner.st_gid == userns.SANDBOX_UID
    no_leftovers(run_id)


def test_uid_map_inside_names_the_sandbox_uid(run_id, runtime, no_leftovers):
    if runtime == "bwrap" and not userns.unprivileged_bwrap_works()[0]:
        pytest.skip(userns.unprivileged_bwrap_works()[1])
    result = containers.run_container(
        run_id, sh("id -u; cat /proc/self/uid_map"), Limits(wall_seconds=10), runtime=runtime
    )
    inside_uid, _, host_uid, _count = result.stdout.split()
    assert inside_uid == b"0"  # root to the programs inside…
    assert int(host_uid) == userns.SANDBOX_UID  # …an unprivileged uid to the host
    no_leftovers(run_id)


# Each call is made with arguments that would succeed (or fail differently) without
# the filter, so EPERM can only come from seccomp.
SYSCALL_PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
calls = {
    "keyctl": (250, 0, 0, 0, 0, 0),             # KEYCTL_GET_KEYRING_ID
    "add_key": (248, b"user", b"k", b"v", 1, -2),  # into the session keyring
    "bpf": (321, 0, 0, 0),
    "perf_event_open": (298, 0, 0, -1, -1, 0),
    "userfaultfd": (323, 0),
    "unshare-user": (272, 0x10000000),
    "mount": (165, b"none", b"/tmp", b"tmpfs", 0, 0),
    "clone-newuser": (56, 0x10000000 | 17, 0, 0, 0, 0),
    "setns": (308, 0, 0),
    "io_uring_setup": (425, 1, 0),
}
for name, args in calls.items():
    ctypes.set_errno(0)
    value = libc.syscall(*args)
    if value == 0 and name == "clone-newuser":
        os._exit(0)  # the child of a clone that should never have happened
    print(name, value, ctypes.get_errno())
with open("/proc/self/status") as status:
    print("mode", next(line.split()[1] for line in status if line.startswith("Seccomp:")))
"""


@pytest.mark.skipif(
    not os.path.exists("/usr/bin/python3"), reason="needs the host's python3 to bind in"
)
def test_seccomp_refuses_what_container_defaults_refuse(run_id, runtime, no_leftovers):
    result = containers.run_container(
        run_id,
        ["/usr/bin/python3", "-c", SYSCALL_PROBE],
        Limits(wall_seconds=20),
        runtime=runtime,
        ro_binds={"/usr": "/usr"},
    )
    lines = dict(line.split(" ", 1) for line in result.stdout.decode().splitlines())
    assert lines.pop("mode") == "2", result.stderr  # 2 = a seccomp filter is active
    refused = {name: outcome.split() for name, outcome in lines.items()}
    assert len(refused) == 10, result.stderr
    for name, (value, error) in refused.items():
        assert (value, int(error)) == ("-1", errno.EPERM), f"{name}: {value} {error}"
    no_leftovers(run_id)


def test_shell_tools_cannot_unshare_or_mount(run_id, runtime, no_leftovers):
    script = "unshare -U true && echo UNSHARED; unshare -n true && echo UNSHARED; mount -t tmpfs none /tmp && echo MOUNTED; echo end"
    result = containers.run_container(run_id, sh(script), Limits(wall_seconds=10), runtime=runtime)
    assert result.stdout.split() == [b"end"], result.stderr
    assert b"Operation not permitted" in result.stderr or b"permission denied" in result.stderr
    no_leftovers(run_id)
