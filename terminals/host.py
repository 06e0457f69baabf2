"""The terminal host: the one process of an instance that holds every live shell.

Web processes come and go (several workers, restarts, a student's WebSocket landing
on any of them), but a shell must outlive its WebSocket for a reconnect to find it.
So the shells live here, in one asyncio loop, and the web side attaches to them over
a unix socket (protocol.py). The host owns the rules a session lives by:

- capacity: at most ``capacity`` sandboxes at once on the host; later sessions wait
  in a queue and are told their place in it;
- clocks: a session ends after ``idle_seconds`` without a keystroke, after
  ``lifetime_seconds`` whatever happens, and ``grace_seconds`` after its last
  WebSocket went (a reconnect within the grace period reattaches to the same shell,
  with the last screenful replayed);
- output: read at most ``OUTPUT_BYTES_PER_SECOND`` per session, and not at all while
  the browser's connection is still sending the last lot: a shell printing without
  end is slowed to that pace (its pty fills and it waits), never buffered here;
- one viewer: attaching from a second window detaches the first.

Every session's row (models.TerminalSession) follows its state, so pages can say what
happened, and the row of a session this host never saw end (a crash, a restart) is
closed when the next host starts, after its sandboxes are reaped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field

from . import records
from .protocol import DATA, JSON, ProtocolError, decode_json, encode, encode_json, read_frame
from .sandboxes import close_sandbox, open_sandbox

log = logging.getLogger(__name__)

READ_CHUNK = 16 * 1024
OUTPUT_BYTES_PER_SECOND = 1024 * 1024
OUTPUT_BURST_BYTES = 256 * 1024
SCROLLBACK_BYTES = 64 * 1024  # replayed to a window that reattaches
CLIENT_HIGH_WATER = 256 * 1024  # stop reading the shell while this much waits to go out
PENDING_INPUT_BYTES = 64 * 1024  # keystrokes beyond this, while the shell is not reading, drop
MAX_ROWS, MAX_COLS = 200, 500
CHECK_MAX_SECONDS = 30.0
TICK_SECONDS = 1.0


class HostRunning(RuntimeError):
    """Another terminal host already listens on this instance's socket."""


def answers(path: str) -> bool:
    """Whether a terminal host listens on ``path`` (a stale socket file refuses)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} second{'s' if seconds != 1 else ''}"
    return f"{seconds / 60:.0f} minutes"


@dataclass
class Clocks:
    capacity: int
    idle_seconds: float
    lifetime_seconds: float
    grace_seconds: float


@dataclass(eq=False)
class Session:
    public_id: str
    kind: str
    state: str = "queued"  # queued → starting → live → ended
    sandbox: object | None = None
    sandbox_id: int | None = None
    fd: int | None = None
    client: asyncio.StreamWriter | None = None
    detached_at: float | None = None  # monotonic; None while a window is attached
    live_since: float = 0.0
    last_input: float = 0.0
    scrollback: bytearray = field(default_factory=bytearray)
    pending_input: bytearray = field(default_factory=bytearray)
    tokens: float = OUTPUT_BURST_BYTES
    refilled_at: float = field(default_factory=time.monotonic)
    reading: bool = False
    end_reason: str = ""
    ending: asyncio.Task | None = None  # the removal under way once it ends
    # One control operation (resize, check) at a time: a guest's control channel
    # answers one command at a time.
    control: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The size the window last asked for, and the task applying it: resizes wait for
    # the control channel beside the window's keystrokes, never in front of them, and
    # a burst of them while a check runs comes down to the last one.
    wanted_size: tuple[int, int] | None = None
    resizing: asyncio.Task | None = None
    checking: bool = False  # one check at a time; another is refused, not queued


class TerminalHost:
    def __init__(self, socket_path: str, clocks: Clocks) -> None:
        self.socket_path = socket_path
        self.clocks = clocks
        self.sessions: dict[str, Session] = {}
        self.queue: list[Session] = []
        # Sessions that hold a sandbox or are opening one: what capacity counts. A
        # session ended while its sandbox starts keeps its place until it is removed.
        self.held: set[Session] = set()
        # Every task the host starts (a task nobody holds may be collected, and its
        # exception is logged at once rather than lost); the starts and ends among
        # them are waited for when the host stops, so no sandbox outlives it.
        self.tasks: set[asyncio.Task] = set()
        self.work: set[asyncio.Task] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping = asyncio.Event()

    # -- lifecycle ---------------------------------------------------------------------

    async def serve(self, ready: asyncio.Event | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        # One host per instance: a second one (a second scripts/serve on the same
        # var/) must neither take the socket over nor close the first one's rows.
        if await asyncio.to_thread(answers, self.socket_path):
            raise HostRunning(f"a terminal host already listens on {self.socket_path}")
        await asyncio.to_thread(records.recover)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        os.makedirs(os.path.dirname(self.socket_path), exist_ok=True)
        # Only this server's own account (the web processes) may attach to shells:
        # the socket is made 0600, not chmodded after it was already connectable.
        umask = os.umask(0o177)
        try:
            server = await asyncio.start_unix_server(self.handle, path=self.socket_path)
        finally:
            os.umask(umask)
        ticker = asyncio.create_task(self.tick())
        log.info("terminal host listening on %s", self.socket_path)
        if ready is not None:
            ready.set()
        try:
            await self.stopping.wait()
        finally:
            server.close()
            ticker.cancel()
            await asyncio.gather(
                *(
                    self.end(s, "The terminal server stopped.")
                    for s in list(self.sessions.values())
                ),
                return_exceptions=True,
            )
            # Sandboxes still starting are removed once they are up (start() finds
            # their session ended): wait for that rather than leave them behind.
            while self.work:
                await asyncio.wait(set(self.work))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)

    def stop(self) -> None:
        self.stopping.set()

    def spawn(self, coroutine, *, work: bool = False) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        if work:
            self.work.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        self.work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("terminal host task failed", exc_info=task.exception())

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(signum, self.stop)

    # -- connections -------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            frame = await read_frame(reader)
            if frame is None or frame[0] != JSON:
                return
            message = decode_json(frame[1])
            op = message.get("op")
            if op == "attach":
                await self.attach(str(message.get("session", "")), reader, writer)
            elif op == "check":
                writer.write(encode_json(await self.check(message)))
            elif op == "end":
                session = self.sessions.get(str(message.get("session", "")))
                if session is not None:
                    await self.end(session, str(message.get("reason", "Ended."))[:200])
                writer.write(encode_json({"ended": True}))
            elif op == "status":
                writer.write(encode_json(self.status()))
            else:
                writer.write(encode_json({"error": f"unknown op {op!r}"}))
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        except (ProtocolError, ConnectionError) as error:
            log.info("terminal host connection dropped: %s", error)
        finally:
            writer.close()

    async def attach(
        self, public_id: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        session = self.sessions.get(public_id)
        if session is None:
            row = await asyncio.to_thread(records.load, public_id)
            session = self.sessions.get(public_id)  # another window may have come meanwhile
            if session is None:
                if row is None or row.status == "ended":
                    reason = row.end_reason if row is not None else "No such terminal."
                    writer.write(encode_json({"state": "ended", "reason": reason}))
                    return
                session = Session(public_id, row.kind)
                self.sessions[public_id] = session
                self.queue.append(session)
                # The row says the host holds it (so the web side does not close it as
                # a page that never connected while it waits its turn or boots), unless
                # the web side ended it meanwhile.
                if not await asyncio.to_thread(records.mark_queued, public_id):
                    await self.end(session, "This terminal was ended.")
        if session.state == "ended":  # ending now: its row is being written
            writer.write(encode_json({"state": "ended", "reason": session.end_reason}))
            return
        previous, session.client, session.detached_at = session.client, writer, None
        if previous is not None:
            # Not "ended": the shell lives on in the other window.
            self._send(previous, {"state": "moved", "reason": "Opened in another window."})
            previous.close()
            self._resume(session)  # it may have been waiting for the old window to read
        self.admit()
        if session.state != "starting":  # a starting session says so itself (start())
            self._send(writer, self.describe(session))
        if session.state == "live" and session.scrollback:
            writer.write(encode(DATA, bytes(session.scrollback)))
        try:
            while (frame := await read_frame(reader)) is not None:
                kind, payload = frame
                if kind == DATA:
                    self.input(session, payload)
                    continue
                message = decode_json(payload)
                if message.get("op") == "resize":
                    self.resize(session, message)
                elif message.get("op") == "end":
                    await self.end(session, "Ended by the student.")
                    break
        except (ProtocolError, ConnectionError) as error:
            log.info("terminal %s: connection dropped: %s", public_id, error)
        finally:
            if session.client is writer:
                session.client, session.detached_at = None, time.monotonic()

    def _send(self, writer: asyncio.StreamWriter, message: dict) -> None:
        if not writer.is_closing():
            writer.write(encode_json(message))

    def describe(self, session: Session) -> dict:
        if session.state == "queued":
            return {
                "state": "queued",
                "position": self.queue.index(session) + 1 if session in self.queue else 1,
                "capacity": self.clocks.capacity,
            }
        if session.state == "live":
            now = time.monotonic()
            return {
                "state": "live",
                "kind": session.kind,
                "idle_seconds": self.clocks.idle_seconds,
                "idle_left": max(0, round(self.clocks.idle_seconds - (now - session.last_input))),
                "lifetime_left": max(
                    0, round(self.clocks.lifetime_seconds - (now - session.live_since))
                ),
                "grace_seconds": self.clocks.grace_seconds,
            }
        return {"state": session.state, "kind": session.kind}

    # -- starting ----------------------------------------------------------------------

    def running(self) -> int:
        return len(self.held)

    def admit(self) -> None:
        """Start queued sessions while there is room; tell the rest their place."""
        if self.stopping.is_set():
            return
        while self.queue and self.running() < self.clocks.capacity:
            session = self.queue.pop(0)
            session.state = "starting"
            self.held.add(session)
            self.spawn(self.start(session), work=True)
        for session in self.queue:
            if session.client is not None:
                self._send(session.client, self.describe(session))

    async def start(self, session: Session) -> None:
        if session.client is not None:
            self._send(session.client, self.describe(session))
        try:
            sandbox_id, sandbox = await asyncio.to_thread(open_sandbox, session.kind)
        except Exception as error:
            log.warning("terminal %s could not start: %s", session.public_id, error)
            self.held.discard(session)
            await self.end(session, f"The {session.kind} could not start: {error}"[:200])
            return
        if session.state != "starting":  # ended while it started
            try:
                await asyncio.to_thread(close_sandbox, sandbox_id, sandbox)
            finally:
                self.held.discard(session)
                self.admit()
            return
        session.sandbox, session.sandbox_id, session.fd = sandbox, sandbox_id, sandbox.fileno()
        session.state = "live"
        session.live_since = session.last_input = time.monotonic()
        self._resume(session)
        # The row before the page hears of it: a check may follow straight away.
        try:
            recorded = await asyncio.to_thread(records.mark_live, session.public_id, sandbox_id)
        except Exception:
            log.exception("recording terminal %s as live", session.public_id)
            await self.end(session, "The terminal could not start: its record was not written.")
            return
        if not recorded:  # the web side ended its row meanwhile (a replace, an end)
            await self.end(session, "This terminal was ended.")
            return
        if session.state == "live" and session.client is not None:
            self._send(session.client, self.describe(session))

    # -- output ------------------------------------------------------------------------

    def _resume(self, session: Session) -> None:
        if session.state == "live" and not session.reading:
            self.loop.add_reader(session.fd, self.on_readable, session)
            session.reading = True

    def _pause(self, session: Session) -> None:
        if session.reading:
            self.loop.remove_reader(session.fd)
            session.reading = False

    def on_readable(self, session: Session) -> None:
        now = time.monotonic()
        session.tokens = min(
            OUTPUT_BURST_BYTES,
            session.tokens + (now - session.refilled_at) * OUTPUT_BYTES_PER_SECOND,
        )
        session.refilled_at = now
        if session.tokens < 1024:  # over its pace: wait for the bucket to refill
            self._pause(session)
            self.loop.call_later(
                (1024 - session.tokens) / OUTPUT_BYTES_PER_SECOND, self._resume, session
            )
            return
        try:
            data = session.sandbox.read(min(READ_CHUNK, int(session.tokens)))
        except OSError as error:
            # Raised out of a reader callback it would be logged and the callback
            # called again at once, for as long as the fd stays readable.
            log.warning("terminal %s: reading its shell failed: %s", session.public_id, error)
            data = None
        if data is None:
            self._pause(session)
            self.spawn(self.end(session, "The shell exited."))
            return
        if not data:
            return
        session.tokens -= len(data)
        session.scrollback += data
        del session.scrollback[:-SCROLLBACK_BYTES]
        client = session.client
        if client is not None and not client.is_closing():
            client.write(encode(DATA, data))
            if client.transport.get_write_buffer_size() > CLIENT_HIGH_WATER:
                self._pause(session)
                self.spawn(self._drain_then_resume(session, client))

    async def _drain_then_resume(self, session: Session, client: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            await client.drain()
        if session.client is client or session.client is None:  # else attach resumed it
            self._resume(session)

    # -- input -------------------------------------------------------------------------

    def input(self, session: Session, data: bytes) -> None:
        if session.state != "live":
            return  # nothing to type into yet (the page says so)
        session.last_input = time.monotonic()
        room = PENDING_INPUT_BYTES - len(session.pending_input)
        session.pending_input += data[: max(0, room)]
        self._flush_input(session)

    def _flush_input(self, session: Session) -> None:
        if session.state != "live":
            return
        try:
            written = session.sandbox.write(bytes(session.pending_input))
        except OSError:
            written = len(session.pending_input)  # the shell is going; the tick ends it
        del session.pending_input[:written]
        self.loop.remove_writer(session.fd)
        if session.pending_input:
            self.loop.add_writer(session.fd, self._flush_input, session)

    def resize(self, session: Session, message: dict) -> None:
        try:
            rows = max(1, min(int(message.get("rows", 24)), MAX_ROWS))
            cols = max(1, min(int(message.get("cols", 80)), MAX_COLS))
        except (TypeError, ValueError):
            return
        if session.state != "live":
            return
        session.wanted_size = (rows, cols)
        if session.resizing is None:
            session.resizing = self.spawn(self._apply_size(session))

    async def _apply_size(self, session: Session) -> None:
        try:
            async with session.control:
                while session.wanted_size is not None and session.state == "live":
                    rows, cols = session.wanted_size
                    session.wanted_size = None
                    with contextlib.suppress(Exception):  # a shell that is going cannot
                        await asyncio.to_thread(session.sandbox.resize, rows, cols)
                session.resizing = None  # no await since the loop's test: none is lost
        finally:
            session.resizing = None

    # -- checks ------------------------------------------------------------------------

    async def check(self, message: dict) -> dict:
        session = self.sessions.get(str(message.get("session", "")))
        if session is None or session.state != "live":
            return {"error": "not-live"}
        script = message.get("script")
        if not isinstance(script, str):
            return {"error": "no script"}
        try:
            timeout = min(float(message.get("timeout", 10)), CHECK_MAX_SECONDS)
        except (TypeError, ValueError):
            return {"error": "bad timeout"}
        if session.checking:
            # Queued behind it, a second check would overrun the web side's wait.
            return {"error": "a check is already running in this terminal: wait for its answer"}
        session.last_input = time.monotonic()  # checking is working, not idling
        session.checking = True
        try:
            async with session.control:
                if session.state != "live":  # ended while it waited for the channel
                    return {"error": "not-live"}
                try:
                    status, output = await asyncio.to_thread(session.sandbox.check, script, timeout)
                except Exception as error:
                    return {"error": f"the check could not run: {error}"[:300]}
        finally:
            session.checking = False
        return {"status": status, "output": output}

    # -- ending ------------------------------------------------------------------------

    async def end(self, session: Session, reason: str) -> None:
        """End the session and remove its sandbox; returns once that is done (a
        second call waits for the first's). The removal runs as a task of its own, so
        a caller that goes away (a dropped connection) cannot cut it short."""
        if session.ending is None:
            was = session.state
            session.state, session.end_reason = "ended", reason
            if session in self.queue:
                self.queue.remove(session)
            if session.fd is not None:
                self._pause(session)
                self.loop.remove_writer(session.fd)
            session.ending = self.spawn(self._remove(session, was), work=True)
        await asyncio.shield(session.ending)

    async def _remove(self, session: Session, was: str) -> None:
        reason = session.end_reason
        try:
            # The row first: a page reloaded on the "ended" message must already see
            # it. Until then the session stays listed, so a window attaching meanwhile
            # is told it ended rather than given a new shell under the same id.
            await asyncio.to_thread(records.mark_ended, session.public_id, reason)
        except Exception:
            log.exception("recording terminal %s as ended", session.public_id)
        finally:
            if self.sessions.get(session.public_id) is session:
                del self.sessions[session.public_id]
            client, session.client = session.client, None
            if client is not None:
                self._send(client, {"state": "ended", "reason": reason})
                client.close()
        if session.sandbox is not None:
            try:
                async with session.control:  # a check or resize under way finishes first
                    await asyncio.to_thread(close_sandbox, session.sandbox_id, session.sandbox)
            except Exception:
                log.exception("removing terminal %s", session.public_id)
            finally:
                self.held.discard(session)
        log.info("terminal %s (%s, was %s) ended: %s", session.public_id, session.kind, was, reason)
        self.admit()

    async def tick(self) -> None:
        """End sessions whose clocks ran out; keep queued windows' places current."""
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = time.monotonic()
            for session in list(self.sessions.values()):
                reason = self._expired(session, now)
                if reason and session.ending is None:
                    self.spawn(self.end(session, reason))

    def _expired(self, session: Session, now: float) -> str | None:
        clocks = self.clocks
        detached = session.client is None and session.detached_at is not None
        if detached and now - session.detached_at > clocks.grace_seconds:
            return f"Nobody was connected for {duration(clocks.grace_seconds)}."
        if session.state != "live":
            return None
        if now - session.last_input > clocks.idle_seconds:
            return f"Idle for {duration(clocks.idle_seconds)}."
        if now - session.live_since > clocks.lifetime_seconds:
            return f"Reached its lifetime of {duration(clocks.lifetime_seconds)}."
        if not session.sandbox.alive():
            return "The shell exited."
        return None

    def status(self) -> dict:
        return {
            "capacity": self.clocks.capacity,
            "queued": len(self.queue),
            "sessions": [
                {
                    "session": s.public_id,
                    "kind": s.kind,
                    "state": s.state,
                    "sandbox_id": s.sandbox_id,
                    "attached": s.client is not None,
                }
                for s in self.sessions.values()
            ],
        }
