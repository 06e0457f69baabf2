// The browser terminal: xterm.js on a WebSocket to the server's terminal host
// (terminals/consumers.py). Binary messages are terminal bytes both ways; text
// messages are JSON states from the host ("queued", "starting", "live", "ended").
// A dropped connection is retried for the grace period the host keeps the shell for.
(function () {
  "use strict";

  function minutes(seconds) {
    var m = Math.max(1, Math.round(seconds / 60));
    return m + (m === 1 ? " minute" : " minutes");
  }

  function mount(screen) {
    var panel = screen.closest(".terminal-panel");
    var status = panel.querySelector("[data-terminal-status]");
    var restart = panel.querySelector("[data-terminal-restart]");
    var kind = screen.dataset.kind;
    var term = new window.Terminal({
      cursorBlink: true,
      fontSize: 14,
      scrollback: 2000,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
    });
    var fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open(screen);
    var encoder = new TextEncoder();
    var socket = null;
    var ended = false;
    var graceSeconds = 60;
    var lostAt = null;
    var opened = false; // a socket of this page has been open before

    function say(text, state) {
      status.textContent = text;
      status.dataset.state = state;
    }

    function send(data) {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(data);
    }

    function sendSize() {
      try { fit.fit(); } catch (e) { return; }
      send(JSON.stringify({ op: "resize", rows: term.rows, cols: term.cols }));
    }

    function onState(message) {
      if (message.state === "queued") {
        say("The server is full: you are number " + message.position + " in the queue. Your " + kind + " terminal starts when a place frees up.", "queued");
      } else if (message.state === "starting") {
        say("Starting your " + kind + "…", "starting");
      } else if (message.state === "live") {
        graceSeconds = message.grace_seconds || graceSeconds;
        say("Connected to your " + kind + ". It ends after " + minutes(message.idle_seconds) + " without typing, or in " + minutes(message.lifetime_left) + " at the latest.", "live");
        sendSize();
        term.focus();
      } else if (message.state === "moved") {
        // The shell lives on in another window: nothing to restart, no reconnecting
        // (that would take it back from the other window).
        ended = true;
        say("This terminal is now open in another window. Reload this page to bring it back here.", "moved");
      } else if (message.state === "ended") {
        ended = true;
        say("This terminal has ended: " + message.reason + " Start a new one below.", "ended");
        if (restart) restart.hidden = false;
      }
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + window.location.host + screen.dataset.ws);
      socket.binaryType = "arraybuffer";
      socket.onopen = function () {
        lostAt = null;
        // The host replays the shell's last screenful to a window that reattaches:
        // start from a clean screen rather than show it twice.
        if (opened) term.reset();
        opened = true;
      };
      socket.onmessage = function (event) {
        if (typeof event.data === "string") {
          try { onState(JSON.parse(event.data)); } catch (e) { /* not ours */ }
        } else {
          term.write(new Uint8Array(event.data));
        }
      };
      socket.onclose = function (event) {
        if (ended) return;
        if (event.code === 4403) {
          ended = true;
          say("This terminal is not yours, or you are signed out.", "ended");
          return;
        }
        if (lostAt === null) lostAt = Date.now();
        if (Date.now() - lostAt > graceSeconds * 1000) {
          ended = true;
          say("The connection stayed lost; the terminal has ended. Start a new one below.", "ended");
          if (restart) restart.hidden = false;
          return;
        }
        say("Connection lost — reconnecting to the same shell…", "reconnecting");
        window.setTimeout(connect, 1000);
      };
    }

    term.onData(function (data) { send(encoder.encode(data)); });
    term.onBinary(function (data) {
      var bytes = new Uint8Array(data.length);
      for (var i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 255;
      send(bytes);
    });
    // Ctrl+Shift+C copies the selection (Ctrl+C is the shell's interrupt); pasting
    // with Ctrl+V or the context menu goes through xterm's own paste handling.
    term.attachCustomKeyEventHandler(function (event) {
      if (event.type === "keydown" && event.ctrlKey && event.shiftKey && event.code === "KeyC") {
        copySelection();
        return false;
      }
      return true;
    });
    function copySelection() {
      var text = term.getSelection();
      if (text && navigator.clipboard) navigator.clipboard.writeText(text);
    }
    var copy = panel.querySelector("[data-terminal-copy]");
    if (copy) copy.addEventListener("click", copySelection);
    var reader = panel.querySelector("[data-terminal-reader]");
    if (reader) reader.addEventListener("change", function () {
      term.options.screenReaderMode = reader.checked;
    });
    var resizeTimer = null;
    function resized() {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(sendSize, 100);
    }
    window.addEventListener("resize", resized);
    if (window.ResizeObserver) new ResizeObserver(resized).observe(screen);
    try { fit.fit(); } catch (e) { /* not laid out yet */ }
    connect();
    screen.virtlabTerminal = term; // for the browser tests
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-terminal]").forEach(mount);
  });
})();
