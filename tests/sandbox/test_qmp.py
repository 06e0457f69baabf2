"""The QMP client against a fake server (no VM needed) and its timeouts."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from labs.sandbox.qmp import QMPClient, QMPError, QMPTimeout


def _serve(path: str, script) -> threading.Thread:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            reader = conn.makefile("rb")
            conn.sendall(b'{"QMP": {"version": {}, "capabilities": []}}\n')
            script(conn, reader)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _answer(conn, reader, reply: dict, event: dict | None = None) -> None:
    request = json.loads(reader.readline())
    if event:
        conn.sendall(json.dumps(event).encode() + b"\n")
    conn.sendall(json.dumps({**reply, "id": request["id"]}).encode() + b"\n")


def test_negotiates_executes_and_queues_events(tmp_path):
    path = str(tmp_path / "qmp.sock")

    def script(conn, reader):
        _answer(conn, reader, {"return": {}})
        _answer(conn, reader, {"return": {"status": "running"}}, event={"event": "RESUME"})
        _answer(conn, reader, {"error": {"class": "GenericError", "desc": "nope"}})

    thread = _serve(path, script)
    with QMPClient(path, timeout=5).connect() as client:
        assert client.execute("query-status") == {"status": "running"}
        with pytest.raises(QMPError, match="GenericError: nope"):
            client.execute("bogus")
        assert [e["event"] for e in client.events()] == ["RESUME"]
    thread.join(5)


def test_a_silent_server_times_out_instead_of_blocking(tmp_path):
    path = str(tmp_path / "qmp.sock")
    done = threading.Event()

    def script(conn, reader):
        _answer(conn, reader, {"return": {}})
        reader.readline()  # swallow the request, never answer
        done.wait(5)

    thread = _serve(path, script)
    client = QMPClient(path, timeout=5).connect()
    with pytest.raises(QMPTimeout):
        client.execute("query-status", timeout=0.3)
    client.close()
    done.set()
    thread.join(5)


def test_connect_gives_up_when_there_is_no_socket(tmp_path):
    with pytest.raises(QMPTimeout):
        QMPClient(tmp_path / "absent.sock").connect(wait=0.2)
