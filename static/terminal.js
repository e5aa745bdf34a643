/* hyperhive agent terminal: xterm.js on the shell the harness runs in a pty.
 *
 * Output follows /terminal/stream: `output` events carry base64 bytes, and their id is
 * the byte offset where they end, so the browser's own reconnect (with Last-Event-ID)
 * continues where it stopped; `reset` means the server sent its whole ring instead.
 * Keystrokes go to /terminal/input in the order typed, one POST at a time, with whatever
 * piled up meanwhile in the next. The terminal's size follows its box (the fit addon).
 * Opening the page starts a shell if none has run yet; after one ends, Enter or ▶ starts
 * the next.
 */
(function () {
  "use strict";
  const hive = window.hive;
  if (!hive || !document.body || document.body.dataset.page !== "terminal") return;
  if (!window.Terminal || !window.FitAddon) return;     // the note on the page says why
  const { $, toast, postData } = hive;

  const MAX_POST = 32 * 1024;       // the server takes 64 KiB a request; stay well below
  const box = $("#shell");
  const startForm = $("#shell-start");
  const stopForm = $("#shell-stop");
  const badge = $("#shell-state");

  // -- the terminal, in the page's palette ---------------------------------------------

  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const theme = {
    background: color("--crust"), foreground: color("--text"), cursor: color("--amber"),
    cursorAccent: color("--crust"), selectionBackground: color("--mauve-dim"),
    black: color("--ground"), red: color("--red"), green: color("--green"), yellow: color("--amber"),
    blue: color("--cyan"), magenta: color("--mauve"), cyan: color("--cyan"), white: color("--text"),
    brightBlack: color("--muted"), brightRed: color("--red"), brightGreen: color("--green"),
    brightYellow: color("--amber"), brightBlue: color("--cyan"), brightMagenta: color("--mauve"),
    brightCyan: color("--cyan"), brightWhite: "#ffffff",
  };
  const term = new window.Terminal({
    theme, fontFamily: color("--mono"), fontSize: 13, cursorBlink: true, scrollback: 5000,
    allowProposedApi: false,
  });
  const fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  $("#shell-note").hidden = true;

  // -- bytes ------------------------------------------------------------------------------

  function toBase64(bytes) {
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  const fromBase64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const encoder = new TextEncoder();

  // -- input: in order, one request at a time ----------------------------------------------

  let queue = [];
  let sending = false;

  function take(limit) {
    const parts = [];
    let size = 0;
    while (queue.length && size < limit) {
      const part = queue[0].subarray(0, limit - size);
      if (part.length === queue[0].length) queue.shift();
      else queue[0] = queue[0].subarray(part.length);
      parts.push(part);
      size += part.length;
    }
    const out = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  async function drain() {
    sending = true;
    try {
      while (queue.length) await postData("/terminal/input", { data: toBase64(take(MAX_POST)) });
    } catch (err) {
      queue = [];
      toast(err.message || String(err), "error");
    } finally {
      sending = false;
    }
  }

  function send(bytes) {
    if (!bytes.length) return;
    queue.push(bytes);
    if (!sending) drain();
  }

  // -- the shell's state -----------------------------------------------------------------------

  let running = startForm.hidden;
  let offered = false;

  function setRunning(on, pid) {
    running = on;
    startForm.hidden = on;
    stopForm.hidden = !on;
    badge.className = "badge b-shell" + (on ? " is-running" : "");
    badge.textContent = on ? `● running · pid ${pid}` : "○ no shell";
  }

  function sizeFields() {
    return { rows: term.rows, cols: term.cols };
  }

  term.onData((text) => {
    if (running) send(encoder.encode(text));
    else if (text.includes("\r") && !startForm.hasAttribute("aria-busy")) startForm.requestSubmit();
  });
  // mouse reports in the X10 encoding: one byte a character
  term.onBinary((text) => send(Uint8Array.from(text, (c) => c.charCodeAt(0) & 255)));

  let resizeTimer = null;
  term.onResize(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      postData("/terminal/resize", sizeFields()).catch((err) => toast(err.message, "error"));
    }, 120);
  });
  new ResizeObserver(() => fit.fit()).observe(box);
  fit.fit();

  // the shell starts at the terminal's size (capturing: before hive.js posts the form)
  document.addEventListener("submit", (event) => {
    if (event.target === startForm) {
      startForm.elements.namedItem("rows").value = term.rows;
      startForm.elements.namedItem("cols").value = term.cols;
    }
  }, true);
  document.addEventListener("hive:done", () => term.focus());

  // -- output ----------------------------------------------------------------------------------

  hive.source = hive.connect("/terminal/stream", {
    output(d) {
      if (d.reset) term.reset();
      if (d.data) term.write(fromBase64(d.data));
    },
    start(d) {
      setRunning(true, d.pid);
    },
    exit(d) {
      setRunning(false);
      // the first visit to a harness that never ran a shell: give the operator one
      if (!offered && d.version === 0) {
        offered = true;
        postData("/terminal/start", sizeFields()).catch((err) => {
          if (err.code !== "conflict") toast(err.message, "error");
        });
      }
    },
  });

  window.hive.terminal = { term, fit, send };
  term.focus();
})();
