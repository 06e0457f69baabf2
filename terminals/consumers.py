"""The browser's end of a terminal: a WebSocket relayed to the terminal host.

Binary messages carry terminal bytes both ways; text messages carry JSON: from the
browser ``{"op": "resize", "rows": r, "cols": c}`` and ``{"op": "end"}``, from the
host its session states (protocol.py). Nothing else the browser sends reaches the
host: check scripts, for one, are asked for by the server's own views, never here.

Who may attach: only a signed-in user, and only to a session of their own. A
session that is not theirs is refused exactly like one that does not exist, so ids
cannot be probed; the Origin is checked before this (virtlab/asgi.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from . import protocol
from .models import TerminalSession, this_server
from .services import socket_path

log = logging.getLogger(__name__)
MAX_INPUT_BYTES = 64 * 1024  # one paste; a bigger message is dropped, not buffered
ELSEWHERE = (
    "This terminal was opened on another of the class's servers and runs there; "
    "start a new one here."
)
REFUSED = 4403  # close code the page reads as "not yours, or not signed in"


def owned_session(user, public_id: str) -> TerminalSession | None:
    return TerminalSession.objects.filter(public_id=public_id, user=user).first()


class TerminalConsumer(AsyncWebsocketConsumer):
    host_writer: asyncio.StreamWriter | None = None
    pump: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        public_id = str(self.scope["url_route"]["kwargs"]["public_id"])
        session = None
        if user is not None and user.is_authenticated:
            session = await database_sync_to_async(owned_session)(user, public_id)
        if session is None:
            await self.refuse()
            return
        await self.accept()
        if session.server != this_server():
            # Opened through another web server of the class (each has its own
            # terminal host); a load balancer without sticky routing sends a page here.
            await self.end_here(ELSEWHERE)
            return
        try:
            reader, writer = await asyncio.open_unix_connection(socket_path())
        except OSError as error:
            log.warning("terminal host unreachable: %s", error)
            await self.end_here("The terminal server is not running.")
            return
        self.host_writer = writer
        writer.write(protocol.encode_json({"op": "attach", "session": public_id}))
        self.pump = asyncio.create_task(self.relay_from_host(reader))

    async def end_here(self, reason: str) -> None:
        """Tell the page its terminal has ended, and why, without reaching a host."""
        await self.send(text_data=json.dumps({"state": "ended", "reason": reason}))
        await self.close()

    async def refuse(self) -> None:
        # Accepted, then closed with our code: a WebSocket closed before it is accepted
        # reaches the browser as a failed handshake (close code 1006, like a network
        # error), and the page would keep reconnecting instead of saying why.
        await self.accept()
        await self.close(code=REFUSED)

    async def relay_from_host(self, reader: asyncio.StreamReader) -> None:
        try:
            while (frame := await protocol.read_frame(reader)) is not None:
                kind, payload = frame
                if kind == protocol.DATA:
                    await self.send(bytes_data=payload)
                else:
                    await self.send(text_data=payload.decode())
        except (protocol.ProtocolError, ConnectionError) as error:
            log.info("terminal host connection ended: %s", error)
        with contextlib.suppress(Exception):  # the browser may have gone first
            await self.close()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None):
        writer = self.host_writer
        if writer is None or writer.is_closing():
            return
        if bytes_data is not None:
            if len(bytes_data) > MAX_INPUT_BYTES:
                return
            writer.write(protocol.encode(protocol.DATA, bytes_data))
        elif text_data is not None:
            try:
                message = json.loads(text_data)
            except ValueError:
                return
            if not isinstance(message, dict):
                return
            if message.get("op") == "resize":
                writer.write(
                    protocol.encode_json(
                        {"op": "resize", "rows": message.get("rows"), "cols": message.get("cols")}
                    )
                )
            elif message.get("op") == "end":
                writer.write(protocol.encode_json({"op": "end"}))
        with contextlib.suppress(ConnectionError):
            await writer.drain()  # a host that is not reading slows the browser, not us

    async def disconnect(self, code: int) -> None:
        if self.pump is not None:
            self.pump.cancel()
        if self.host_writer is not None:
            self.host_writer.close()
