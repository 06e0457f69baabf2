"""The HTTP session pylti1p3 uses to reach a platform (its JWKS, token endpoint, line
items, roster), with timeouts.

pylti1p3 calls ``requests`` without a timeout, so a platform that accepts the
connection and never answers would hold a web thread (a launch fetching the JWKS) or
the task worker (a grade) for ever. Every request through this session gives up
after ``TIMEOUT`` seconds instead.
"""

from __future__ import annotations

import requests

TIMEOUT = (5, 15)  # seconds to connect, seconds between bytes


class _TimeoutSession(requests.Session):
    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(method, url, *args, **kwargs)


def platform_session() -> requests.Session:
    session = _TimeoutSession()
    session.headers["User-Agent"] = "virtlab-lti (pylti1p3)"
    return session
