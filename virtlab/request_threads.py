"""Django's ASGI handler, with the threads that run views kept from one request to the next.

Django's own handler gives every request a thread of its own (a fresh
``ThreadSensitiveContext``: a new single-thread executor per request), and database
connections belong to a thread, so each signed-in page opened and closed its SQLite
connection: the schema read, every statement prepared again, and the last connection
to close checkpointing the WAL cost about 2.5 ms of a lesson page's ~10 ms
(bench/page_throughput.py, issue 17). Here a request borrows an idle thread instead
and hands it back when its response has been sent, so ``CONN_MAX_AGE`` keeps that
thread's connection as it does under a WSGI server, whose threads also serve one
request after another.

Nothing else changes: a request never waits for a thread (when none is idle a new one
is started, as Django does), so a view blocked on SQLite's write lock holds up no one
else; and a thread runs one request at a time, so two requests never share a
connection. Idle threads beyond ``IDLE_THREADS_KEPT`` close their connections and end.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

# Enough for the requests one worker process serves at once in a busy class; a burst
# above it gets threads that end after their request, as every thread did before.
IDLE_THREADS_KEPT = 16


class ReusedThreadsASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        # Single-thread executors waiting for a request; the last one returned is the
        # next one used, so the busiest few threads (and their connections) stay warm.
        self._idle: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self._idle.pop() if self._idle else ThreadPoolExecutor(max_workers=1)
        try:
            # Every thread-sensitive call of this request (middleware, view, signals,
            # closing the response) runs on this one thread, as in Django's handler.
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            self._give_back(thread)

    def _give_back(self, thread: ThreadPoolExecutor) -> None:
        if len(self._idle) < IDLE_THREADS_KEPT:
            self._idle.append(thread)
        else:
            # A connection left to its thread's end would stay open until the garbage
            # collector finds it.
            thread.submit(connections.close_all)
            thread.shutdown(wait=False)


def get_application() -> ReusedThreadsASGIHandler:
    """As ``django.core.asgi.get_asgi_application``, with threads reused."""
    import django

    django.setup(set_prefix=False)
    return ReusedThreadsASGIHandler()
