"""The container driver's normal behaviour, on every runtime that works here."""

from __future__ import annotations

import pytest

from labs.sandbox import container_assets, containers, reaper
from labs.sandbox.limits import Limits
from labs.sandbox.naming import name_for, run_prefix

pytestmark = pytest.mark.sandbox

LIMITS = Limits(wall_seconds=20, memory_mib=64, pids=32)


def test_runs_a_command_and_measures_it(run_id, runtime, no_leftovers):
    result = containers.run_container(
        run_id,
        ["sh", "-c", "echo READY; hostname; echo $VIRTLAB_RUN; exit 7"],
        LIMITS,
        runtime=runtime,
    )
    assert result.exit_code == 7
    assert result.stdout.decode().split() == ["READY", name_for(run_id, "c0"), run_prefix(run_id)]
    assert result.runtime == runtime and result.runtime_version
    assert result.stopped_by is None and not result.timed_out and not result.oom_killed
    assert 0 < result.start_latency_seconds <= result.wall_seconds
    assert result.peak_memory_bytes and result.peak_memory_bytes < LIMITS.memory_mib << 20
    assert result.cpu_seconds is not None
    no_leftovers(run_id)


def test_hostname_stdin_and_readonly_root(run_id, runtime, no_leftovers):
    result = containers.run_container(
        run_id,
        [
            "sh",
            "-c",
            "hostname; cat; touch /etc/x && echo ROOT-WRITABLE; echo ok > /tmp/f && cat /tmp/f",
        ],
        LIMITS,
        runtime=runtime,
        hostname="lab-box",
        stdin=b"from stdin\n",
    )
    assert result.stdout.decode().split("\n")[:3] == ["lab-box", "from stdin", "ok"]
    assert b"ROOT-WRITABLE" not in result.stdout
    assert b"Read-only file system" in result.stderr
    no_leftovers(run_id)


def test_no_capabilities_and_no_new_privileges(run_id, runtime, no_leftovers):
    result = containers.run_container(
        run_id,
        ["sh", "-c", "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"],
        LIMITS,
        runtime=runtime,
    )
    status = dict(line.split(":\t") for line in result.stdout.decode().splitlines())
    assert int(status["CapEff"], 16) == 0
    assert int(status["CapBnd"], 16) == 0
    if runtime != "bwrap":  # bwrap sets no_new_privs only when it drops to a user
        assert status["NoNewPrivs"].strip() == "1"
    no_leftovers(run_id)


def test_a_long_lived_container_reports_memory_and_stops(run_id, runtime, no_leftovers):
    handles = [
        containers.start_container(
            run_id, ["sleep", "60"], LIMITS, runtime=runtime, name=f"c{index}"
        )
        for index in range(3)
    ]
    try:
        assert all(handle.alive() for handle in handles)
        assert all((handle.memory_bytes() or 0) > 0 for handle in handles)
        assert all(handle.start_seconds is not None for handle in handles)
        assert len(reaper.inventory(only={run_id})["scratch_dirs"]) == 3
    finally:
        for handle in handles:
            handle.stop()
    assert not any(handle.alive() for handle in handles)
    no_leftovers(run_id)


def test_a_long_lived_container_still_has_a_wall_limit(run_id, runtime, no_leftovers):
    handle = containers.start_container(
        run_id, ["sleep", "60"], Limits(wall_seconds=2), runtime=runtime
    )
    handle._timer.join(timeout=10)
    assert not handle.alive()
    no_leftovers(run_id)


def test_the_reaper_cleans_up_after_a_driver_crash(run_id, runc, no_leftovers):
    # Simulate a worker dying mid-run: a started container is never stopped.
    handle = containers.start_container(run_id, ["sleep", "60"], LIMITS, runtime=runc)
    handle._timer.cancel()
    assert reaper.inventory(only={run_id})["containers"]
    report = reaper.reap(only={run_id})
    assert report.containers and report.cgroups and report.mounts and report.scratch_dirs
    assert not report.errors
    no_leftovers(run_id)


def test_rootfs_build_is_idempotent_and_sized(rootfs):
    assert "up to date" in container_assets.build()
    assert container_assets.rootfs_size_bytes() > 1_000_000
    assert {"sh", "nc", "dd", "tail"} <= set(container_assets.applets())
    [capability] = container_assets.capabilities()
    assert capability.ok


def test_a_rebuild_keeps_the_tree_running_containers_use(tmp_path, monkeypatch):
    """The old tree is swapped out, not deleted: a running container has it as its root.
    Trees retired long ago are removed by a later build."""
    monkeypatch.setenv("VIRTLAB_VAR", str(tmp_path))
    assert "built" in container_assets.build()
    in_use = container_assets.rootfs_dir() / "bin" / "busybox"
    ancient = tmp_path / "guest" / "rootfs.retired-1000"
    (ancient / "bin").mkdir(parents=True)
    assert "built" in container_assets.build(force=True)
    retired = [p for p in (tmp_path / "guest").glob("rootfs.retired-*") if p != ancient]
    assert len(retired) == 1 and (retired[0] / "bin" / "busybox").is_file()
    assert in_use.is_file() and not ancient.exists()
    assert "up to date" in container_assets.build()


def test_capabilities_report_the_runtimes(runc):
    found = {capability.name: capability for capability in containers.capabilities()}
    assert found["container-runtime"].ok
    assert found["runc"].ok and "runc" in found["runc"].detail
    assert all(capability.install for capability in found.values() if not capability.ok)


def test_auto_picks_a_runtime_that_works(run_id, runc, no_leftovers):
    result = containers.run_container(run_id, ["echo", "auto"], LIMITS)
    assert result.stdout == b"auto\n"
    assert result.runtime == containers.choose_runtime()
    assert containers.probe_runtime(result.runtime)[0]
    no_leftovers(run_id)


def test_a_failed_bundle_write_leaves_no_tmpfs_or_group(run_id, runc, no_leftovers, monkeypatch):
    def refuse(scratch, config):
        raise OSError("disk full")

    monkeypatch.setattr(container_assets, "write_bundle", refuse)
    with pytest.raises(OSError, match="disk full"):
        containers.run_container(run_id, ["true"], LIMITS, runtime="runc")
    no_leftovers(run_id)


def test_a_failing_clean_up_step_still_removes_tmpfs_and_group(
    run_id, runtime, no_leftovers, monkeypatch
):
    from labs.sandbox import container_setup

    def broken_kill_all(self):
        raise OSError("cgroup.procs unreadable")

    handle = containers.start_container(run_id, ["sleep", "30"], LIMITS, runtime=runtime)
    monkeypatch.setattr(container_setup.cgroups.Cgroup, "kill_all", broken_kill_all)
    try:
        with pytest.raises(OSError, match="unreadable"):
            container_setup.cleanup(runtime, handle.cid, handle.scratch, handle.group)
        left = reaper.inventory(only={run_id})
        assert not (left["cgroups"] or left["mounts"] or left["scratch_dirs"]), left
    finally:
        monkeypatch.undo()
        handle.stop()
    no_leftovers(run_id)
