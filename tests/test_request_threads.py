"""The ASGI handler that reuses view threads (virtlab/request_threads.py): a thread and
its database connection serve one request after another, requests at once get
threads of their own, and a thread that is not kept closes its connection."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time

import pytest
from django.db import connection, connections
from django.http import JsonResponse
from django.urls import path

from virtlab import request_threads
from virtlab.request_threads import ReusedThreadsASGIHandler

from .terminals.conftest import run_async

# What the view saw, by request: its thread and the DB-API connection it used.
seen: dict[str, tuple[int, object]] = {}
# Set by a test that needs two requests inside the view at the same moment.
meeting: list[threading.Barrier] = []


def where_am_i(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    seen[request.GET["name"]] = (threading.get_ident(), connection.connection)
    if meeting:
        # Both requests must be in a view at once: if they shared a thread, the first
        # would wait here alone and the barrier would break.
        meeting[0].wait(timeout=30)
    return JsonResponse({"ok": True})


urlpatterns = [path("where/", where_am_i)]


async def get(handler: ReusedThreadsASGIHandler, name: str) -> int:
    """One GET of the view through ``handler``; its status."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/where/",
        "raw_path": b"/where/",
        "root_path": "",
        "query_string": f"name={name}".encode(),
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    incoming: asyncio.Queue = asyncio.Queue()
    await incoming.put({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    # After the body, the handler waits for a disconnect that never comes; it stops
    # waiting once the response is sent.
    await handler(scope, incoming.get, send)
    assert json.loads(b"".join(m.get("body", b"") for m in sent[1:])) == {"ok": True}
    return sent[0]["status"]


def is_open(dbapi_connection: sqlite3.Connection) -> bool:
    try:
        dbapi_connection.execute("SELECT 1")
    except sqlite3.ProgrammingError:  # "Cannot operate on a closed database."
        return False
    return True


@pytest.fixture
def handler(transactional_db, settings):
    settings.ROOT_URLCONF = __name__
    settings.CONN_MAX_AGE = 60  # as settings.py sets it
    seen.clear()
    meeting.clear()
    handler = ReusedThreadsASGIHandler()
    yield handler
    for thread in handler._idle:
        thread.submit(connections.close_all)
        thread.shutdown(wait=True)


def test_one_request_after_another_reuses_the_thread_and_its_connection(handler):
    async def two_in_turn():
        return [await get(handler, "first"), await get(handler, "second")]

    assert run_async(two_in_turn) == [200, 200]
    first_thread, first_connection = seen["first"]
    second_thread, second_connection = seen["second"]
    assert second_thread == first_thread
    assert second_connection is first_connection
    assert is_open(first_connection)


def test_requests_at_once_get_threads_and_connections_of_their_own(handler):
    meeting.append(threading.Barrier(2))

    async def two_at_once():
        return await asyncio.gather(get(handler, "a"), get(handler, "b"))

    assert run_async(two_at_once) == [200, 200]
    (thread_a, connection_a), (thread_b, connection_b) = seen["a"], seen["b"]
    assert thread_a != thread_b
    assert connection_a is not connection_b
    assert len(handler._idle) == 2  # both kept for the next requests


def test_a_thread_not_kept_closes_its_connection(handler, monkeypatch):
    monkeypatch.setattr(request_threads, "IDLE_THREADS_KEPT", 0)

    assert run_async(lambda: get(handler, "only")) == 200
    assert handler._idle == []
    _, used = seen["only"]
    # The thread closes it after the request, on its own time.
    deadline = time.monotonic() + 30
    while is_open(used) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_open(used)
