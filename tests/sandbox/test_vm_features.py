"""Snapshots and live migration of real guests (state checked inside the guest)."""

from __future__ import annotations

import pytest

from labs.sandbox import vm_features
from labs.sandbox.naming import adhoc_run_id

from .guest_fixtures import assert_vm_left_nothing, built_assets, qemu  # noqa: F401

pytestmark = pytest.mark.sandbox


def test_loadvm_brings_back_the_state_saved_by_savevm(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    result = vm_features.snapshot_roundtrip(run_id)
    assert result.restored
    assert result.vm_state_bytes > 1 << 20
    assert result.save_seconds > 0 and result.load_seconds > 0
    assert_vm_left_nothing(run_id)


def test_live_migration_keeps_the_guest_running(qemu):  # noqa: F811
    run_id = adhoc_run_id()
    result = vm_features.migrate_vm(run_id)
    assert result.status == "completed"
    assert result.guest_alive_after
    assert result.transferred_bytes > 1 << 20
    assert 0 <= result.downtime_ms <= result.total_ms
    assert_vm_left_nothing(run_id)
