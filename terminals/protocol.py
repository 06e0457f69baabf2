"""The terminal host's wire format, spoken over its unix socket by the web processes.

A frame is a 4-byte big-endian length, one type byte and the payload: ``J`` a JSON
object (requests, states, check results), ``D`` terminal bytes (keystrokes towards
the host, output from it). Frames are bounded (``MAX_FRAME``): a peer that sends a
bigger one is cut off, so neither side ever buffers without limit.

Requests (the first frame of a connection):

- ``{"op": "attach", "session": <public id>}`` — then ``D`` frames both ways and
  ``{"op": "resize", "rows": r, "cols": c}`` / ``{"op": "end"}`` from the web side;
  ``{"state": ...}`` frames from the host (queued with a position, starting, live with
  its clocks, moved when another window took the shell over, ended with a reason).
- ``{"op": "check", "session": …, "script": …, "timeout": s}`` → ``{"status": …,
  "output": …}`` or ``{"error": …}``.
- ``{"op": "end", "session": …, "reason": …}`` → ``{"ended": true}``.
- ``{"op": "status"}`` → ``{"sessions": [...], "queued": n, "capacity": n}``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct

HEADER = struct.Struct(">IB")
JSON, DATA = ord("J"), ord("D")
MAX_FRAME = 256 * 1024


class ProtocolError(Exception):
    """A malformed or oversized frame: the connection is closed."""


def encode(kind: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(payload)} bytes is over {MAX_FRAME}")
    return HEADER.pack(len(payload), kind) + payload


def encode_json(message: dict) -> bytes:
    return encode(JSON, json.dumps(message, separators=(",", ":")).encode())


def decode_json(payload: bytes) -> dict:
    try:
        message = json.loads(payload)
    except ValueError as error:
        raise ProtocolError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a JSON frame must hold an object")
    return message


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next frame, or None at a clean end of stream."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise ProtocolError("connection closed inside a frame header") from None
        return None
    length, kind = HEADER.unpack(header)
    if length > MAX_FRAME or kind not in (JSON, DATA):
        raise ProtocolError(f"bad frame (type {kind}, {length} bytes)")
    try:
        return kind, await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise ProtocolError("connection closed inside a frame") from None


def request(path: str, message: dict, *, timeout: float) -> dict:
    """One request and its one JSON answer, blocking (for views and commands)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(encode_json(message))
        header = _recv_exactly(sock, HEADER.size)
        length, kind = HEADER.unpack(header)
        if length > MAX_FRAME or kind != JSON:
            raise ProtocolError(f"bad answer (type {kind}, {length} bytes)")
        return decode_json(_recv_exactly(sock, length))


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    chunks, remaining = [], count
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise ProtocolError("the terminal host closed the connection")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
