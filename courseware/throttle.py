"""Budgets for the forms an attacker would hammer: sign-in, sign-up, joining a class.

Locking one account after repeated wrong passwords is django-axes' job (the
``AXES_*`` settings). What axes does not cover is counted here: failures per client
address (one address guessing many accounts), sign-ups per address, and wrong join
codes per student and per address. Counts live in the database cache
(``CACHES["throttle"]``), so every web worker sees the same numbers, in fixed
windows: a budget spent is refused until its window ends, then starts again.

The limits per address are generous on purpose: a classroom often reaches us through
one NAT address, and thirty students mistyping now and then must not lock each
other out.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest


@dataclass(frozen=True)
class Budget:
    scope: str  # what is counted, part of the cache key
    limit: int  # this many in one window are allowed; the next is refused
    window_seconds: int


LOGIN_FAILURES_PER_ADDRESS = Budget("login-address", 30, 600)
SIGNUPS_PER_ADDRESS = Budget("signup-address", 20, 3600)
JOIN_FAILURES_PER_USER = Budget("join-user", 10, 600)
JOIN_FAILURES_PER_ADDRESS = Budget("join-address", 60, 600)


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with ``VIRTLAB_PROXY_COUNT`` proxies in
    front of us, the address the outermost of them saw (the client cannot forge it,
    since each proxy appends what it saw)."""
    proxies = settings.VIRTLAB_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def axes_client_address(request: HttpRequest) -> str | None:
    """``client_address`` for django-axes, which stores it in an IP address column:
    None when it is not an address (no REMOTE_ADDR, a forged X-Forwarded-For hop).
    PostgreSQL's inet type refuses anything else, which failed the sign-in itself."""
    address = client_address(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _key(budget: Budget, who: str, window: int) -> str:
    digest = hashlib.sha256(who.encode()).hexdigest()[:32]
    return f"throttle:{budget.scope}:{digest}:{window}"


def _window(budget: Budget, now: float) -> int:
    return int(now // budget.window_seconds)


def wait_seconds(budget: Budget, who: str) -> int:
    """0 while ``who`` has budget left; otherwise the seconds until it refills."""
    now = time.time()
    window = _window(budget, now)
    used = caches["throttle"].get(_key(budget, who, window), 0)
    if used < budget.limit:
        return 0
    return max(1, math.ceil((window + 1) * budget.window_seconds - now))


def spend(budget: Budget, who: str) -> None:
    """Count one event against ``who``'s budget in the current window."""
    now = time.time()
    window = _window(budget, now)
    key = _key(budget, who, window)
    cache = caches["throttle"]
    # add() creates the counter once; incr() is not atomic on every cache backend,
    # so under a burst a count may come out a little low (a budget, not a ledger).
    cache.add(key, 0, timeout=budget.window_seconds + 5)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=budget.window_seconds + 5)


def describe_wait(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
