"""A small QMP (QEMU Machine Protocol) client over a unix socket.

QMP is JSON lines: the server greets, we send ``qmp_capabilities``, then every
``{"execute": …}`` gets one ``{"return": …}`` or ``{"error": …}``; asynchronous
``{"event": …}`` messages may arrive in between and are queued for ``events()``.
Every read has a deadline, so a wedged QEMU can never block a worker.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 10.0


class QMPError(RuntimeError):
    """QEMU answered a command with an error, or the connection failed."""


class QMPTimeout(QMPError):
    pass


class QMPClient:
    def __init__(self, path: str | Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = str(path)
        self.timeout = timeout
        self.greeting: dict = {}
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._events: list[dict] = []
        self._next_id = 0

    # -- connection ---------------------------------------------------------------

    def connect(self, wait: float | None = None) -> QMPClient:
        """Connect (retrying until ``wait`` s while QEMU creates the socket) and negotiate."""
        deadline = time.monotonic() + (self.timeout if wait is None else wait)
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.path)
                break
            except (FileNotFoundError, ConnectionRefusedError) as error:
                sock.close()
                if time.monotonic() >= deadline:
                    raise QMPTimeout(f"QMP socket {self.path} not ready: {error}") from error
                time.sleep(0.02)
        self._sock = sock
        self.greeting = self._read_message(time.monotonic() + self.timeout)
        if "QMP" not in self.greeting:
            raise QMPError(f"not a QMP greeting: {self.greeting!r}")
        self.execute("qmp_capabilities")
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> QMPClient:
        return self if self._sock else self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands and events ---------------------------------------------------------

    def execute(
        self, command: str, arguments: dict | None = None, timeout: float | None = None
    ) -> Any:
        """Run one command and return its ``return`` value; raise QMPError on ``error``."""
        if self._sock is None:
            raise QMPError("not connected")
        self._next_id += 1
        request: dict[str, Any] = {"execute": command, "id": self._next_id}
        if arguments:
            request["arguments"] = arguments
        self._sock.sendall(json.dumps(request).encode() + b"\n")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            message = self._read_message(deadline)
            if "event" in message:
                self._events.append(message)
                continue
            if message.get("id") != self._next_id:
                continue  # a stale answer to an earlier, timed-out request
            if "error" in message:
                error = message["error"]
                raise QMPError(f"{command}: {error.get('class')}: {error.get('desc')}")
            return message.get("return")

    def hmp(self, command_line: str, timeout: float | None = None) -> str:
        """A human-monitor command (``savevm``/``loadvm`` have no QMP form in QEMU 7.2)."""
        return self.execute(
            "human-monitor-command", {"command-line": command_line}, timeout=timeout
        )

    def events(self, wait: float = 0.0) -> list[dict]:
        """Queued events, plus any that arrive within ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while wait > 0:
            try:
                self._events.append(self._read_message(deadline))
            except QMPTimeout:
                break
        found, self._events = self._events, []
        return found

    def wait_event(self, name: str, timeout: float) -> dict:
        """Wait for the event named ``name`` (other events stay queued)."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self._events):
                if event.get("event") == name:
                    return self._events.pop(index)
            message = self._read_message(deadline)
            if "event" in message:
                self._events.append(message)

    # -- wire ---------------------------------------------------------------------------

    def _read_message(self, deadline: float) -> dict:
        assert self._sock is not None
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise QMPTimeout(f"no QMP message from {self.path} in time")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError as error:
                raise QMPTimeout(f"no QMP message from {self.path} in time") from error
            except OSError as error:
                raise QMPError(f"QMP connection failed: {error}") from error
            if not chunk:
                raise QMPError("QEMU closed the QMP connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError as error:
            raise QMPError(f"bad QMP line: {line[:200]!r}") from error
