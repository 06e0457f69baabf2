"""Run names: every resource carries ``vl<run id>-`` so the reaper can find it."""

from __future__ import annotations

import pytest

from labs.sandbox import naming

pytestmark = pytest.mark.sandbox


def test_names_carry_the_run_id():
    assert naming.name_for(12, "c0") == "vl12-c0"
    assert naming.run_id_of("vl12-c0") == 12
    assert naming.run_id_of(naming.name_for(900_000_123, "vm1")) == 900_000_123


@pytest.mark.parametrize(
    "name", ["vlx-c0", "xvl12-c0", "vl-c0", "vl12", "VL12-c0", "", "lo", "eth0"]
)
def test_lookalikes_are_not_ours(name):
    assert naming.run_id_of(name) is None


@pytest.mark.parametrize("part", ["", "a/b", "a b", "../x", "c0\n"])
def test_bad_parts_are_refused(part):
    with pytest.raises(ValueError):
        naming.name_for(1, part)


def test_short_names_fit_an_interface():
    assert len(naming.short_name(naming.adhoc_run_id(), "h")) <= naming.IFNAMSIZ_MAX
    with pytest.raises(ValueError):
        naming.short_name(123_456_789, "veth-too-long")


def test_adhoc_ids_are_distinct_and_large():
    ids = {naming.adhoc_run_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(900_000_000 <= value < 1_000_000_000 for value in ids)
