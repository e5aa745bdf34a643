/* hyperhive agent terminal: xterm.js on the shell the harness runs in a pty. Output follows
 * /terminal/stream (base64 bytes; the id is the byte offset, so a reconnect continues where it
 * stopped; `start`/`exit` bring the shell badge rendered). Keystrokes go to /terminal/input in
 * order, one POST at a time. A page that finds no shell ever started starts one. */
(function () {
  "use strict";
  const page = window.hive;
  if (!page || document.body.dataset.page !== "terminal") return;
  if (!window.Terminal || !window.FitAddon) return;     // the note on the page says why
  const $ = (sel) => document.querySelector(sel);
  const MAX_POST = 32 * 1024;       // the server takes 64 KiB a request; stay well below
  const box = $("#shell");
  const startForm = $("#shell-start");
  const stopForm = $("#shell-stop");

  const css = getComputedStyle(document.documentElement);
  const c = (name) => css.getPropertyValue("--" + name).trim();
  const theme = {
    background: c("crust"), foreground: c("text"), cursor: c("amber"), cursorAccent: c("crust"),
    selectionBackground: c("mauve-dim"), black: c("ground"), red: c("red"), green: c("green"), yellow: c("amber"),
    blue: c("cyan"), magenta: c("mauve"), cyan: c("cyan"), white: c("text"), brightBlack: c("muted"),
    brightRed: c("red"), brightGreen: c("green"), brightYellow: c("amber"), brightBlue: c("cyan"),
    brightMagenta: c("mauve"), brightCyan: c("cyan"), brightWhite: "#ffffff",
  };
  const term = new window.Terminal({ theme, fontFamily: c("mono"), fontSize: 13, cursorBlink: true, scrollback: 5000 });
  const fit = new window.FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(box);
  $("#shell-note").hidden = true;

  // input: in order, one request at a time, with what piled up meanwhile in the next
  const encoder = new TextEncoder();
  const toBase64 = (bytes) => btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
  const fromBase64 = (text) => Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  let queue = new Uint8Array(0);
  let sending = false;

  async function drain() {
    sending = true;
    try {
      while (queue.length) {
        const part = queue.subarray(0, MAX_POST);
        queue = queue.subarray(part.length);
        await page.postData("/terminal/input", { data: toBase64(part) });
      }
    } catch (err) {
      queue = new Uint8Array(0);
      page.toast(err.message, "error");
    }
    sending = false;
  }

  function send(bytes) {
    const joined = new Uint8Array(queue.length + bytes.length);
    joined.set(queue);
    joined.set(bytes, queue.length);
    queue = joined;
    if (!sending && queue.length) drain();
  }

  const running = () => startForm.hidden;
  const sizeFields = () => ({ rows: term.rows, cols: term.cols });
  term.onData((text) => {
    if (running()) send(encoder.encode(text));
    else if (text.includes("\r") && !startForm.classList.contains("htmx-request")) startForm.requestSubmit();
  });
  term.onBinary((text) => send(Uint8Array.from(text, (ch) => ch.charCodeAt(0) & 255)));   // X10 mouse reports

  let resizeTimer = null;
  const resized = () => page.postData("/terminal/resize", sizeFields()).catch((err) => page.toast(err.message, "error"));
  term.onResize(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(resized, 120);
  });
  new ResizeObserver(() => fit.fit()).observe(box);
  fit.fit();

  // the shell starts at the terminal's size
  startForm.addEventListener("htmx:configRequest", (e) => Object.assign(e.detail.parameters, sizeFields()));
  document.addEventListener("htmx:afterRequest", () => term.focus());

  // output, and the shell's state
  const source = new EventSource("/terminal/stream");
  source.addEventListener("open", () => page.showLive(true));
  source.addEventListener("error", () => page.showLive(false));
  source.addEventListener("output", (e) => {
    const d = JSON.parse(e.data);
    if (d.reset) term.reset();
    if (d.data) term.write(fromBase64(d.data));
  });
  for (const kind of ["start", "exit"]) {
    source.addEventListener(kind, (e) => {
      $("#shell-state").outerHTML = JSON.parse(e.data).html;
      startForm.hidden = kind === "start";
      stopForm.hidden = kind !== "start";
    });
  }
  if ("fresh" in $(".terminal-page").dataset) {
    page.postData("/terminal/start", sizeFields()).catch((err) => err.code === "conflict" || page.toast(err.message, "error"));
  }

  window.hiveTerminal = { term, fit, send };
  term.focus();
})();
