"""desktop-capacity on the real host: users log in on one RDS session host and get a VM
each (VDI); the relations that must hold between the two models are checked, the cost
model is checked against its formula, and nothing is left behind."""

from __future__ import annotations

import math

import pytest

from labs.experiments import desktop_capacity, get_lab
from labs.experiments.base import RunContext
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox import reaper

SMALL = {
    "max_users": 2,
    "session_mib": 4,
    "rds_memory_mib": 192,
    "vdi_memory_mib": 128,
    "idle_seconds": 0.5,
    "busy_iterations": 5000,
}


@pytest.mark.sandbox
def test_vdi_costs_more_memory_per_user_than_rds(db, host_capabilities):
    lab = get_lab("desktop-capacity")
    params, errors = lab.validate(SMALL)
    assert not errors
    run = LabRun.objects.create(lab=lab.slug, params=params)
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    rows = {(s["model"], s["users"]): s for s in run.samples}
    assert set(rows) == {("rds", 1), ("rds", 2), ("vdi", 1), ("vdi", 2)}
    for (model, users), row in rows.items():
        # Every user's session really ran, under its own user id, in the right VMs.
        assert row["sessions_running"] == users
        assert row["vms"] == (1 if model == "rds" else users)
        assert row["sessions_guest_mib"] >= users * SMALL["session_mib"]
        assert row["busy_cpu_seconds"] > 0
        assert row["ready_seconds"] > 0
    # VDI: the ready time is its VM's boot plus the login.
    for users in (1, 2):
        vdi = rows[("vdi", users)]
        assert vdi["ready_seconds"] >= vdi["boot_seconds"] + vdi["login_seconds"] - 0.01
    # One VM per user: a second user costs about a whole VM more; a second session
    # costs far less than that.
    rds_growth = rows[("rds", 2)]["pss_mib"] - rows[("rds", 1)]["pss_mib"]
    vdi_growth = rows[("vdi", 2)]["pss_mib"] - rows[("vdi", 1)]["pss_mib"]
    assert vdi_growth > 3 * max(rds_growth, 1)
    assert rows[("vdi", 2)]["pss_mib_per_user"] > rows[("rds", 2)]["pss_mib_per_user"]

    summary = run.summary
    assert summary["vdi_over_rds_memory_per_user"] > 1
    assert summary["vdi_memory_per_user_mib"] > summary["rds_memory_per_user_mib"]
    assert summary["users_measured"] == 2
    assert set(summary) <= lab.summary_keys
    if summary["rds_users_per_host"] is not None:
        assert summary["rds_users_per_host"] > summary["vdi_users_per_host"] > 0
        # The cost model is its formula of the measured density and the prices.
        servers = math.ceil(params["users"] / summary["vdi_users_per_host"])
        assert summary["vdi_cost_month"] == pytest.approx(servers * params["server_month"])
    daas = (
        params["users"] * params["daas_vm_hour"] * params["hours_per_day"]
        * params["days_per_month"]
    )  # fmt: skip
    assert summary["daas_cost_month"] == pytest.approx(daas)
    assert lab.figure(run.samples, summary, run.host_facts).data
    assert not any(reaper.inventory(only={run.sandbox_id}).values())


def test_out_of_bounds_parameters_are_refused():
    lab = get_lab("desktop-capacity")
    _, errors = lab.validate(
        {
            **SMALL,
            "max_users": 0,
            "session_mib": 64,
            "vdi_memory_mib": 32,
            "idle_seconds": 60,
            "host_gib": 0,
            "hours_per_day": 25,
            "daas_vm_hour": -1,
        }
    )
    assert set(errors) == {
        "max_users",
        "session_mib",
        "vdi_memory_mib",
        "idle_seconds",
        "host_gib",
        "hours_per_day",
        "daas_vm_hour",
    }
    _, errors = lab.validate({"max_users": 99, "users": 1.5})
    assert set(errors) == {"max_users", "users"}
    assert lab.validate({})[1] == {}


def test_a_session_host_too_small_for_its_users_is_refused_before_anything_starts():
    lab = get_lab("desktop-capacity")
    params, errors = lab.validate({"max_users": 1, "session_mib": 16, "rds_memory_mib": 128})
    assert not errors  # each bound alone holds; together they do not fit
    params["max_users"] = 6  # as if the host had room for six VDI guests
    with pytest.raises(RuntimeError, match="session host"):
        next(lab.run(params, RunContext(run_id=1)))


def test_the_derived_figures_are_formulas_of_the_measured_ones():
    assert desktop_capacity.fit_line([(1, 10.0)]) is None  # one point: no slope
    base, slope = desktop_capacity.fit_line([(1, 210.0), (2, 410.0), (3, 610.0)])
    assert (base, slope) == (pytest.approx(10.0), pytest.approx(200.0))
    assert desktop_capacity.users_per_host(1024, (24.0, 200.0)) == 5
    assert desktop_capacity.users_per_host(1024, (24.0, -1.0)) is None
    assert desktop_capacity.users_per_host(1024, None) is None
    costs = desktop_capacity.monthly_costs(
        {"users": 11, "server_month": 100.0, "daas_vm_hour": 0.5, "hours_per_day": 8,
         "days_per_month": 20},
        rds_per_host=10,
        vdi_per_host=None,
    )  # fmt: skip
    assert costs["rds_servers"] == 2 and costs["rds_cost_month"] == 200.0
    assert costs["vdi_servers"] is None and costs["vdi_cost_month"] is None
    assert costs["daas_cost_month"] == 11 * 0.5 * 8 * 20
    assert costs["daas_over_rds_cost"] == pytest.approx(880 / 200)
