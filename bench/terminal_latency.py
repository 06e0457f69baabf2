"""How quickly a browser terminal answers a keystroke, against a shell on a local pty.

Serves virtlab as `make run` does (scripts/serve: gunicorn's ASGI workers and the
terminal host) from a scratch database and an instance of its own (this checkout's
var/ for the sandboxes' assets), signs a student in
through the login form, opens a container terminal and then a VM terminal with the
site's own form, and talks to each over the WebSocket the page uses. The raw
baseline is busybox's shell on a pty this process holds: no network, no relay, no
sandbox. For each: the round trip of one keystroke (sent, echoed back), many times;
and how soon Ctrl-C brings the prompt back while `yes` floods the terminal (output
is paced by the terminal host, so this is where a flood would show).

    .venv/bin/python bench/terminal_latency.py [keystrokes]
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from page_throughput import PASSWORD, USERNAME, free_port, log_in, wait_until_up  # noqa: E402

PY = sys.executable
PROMPT = b"/ # "
KEYS = b"abcdefghijklmnopqrstuvwxyz"


class LocalPty:
    """busybox sh on a pty of our own: the raw baseline."""

    def __init__(self) -> None:
        from labs.sandbox.container_assets import HOST_BUSYBOX

        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(
                HOST_BUSYBOX, [HOST_BUSYBOX, "sh", "-i"], {"PS1": "/ # ", "PATH": "/bin:/usr/bin"}
            )
        self.read_until(PROMPT)

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def read_until(self, marker: bytes, timeout: float = 30.0) -> bytes:
        seen, deadline = b"", time.monotonic() + timeout
        while marker not in seen:
            ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"no {marker!r} in {seen[-200:]!r}")
            seen += os.read(self.fd, 65536)
        return seen

    def drain(self, seconds: float) -> None:
        if select.select([self.fd], [], [], seconds)[0]:
            os.read(self.fd, 65536)

    def close(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


class WebTerminal:
    """A terminal of the site, through the same WebSocket the page opens."""

    def __init__(self, base: str, cookie: str, kind: str) -> None:
        self.public_id = start_terminal(base, cookie, kind)
        host = urllib.parse.urlparse(base).netloc
        self.connection = contextlib.ExitStack()
        self.socket = self.connection.enter_context(
            connect(
                f"ws://{host}/ws/terminals/{self.public_id}/",
                additional_headers={"Cookie": cookie},
                origin=base,
                max_size=2**20,
            )
        )
        self.buffer = b""
        while True:
            message = self.socket.recv(timeout=180)
            if isinstance(message, bytes):  # the shell may speak before "live" arrives
                self.buffer += message
            else:
                state = json.loads(message)
                if state["state"] == "ended":
                    raise RuntimeError(f"the {kind} terminal ended: {state['reason']}")
                if state["state"] == "live":
                    break
        self.read_until(PROMPT)

    def send(self, data: bytes) -> None:
        self.socket.send(data)

    def read_until(self, marker: bytes, timeout: float = 60.0) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.buffer:
            message = self.socket.recv(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(message, bytes):
                self.buffer += message
        seen, self.buffer = self.buffer, b""
        return seen

    def drain(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            self.socket.recv(timeout=seconds)
        self.buffer = b""

    def close(self) -> None:
        self.socket.send(json.dumps({"op": "end"}))
        self.connection.close()


def start_terminal(base: str, cookie: str, kind: str) -> str:
    """Press the page's "Open a … terminal" button (replacing any open one)."""
    opener = urllib.request.build_opener()
    opener.addheaders = [("Cookie", cookie)]
    page = opener.open(base + "/terminals/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    fields = {"kind": kind, "replace": "1", "csrfmiddlewaretoken": token, "next": "/terminals/"}
    request = urllib.request.Request(
        base + "/terminals/start/", data=urllib.parse.urlencode(fields).encode()
    )
    request.add_header("Referer", base + "/terminals/")
    page = opener.open(request, timeout=30).read().decode()
    return re.search(r'data-ws="/ws/terminals/([0-9a-f-]+)/"', page).group(1)


def keystroke_round_trips(terminal, count: int) -> list[float]:
    times = []
    for index in range(count):
        if index % 40 == 0:
            terminal.send(b"\x15")  # Ctrl-U: start a fresh line now and then
            terminal.drain(0.05)
        key = KEYS[index % len(KEYS) : index % len(KEYS) + 1]
        started = time.perf_counter()
        terminal.send(key)
        terminal.read_until(key)
        times.append(time.perf_counter() - started)
    terminal.send(b"\x15")
    return times


def interrupt_under_flood(terminal) -> float:
    """Run `yes` for a second, reading all the while as a browser's terminal does,
    then time Ctrl-C to the next command's output."""
    terminal.send(b"\x15yes\n")
    flooded = time.monotonic() + 1.0
    while time.monotonic() < flooded:
        terminal.drain(0.05)
    started = time.perf_counter()
    terminal.send(b"\x03")
    terminal.send(b"echo FLOOD-OVER-$((1+1))\n")
    terminal.read_until(b"FLOOD-OVER-2", timeout=120)
    return time.perf_counter() - started


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    scratch = Path(tempfile.mkdtemp(prefix="virtlab-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        "VIRTLAB_INSTANCE": f"bench-{scratch.name}",
        "VIRTLAB_LAB_WORKERS": "0",
        "DEBUG": "",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "virtlab.settings")
    for command in (["migrate"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [PY, str(ROOT / "manage.py"), *command, "-v0"],
            env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(USERNAME, password=PASSWORD)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(ROOT / "scripts" / "serve")],
        env={**env, "VIRTLAB_PORT": str(port)},
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    results: dict[str, tuple[list[float], float]] = {}
    try:
        wait_until_up(base, timeout=60)
        cookie = log_in(base)
        local = LocalPty()
        results["local pty"] = (keystroke_round_trips(local, count), interrupt_under_flood(local))
        local.close()
        for kind, label in (("container", "container terminal"), ("vm", "VM terminal")):
            terminal = WebTerminal(base, cookie, kind)
            keystroke_round_trips(terminal, 20)  # warm up
            results[label] = (
                keystroke_round_trips(terminal, count),
                interrupt_under_flood(terminal),
            )
            terminal.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    print(f"scripts/serve (ASGI workers + terminal host); {count} keystrokes each, one at a time")
    raw = statistics.median(results["local pty"][0])
    for label, (times, flood) in results.items():
        median, p95 = statistics.median(times), statistics.quantiles(times, n=20)[-1]
        print(
            f"{label:<20} keystroke round trip median {median * 1000:6.2f} ms, "
            f"p95 {p95 * 1000:6.2f} ms; Ctrl-C under a `yes` flood to the next prompt "
            f"{flood * 1000:7.1f} ms"
        )
    for label in ("container terminal", "VM terminal"):
        ratio = statistics.median(results[label][0]) / raw
        print(f"{label} keystroke vs local pty … {ratio:.1f}×")


if __name__ == "__main__":
    main()
