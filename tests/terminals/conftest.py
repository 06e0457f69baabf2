"""A terminal host in a thread of the test process, and a blocking client for it."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import threading
import time

import pytest

from terminals import protocol
from terminals.host import Clocks, TerminalHost

from ..sandbox.conftest import _runtime_works


@pytest.fixture
def runc() -> str:
    ok, why = _runtime_works("runc")
    if not ok:
        pytest.skip(why)
    return "runc"


_sockets = itertools.count()


def run_async(make_coroutine):
    """``asyncio.run(make_coroutine())`` in a thread of its own, returning its result or
    raising its exception: in a whole test run the browser tests' Playwright (sync API)
    keeps an event loop running in the main thread, where asyncio.run refuses."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(make_coroutine())
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class RunningHost:
    def __init__(self, host: TerminalHost, thread: threading.Thread) -> None:
        self.host, self.thread = host, thread

    def call(self, function, *args):
        """Run ``function`` in the host's loop and return its result (a coroutine is
        awaited there)."""

        async def wrapped():
            result = function(*args)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(wrapped(), self.host.loop).result(timeout=60)

    def status(self) -> dict:
        return self.call(self.host.status)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.host.loop.call_soon_threadsafe(self.host.stop)
            self.thread.join(timeout=60)


@pytest.fixture
def start_host(settings, transactional_db):
    """Start a terminal host with the given clocks on a socket of this test's own."""
    running: list[RunningHost] = []

    def start(capacity=4, idle=600, lifetime=2700, grace=60) -> RunningHost:
        path = f"/run/virtlab/test-term-{os.getpid()}-{next(_sockets)}.sock"
        settings.VIRTLAB_TERMINAL_SOCKET = path
        host = TerminalHost(path, Clocks(capacity, idle, lifetime, grace))
        ready = threading.Event()

        def serve():
            async def main():
                started = asyncio.Event()
                task = asyncio.create_task(host.serve(started))
                await started.wait()
                ready.set()
                await task

            asyncio.run(main())

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        assert ready.wait(30), "the terminal host did not start"
        handle = RunningHost(host, thread)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        handle.stop()


class HostClient:
    """The web side's end of one attach, blocking, for tests."""

    def __init__(self, path: str, public_id) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.sock.sendall(protocol.encode_json({"op": "attach", "session": str(public_id)}))
        self.output = b""
        self.states: list[dict] = []
        self.closed = False

    def _frame(self, timeout: float) -> tuple[int, bytes] | None:
        self.sock.settimeout(timeout)
        header = self._exactly(protocol.HEADER.size)
        if header is None:
            return None
        length, kind = protocol.HEADER.unpack(header)
        return kind, self._exactly(length) or b""

    def _exactly(self, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                self.closed = True
                return None
            data += chunk
        return data

    def pump(self, timeout: float = 0.2) -> bool:
        """Take one frame if one comes within ``timeout``; False at the end."""
        try:
            frame = self._frame(timeout)
        except TimeoutError:
            return True
        if frame is None:
            return False
        kind, payload = frame
        if kind == protocol.JSON:
            self.states.append(json.loads(payload))
        else:
            self.output += payload
        return True

    def wait_for(self, predicate, timeout: float = 60.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}: states {self.states[-3:]}, "
                    f"output {self.output[-300:]!r}"
                )
            if not self.pump() and not predicate():
                raise AssertionError(f"connection ended waiting for {what}: {self.states[-3:]}")

    def state(self) -> str | None:
        return self.states[-1]["state"] if self.states else None

    def wait_state(self, state: str, timeout: float = 60.0) -> dict:
        self.wait_for(lambda: self.state() == state, timeout, f"state {state}")
        return self.states[-1]

    def read_until(self, marker: bytes, timeout: float = 60.0) -> bytes:
        start = len(self.output)
        self.wait_for(lambda: marker in self.output[start:], timeout, repr(marker))
        return self.output[start:]

    def type(self, text: str) -> None:
        self.sock.sendall(protocol.encode(protocol.DATA, text.encode()))

    def send(self, message: dict) -> None:
        self.sock.sendall(protocol.encode_json(message))

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def attach():
    clients: list[HostClient] = []

    def make(public_id) -> HostClient:
        from terminals.services import socket_path

        client = HostClient(socket_path(), public_id)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
