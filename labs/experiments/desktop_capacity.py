"""desktop-capacity: RDS against VDI on this host, measured, and what DaaS would cost.

RDS (session-based): one VM, the session host, in which users 1..K log in one after
the other, each a login shell (``su -l``) under its own user id running a small
desktop-like session: a shell holding some MiB of data (an open document) and two
idle helper processes (a panel, a clock). VDI: one VM per user, each with one such
session, booted when its user arrives. After each user the lab measures, on the host:
the PSS of all QEMU processes, the CPU time (utime + stime from /proc) those processes
use while every session idles for a while and while every session runs the same
fixed busy burst, and the time until that user's session was ready (host wall time
from the request to the session's ready mark; for VDI the VM's boot plus the login).

The summary derives memory per user, the marginal memory of one more user (the
least-squares slope over U = 1..K), an extrapolation of users per host for a host
size the student chooses, and a monthly cost model (own hardware for RDS and VDI
against DaaS) from those measured densities and the student's prices.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

from labs.sandbox import vms

from .base import NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .desktop_capacity_figure import figure
from .guests import MIB, MIN_GUEST_MIB, VM_BOOT_TIMEOUT, boot_with_retry, kept_alive, stopping
from .stats import ratio_or_none, rounded

MAX_USERS = 6
MAX_VDI_MIB = 256
MAX_RDS_MIB = 1024
SETTLE_SECONDS = 0.5  # the new session's first page faults land before memory is read
FIRST_UID = 1000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # /proc/<pid>/stat counts CPU time in these
MODELS = {"rds": "RDS (one session host)", "vdi": "VDI (one VM per user)"}


def _max_users() -> int:
    """At most 6, and no more VDI guests of the largest size than the host holds now."""
    per_vm = MAX_VDI_MIB + vms.QEMU_OVERHEAD_MIB
    return max(1, min(MAX_USERS, vms.host_capacity()["memory_mib"] // per_vm))


PARAMS = (
    Param("max_users", "Users (K)", 3, 1, _max_users,
          "Log in users 1, 2, … K on one RDS session host, then give users 1, 2, … K a VM "
          "each (VDI), all kept running together (at most 6, and no more VMs than this "
          "host's free memory holds)."),
    Param("session_mib", "Memory each session holds", 8, 1, 16,
          "Data each user's session keeps in memory, like an open document.", "MiB"),
    Param("rds_memory_mib", "RDS session host memory", 256, 128, MAX_RDS_MIB,
          "RAM of the one RDS VM; it must hold K sessions.", "MiB"),
    Param("vdi_memory_mib", "VDI desktop memory", 128, MIN_GUEST_MIB, MAX_VDI_MIB,
          f"RAM of each user's VDI VM, {MIN_GUEST_MIB}–{MAX_VDI_MIB} MiB.", "MiB"),
    Param("idle_seconds", "Idle window", 2.0, 0.5, 10.0,
          "How long the host CPU time of the idle sessions is measured.", "s", float),
    Param("busy_iterations", "Busy burst per user", 20000, 1000, 200000,
          "Steps of a shell loop every user runs at the same time (the busy workload).",
          "steps"),
    Param("host_gib", "Host size for the extrapolation", 64, 1, 4096,
          "Memory of the server the density is extrapolated to.", "GiB"),
    Param("users", "Users to cost", 1000, 1, 100000,
          "How many desktop users the monthly cost model is for.", "users"),
    Param("server_month", "Own server, per month", 400.0, 0.0, 100000.0,
          "What one server of that size costs you per month: hardware written off, "
          "power, space, licences, admin time.", "€", float),
    Param("daas_vm_hour", "DaaS price per desktop-hour", 0.40, 0.0, 100.0,
          "What the DaaS provider charges per desktop VM and hour it runs.", "€", float),
    Param("hours_per_day", "Hours used per day", 8, 1, 24,
          "Hours each DaaS desktop runs (and is billed) per working day.", "h"),
    Param("days_per_month", "Working days per month", 22, 1, 31, "", "days"),
)  # fmt: skip


# -- guest scripts --------------------------------------------------------------------


def _users_script(numbers: list[int]) -> str:
    """Accounts for users ``numbers`` (uid 1000 + n, a home each) in a guest."""
    lines = ["[ -e /etc/passwd ] || echo 'root:x:0:0::/root:/bin/sh' > /etc/passwd"]
    for n in numbers:
        uid = FIRST_UID + n
        lines.append(
            f"echo 'user{n}:x:{uid}:{uid}:user {n}:/home/user{n}:/bin/sh' >> /etc/passwd; "
            f"echo 'user{n}:x:{uid}:' >> /etc/group; "
            f"mkdir -p /home/user{n} && chown {uid}:{uid} /home/user{n}"
        )
    return "\n".join(lines) + "\n"


# The session: a shell holding its data, two idle helpers, then the ready mark. The
# trailing ":" after the waits keeps the shell itself alive (no exec of the last child).
SESSION = """cat > /home/user{n}/session <<'EOF'
doc=$(head -c {size} /dev/zero | tr '\\0' d)
sleep 100000 &
sleep 100000 &
echo ready > $HOME/ready
wait
:
EOF
chmod 755 /home/user{n}/session
su -l user{n} -c 'setsid sh $HOME/session </dev/null >/dev/null 2>&1 &'
while [ ! -e /home/user{n}/ready ]; do usleep 10000; done
"""

# Inside the guest: how many users have a running session, and the PSS (kB) of all
# the users' processes together (what the sessions themselves use, guest side).
GUEST_VIEW = r"""n=$(ps -o user,args | grep -c '[s]h /home/user[0-9]*/session')
t=0
for p in $(ps -o pid,user | awk '$2 ~ /^user[0-9]+$/ {print $1}'); do
  k=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null)
  t=$((t + ${k:-0}))
done
echo "$n $t"
"""

BUSY = "su user{n} -c 'i=0; while [ $i -lt {steps} ]; do i=$((i+1)); done'"


def _add_users(handle, numbers: list[int]) -> None:
    rc, out = handle.run(_users_script(numbers), timeout=30)
    if rc != 0:
        raise RuntimeError(f"the user accounts could not be made in the guest: {out[-300:]}")


def _login(handle, n: int, session_mib: int) -> float:
    """Log user ``n`` in on ``handle``; the host wall seconds until the session is ready."""
    started = time.monotonic()
    rc, out = handle.run(SESSION.format(n=n, size=session_mib * MIB), timeout=60)
    if rc != 0:
        raise RuntimeError(f"user{n}'s session did not start in the guest: {out[-300:]}")
    return time.monotonic() - started


def _guest_view(handles: list) -> tuple[int, float]:
    """Sessions running in the guests and their processes' PSS inside them (MiB)."""
    sessions, kib = 0, 0
    for handle in handles:
        rc, out = handle.run(GUEST_VIEW, timeout=30)
        parts = out.split()
        if rc == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
            sessions, kib = sessions + int(parts[0]), kib + int(parts[1])
    return sessions, kib / 1024


# -- host measurements ----------------------------------------------------------------


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these host processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):  # gone: it uses no more
            pass
    return total / CLOCK_TICKS


def _pss_mib(handles: list) -> float:
    return sum(h.memory()["pss_bytes"] for h in handles) / MIB


def _idle_cpu(handles: list, seconds: float) -> float:
    """Percent of one host core the QEMU processes used while every session idled."""
    pids = [h.pid for h in handles]
    before, started = _cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    used, wall = _cpu_seconds(pids) - before, time.monotonic() - started
    return 100 * used / wall


def _busy_timeout(users: int, steps: int) -> float:
    # About 0.5 s per 20 000 steps under TCG when alone; generous for a loaded host.
    return 30 + users * steps / 20000 * 3


def _busy(handles: list, jobs: list[tuple], steps: int) -> tuple[float, float]:
    """Host CPU seconds and wall seconds while every user runs the same burst at once.

    ``jobs``: (handle, [user numbers]) — one guest command per VM, its users' bursts in
    the background, so all users of all VMs run together."""
    pids = [h.pid for h in handles]
    users = sum(len(numbers) for _, numbers in jobs)
    timeout = _busy_timeout(users, steps)

    def one(job):
        handle, numbers = job
        script = "\n".join(BUSY.format(n=n, steps=steps) + " &" for n in numbers) + "\nwait\n"
        rc, out = handle.run(script, timeout=timeout)
        if rc != 0:
            raise RuntimeError(f"the busy burst failed in the guest: {out[-300:]}")

    before, started = _cpu_seconds(pids), time.monotonic()
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        list(pool.map(one, jobs))
    return _cpu_seconds(pids) - before, time.monotonic() - started


def _sample(model: str, users: int, handles: list, params: dict, **figures) -> dict:
    pss = _pss_mib(handles)
    sessions, guest_mib = _guest_view(handles)
    idle = _idle_cpu(handles, params["idle_seconds"])
    jobs = (
        [(handles[0], list(range(1, users + 1)))]
        if model == "rds"
        else [(h, [n]) for n, h in enumerate(handles, start=1)]
    )
    busy_cpu, busy_wall = _busy(handles, jobs, params["busy_iterations"])
    return {
        "model": model,
        "users": users,
        "vms": len(handles),
        "pss_mib": rounded(pss, 2),
        "pss_mib_per_user": rounded(pss / users, 2),
        "idle_cpu_percent": rounded(idle, 2),
        "idle_cpu_percent_per_user": rounded(idle / users, 3),
        "busy_cpu_seconds": rounded(busy_cpu, 3),
        "busy_cpu_seconds_per_user": rounded(busy_cpu / users, 3),
        "busy_wall_seconds": rounded(busy_wall, 3),
        "sessions_running": sessions,
        "sessions_guest_mib": rounded(guest_mib, 2),
        **figures,
    }


# -- the run --------------------------------------------------------------------------


def _check(params: dict) -> None:
    count = params["max_users"]
    rds_needs = MIN_GUEST_MIB + count * (params["session_mib"] + 2)
    if rds_needs > params["rds_memory_mib"]:
        raise RuntimeError(
            f"{count} sessions of {params['session_mib']} MiB need a session host of at "
            f"least {rds_needs} MiB; give the RDS VM more memory or choose fewer users."
        )
    needed = count * (params["vdi_memory_mib"] + vms.QEMU_OVERHEAD_MIB)
    spare = vms.host_capacity()["memory_mib"]
    if needed > spare:
        raise RuntimeError(
            f"{count} VDI VMs of {params['vdi_memory_mib']} MiB need about {needed} MiB; "
            f"this host can spare {spare} MiB now. Choose fewer users."
        )


def run(params: dict, ctx: RunContext):
    _check(params)
    count = params["max_users"]
    steps = 2 * count + 1
    # RDS: the session host boots once, then users log in one after the other.
    with kept_alive() as running:
        yield Progress("booting the RDS session host", 0.0)
        server, attempts = boot_with_retry(
            ctx.run_id, "rds", keep_running=True, memory_mib=params["rds_memory_mib"]
        )
        running.append(server)
        server_boot = server.boot.boot_wall_seconds
        _add_users(server, list(range(1, count + 1)))
        for users in range(1, count + 1):
            if ctx.should_stop():
                yield from stopping()
                return
            yield Progress(f"RDS: user {users} of {count} logs in", users / steps)
            login = _login(server, users, params["session_mib"])
            time.sleep(SETTLE_SECONDS)
            yield Sample(
                _sample(
                    "rds",
                    users,
                    running,
                    params,
                    boot_seconds=server_boot if users == 1 else None,
                    login_seconds=rounded(login, 3),
                    ready_seconds=rounded(login, 3),
                    boot_attempts=attempts,
                    accelerator=server.boot.accelerator,
                )
            )
    # VDI: the session host is gone before the first desktop VM boots.
    with kept_alive() as running:
        for users in range(1, count + 1):
            if ctx.should_stop():
                yield from stopping()
                return
            yield Progress(f"VDI: user {users} of {count} gets a VM", (count + users) / steps)
            asked = time.monotonic()
            desktop, attempts = boot_with_retry(
                ctx.run_id,
                f"vdi{users}",
                keep_running=True,
                memory_mib=params["vdi_memory_mib"],
            )
            running.append(desktop)
            _add_users(desktop, [users])
            login = _login(desktop, users, params["session_mib"])
            ready = time.monotonic() - asked
            time.sleep(SETTLE_SECONDS)
            yield Sample(
                _sample(
                    "vdi",
                    users,
                    running,
                    params,
                    boot_seconds=desktop.boot.boot_wall_seconds,
                    login_seconds=rounded(login, 3),
                    ready_seconds=rounded(ready, 3),
                    boot_attempts=attempts,
                    accelerator=desktop.boot.accelerator,
                )
            )


# -- the summary ----------------------------------------------------------------------


def _rows(samples: list[dict], model: str) -> list[dict]:
    return sorted((s for s in samples if s.get("model") == model), key=lambda s: s["users"])


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float] | None:
    """Least-squares (intercept, slope) of y over x; None with fewer than two x values."""
    if len({x for x, _ in points}) < 2:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    return mean_y - slope * mean_x, slope


def users_per_host(host_mib: float, line: tuple[float, float] | None) -> int | None:
    """floor((host memory − base) ÷ memory per additional user), from a fitted line."""
    if line is None:
        return None
    base, slope = line
    if slope <= 0:
        return None
    return max(0, math.floor((host_mib - max(base, 0)) / slope))


def monthly_costs(params: dict, rds_per_host: int | None, vdi_per_host: int | None) -> dict:
    """The cost model: own servers (a whole number of them) for RDS and VDI, DaaS per
    desktop-hour."""
    users = params["users"]

    def own(per_host: int | None) -> tuple[int | None, float | None]:
        if not per_host:
            return None, None
        servers = math.ceil(users / per_host)
        return servers, servers * params["server_month"]

    rds_servers, rds_cost = own(rds_per_host)
    vdi_servers, vdi_cost = own(vdi_per_host)
    daas = users * params["daas_vm_hour"] * params["hours_per_day"] * params["days_per_month"]
    return {
        "rds_servers": rds_servers,
        "vdi_servers": vdi_servers,
        "rds_cost_month": rounded(rds_cost, 2),
        "vdi_cost_month": rounded(vdi_cost, 2),
        "daas_cost_month": rounded(daas, 2),
        "daas_over_rds_cost": rounded(ratio_or_none(daas, rds_cost), 2),
        "daas_over_vdi_cost": rounded(ratio_or_none(daas, vdi_cost), 2),
    }


def summarize(samples: list[dict], params: dict) -> dict:
    rds, vdi = _rows(samples, "rds"), _rows(samples, "vdi")
    last_rds, last_vdi = (rds[-1] if rds else {}), (vdi[-1] if vdi else {})
    rds_line = fit_line([(s["users"], s["pss_mib"]) for s in rds])
    vdi_line = fit_line([(s["users"], s["pss_mib"]) for s in vdi])
    host_mib = params.get("host_gib", 64) * 1024
    rds_per_host = users_per_host(host_mib, rds_line)
    vdi_per_host = users_per_host(host_mib, vdi_line)
    rds_per_user = last_rds.get("pss_mib_per_user")
    vdi_per_user = last_vdi.get("pss_mib_per_user")
    return {
        "vdi_over_rds_memory_per_user": rounded(ratio_or_none(vdi_per_user, rds_per_user), 2),
        "vdi_over_rds_marginal_memory": rounded(
            ratio_or_none(vdi_line and vdi_line[1], rds_line and rds_line[1]), 1
        ),
        "users_measured": min((rows[-1]["users"] for rows in (rds, vdi) if rows), default=0),
        "rds_memory_per_user_mib": rds_per_user,
        "vdi_memory_per_user_mib": vdi_per_user,
        "rds_base_mib": rounded(rds_line and rds_line[0], 1),
        "rds_session_guest_mib": rounded(
            ratio_or_none(last_rds.get("sessions_guest_mib"), last_rds.get("users")), 2
        ),
        "rds_marginal_mib_per_user": rounded(rds_line and rds_line[1], 2),
        "vdi_marginal_mib_per_user": rounded(vdi_line and vdi_line[1], 2),
        "rds_server_boot_seconds": rds[0].get("boot_seconds") if rds else None,
        "rds_ready_seconds_last_user": last_rds.get("ready_seconds"),
        "vdi_ready_seconds_last_user": last_vdi.get("ready_seconds"),
        "vdi_login_seconds_last_user": last_vdi.get("login_seconds"),
        "rds_idle_cpu_percent": last_rds.get("idle_cpu_percent"),
        "vdi_idle_cpu_percent": last_vdi.get("idle_cpu_percent"),
        "rds_busy_cpu_seconds_per_user": last_rds.get("busy_cpu_seconds_per_user"),
        "vdi_busy_cpu_seconds_per_user": last_vdi.get("busy_cpu_seconds_per_user"),
        "host_gib": params.get("host_gib"),
        "rds_users_per_host": rds_per_host,
        "vdi_users_per_host": vdi_per_host,
        "vdi_over_rds_users_per_host": rounded(ratio_or_none(rds_per_host, vdi_per_host), 1),
        **monthly_costs(params, rds_per_host, vdi_per_host),
    }


def _max_seconds(params: dict) -> float:
    count = params.get("max_users", 3)
    idle = params.get("idle_seconds", 2.0)
    busy = _busy_timeout(count, params.get("busy_iterations", 20000))
    per_step = idle + busy + 20 + SETTLE_SECONDS
    # The RDS host's boot, K VDI boots (each may be retried once), and 2K measured steps.
    return 60 + (count + 1) * 2 * VM_BOOT_TIMEOUT + 2 * count * per_step


LAB = Lab(
    slug="desktop-capacity",
    title="Desktop capacity: RDS vs VDI, and what DaaS would cost",
    summary="Log 1…K users in on one session host (RDS) and give 1…K users a VM each "
    "(VDI); measure memory, CPU and time to a ready session, then cost them against DaaS.",
    explanation=(
        "**RDS** (session-based) runs one server operating system and gives every user a "
        "session in it: here one QEMU VM, the session host, in which users 1, 2, … K log "
        "in one after the other, each with `su -l` under their own user id, running a "
        "small desktop-like session (a shell holding the chosen MiB of data, like an open "
        "document, and two idle helper processes, like a panel and a clock). **VDI** gives "
        "every user a whole VM: users 1, 2, … K each get a VM booted for them with one "
        "such session in it. All VMs of a model stay running together.\n\n"
        "After each user logs in the lab measures, **on the host**: the **PSS** of all "
        "QEMU processes (shared pages split between the processes sharing them, so PSS "
        "adds up); the **host CPU time** (user + system, from `/proc/<pid>/stat`) the QEMU "
        "processes use while every session idles for the idle window (as % of one core) "
        "and while every user runs the same fixed busy burst at once (CPU seconds); and "
        "the **time until the new user's session is ready**, host wall time from the "
        "request to the session's ready mark. For RDS that is the login into the running "
        "session host (its own boot is reported once); for VDI it is the new VM's boot "
        "plus the login, as for a desktop started on demand (a pre-booted pool would "
        "cost only the login, also recorded). The guests run under TCG emulation on this "
        "host, so CPU figures are larger than with KVM; memory is the guest's touched RAM "
        "plus QEMU and its translation cache. The host sees a guest page only once the "
        "guest first touches it, and a page the guest frees stays with the VM, so a new "
        "RDS session that reuses memory an earlier login freed costs the host little; "
        "the table also lists what the sessions' processes use inside the guests.\n\n"
        "**Derived, and labelled so:** memory per user is total PSS ÷ U at the largest "
        "U. The memory one more user costs is the least-squares slope of total PSS over "
        "U = 1…K (it needs K ≥ 2), and the base is where that line meets U = 0. "
        "**Users per host is an extrapolation**, not a measurement: ⌊(host size − base) ÷ "
        "slope⌋, counting memory only (no CPU, disk or network limit, and assuming the "
        "session host could be made that large).\n\n"
        "**The cost model** (a model with measured inputs and your prices):\n\n"
        "- RDS on own hardware = ⌈users ÷ RDS users per host⌉ × price of one server per "
        "month\n"
        "- VDI on own hardware = ⌈users ÷ VDI users per host⌉ × price of one server per "
        "month\n"
        "- DaaS = users × price per desktop-hour × hours per day × working days per "
        "month\n\n"
        "Licences (RDS client access licences, VDI desktop licences), the client devices "
        "and the effort of running each model are not in it: the lesson's comparison "
        "table weighs those."
    ),
    params=PARAMS,
    needs=NEEDS_VMS,
    columns=(
        Column("model", "Model"),
        Column("users", "Users logged in (U)"),
        Column("vms", "VMs running"),
        Column("pss_mib", "Host PSS, all QEMU processes", "MiB"),
        Column("pss_mib_per_user", "PSS per user", "MiB"),
        Column("ready_seconds", "U-th user's session ready after", "s"),
        Column("boot_seconds", "VM boot in that", "s"),
        Column("login_seconds", "Login in that", "s"),
        Column("idle_cpu_percent", "Host CPU, all idle", "% of a core"),
        Column("busy_cpu_seconds", "Host CPU, all busy", "CPU s"),
        Column("busy_cpu_seconds_per_user", "Host CPU per busy user", "CPU s"),
        Column("busy_wall_seconds", "Busy burst took", "s"),
        Column("sessions_running", "Sessions seen in the guests"),
        Column("sessions_guest_mib", "Sessions' processes inside the guests, PSS", "MiB"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=_max_seconds,
    predict_keys=("vdi_over_rds_memory_per_user", "vdi_over_rds_marginal_memory"),
    summary_labels={
        "vdi_over_rds_memory_per_user": "Host memory per user, VDI ÷ RDS (PSS at K users)",
        "vdi_over_rds_marginal_memory": "Memory of one more user, VDI ÷ RDS (slopes)",
        "users_measured": "Users measured (K)",
        "rds_memory_per_user_mib": "RDS: host memory per user at K users, PSS (MiB)",
        "vdi_memory_per_user_mib": "VDI: host memory per user at K users, PSS (MiB)",
        "rds_base_mib": "RDS: session host with no users, fitted (MiB)",
        "rds_session_guest_mib": "RDS: one session's processes inside the guest, PSS (MiB)",
        "rds_marginal_mib_per_user": "RDS: memory of one more user, slope (MiB)",
        "vdi_marginal_mib_per_user": "VDI: memory of one more user, slope (MiB)",
        "rds_server_boot_seconds": "RDS: session host boot, once (s)",
        "rds_ready_seconds_last_user": "RDS: K-th user's session ready after (s, login)",
        "vdi_ready_seconds_last_user": "VDI: K-th user's session ready after (s, boot + login)",
        "vdi_login_seconds_last_user": "VDI: K-th user's login alone (s)",
        "rds_idle_cpu_percent": "RDS: host CPU with K idle users (% of a core)",
        "vdi_idle_cpu_percent": "VDI: host CPU with K idle users (% of a core)",
        "rds_busy_cpu_seconds_per_user": "RDS: host CPU per user, busy burst (CPU s)",
        "vdi_busy_cpu_seconds_per_user": "VDI: host CPU per user, busy burst (CPU s)",
        "host_gib": "Host size for the extrapolation (GiB)",
        "rds_users_per_host": "RDS: users per host, extrapolated from the slope",
        "vdi_users_per_host": "VDI: users per host, extrapolated from the slope",
        "vdi_over_rds_users_per_host": "Users per host, RDS ÷ VDI (extrapolated)",
        "rds_servers": "Cost model: RDS servers needed",
        "vdi_servers": "Cost model: VDI servers needed",
        "rds_cost_month": "Cost model: RDS on own hardware (€ per month)",
        "vdi_cost_month": "Cost model: VDI on own hardware (€ per month)",
        "daas_cost_month": "Cost model: DaaS (€ per month)",
        "daas_over_rds_cost": "Cost model: DaaS ÷ RDS on own hardware",
        "daas_over_vdi_cost": "Cost model: DaaS ÷ VDI on own hardware",
    },
)
