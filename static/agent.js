/* hyperhive agent page: rows, badges and panels come rendered from the server (htmx swaps them in). Left
 * here is what only the browser can do: keep the stream pinned to its bottom as rows arrive (or
 * count them on the "↓ new" pill), open the threads panel for its first thread, and the composer:
 * Enter sends; its slash commands (listed in #composer-help) post to the controls' endpoints. */
(function () {
  "use strict";
  const page = window.hive;
  if (!page || document.body.dataset.page !== "agent") return;
  const $ = (sel) => document.querySelector(sel);
  const TERM_MAX = 400;           // turn groups kept in the view
  const term = $("#term");
  const pill = $("#term-pill");
  let unseen = 0, stick = true, hadThreads = 0;

  const atBottom = () => term.scrollHeight - term.scrollTop - term.clientHeight < 48;
  function toBottom() {
    [term.scrollTop, unseen, pill.hidden] = [term.scrollHeight, 0, true];
  }
  const section = (className) => Object.assign(document.createElement("section"), { className });
  const lastOpen = () => {
    const last = term.lastElementChild;
    return last && !last.classList.contains("is-local") && !last.querySelector(".r-end") ? last : null;
  };

  document.addEventListener("htmx:sseBeforeMessage", () => {
    stick = atBottom();
    hadThreads = $("#thread-list").children.length;
  });
  document.addEventListener("htmx:sseMessage", (e) => {
    if (e.detail.type === "threads" && !hadThreads && $("#thread-list").children.length) $("#threads").open = true;
    if (e.detail.type !== "term") return;
    while (term.children.length > TERM_MAX) term.firstElementChild.remove();
    if (stick) return toBottom();
    unseen += 1;
    pill.textContent = `↓ ${unseen} new`;
    pill.hidden = false;
  });
  pill.addEventListener("click", toBottom);
  term.addEventListener("scroll", () => { if (atBottom()) toBottom(); });

  // -- the composer --
  const composer = $("#composer");
  const box = $("#composer-body");
  const help = $("#composer-help").content;
  const COMMANDS = Array.from(help.querySelectorAll("[data-command]"), (el) => [el.dataset.command, el.dataset.arg]);

  /* The command list, inside the running turn's group (the turn goes on below it) or on its own. */
  function showHelp() {
    (lastOpen() || term.appendChild(section("turn is-local"))).append(help.cloneNode(true));
    toBottom();
    return null;
  }

  const ACTIONS = { "/compact": "/api/compact", "/new-session": "/api/new-session", "/cancel": "/api/cancel" };
  async function command(text) {
    const [cmd, ...rest] = text.trim().split(/\s+/);
    const arg = rest.join(" ");
    if (cmd === "/model" && !arg) throw new Error("say which model: /model sonnet");
    if (cmd === "/model") return page.postData("/api/model", { model: arg });
    if (ACTIONS[cmd]) return page.postData(ACTIONS[cmd]);
    if (cmd === "/help" || cmd === "/?") return showHelp();
    if (cmd !== "/clear") throw new Error(`there is no command ${cmd}: /help lists them`);
    // an open group stays, empty, so the running turn's next rows have somewhere to go
    term.replaceChildren(...(lastOpen() ? [section("turn")] : []));
    return null;
  }

  async function send(text) {
    const reply = await page.postData("/send", { body: text });
    window.htmx.ajax("GET", "/inbox", { target: "#inbox", swap: "none" });    // the inbox shows it
    return reply;
  }

  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = box.value;
    if (composer.ariaBusy === "true" || !text.trim()) return;
    const button = composer.querySelector("button[type=submit]");
    [button.disabled, composer.ariaBusy] = [true, "true"];
    try {
      const reply = /^\/[a-z?-]*(\s|$)/i.test(text.trim()) ? await command(text) : await send(text);
      if (reply) page.toast(reply.message || "done");
      box.value = "";
    } catch (err) {
      page.toast(err.message || String(err), "error");
    } finally {
      [button.disabled, composer.ariaBusy] = [false, null];
      box.focus();
    }
  });

  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    } else if (event.key === "Tab" && /^\/[a-z-]*$/.test(box.value)) {
      const matches = COMMANDS.filter(([cmd]) => cmd.startsWith(box.value));
      if (!matches.length) return;
      event.preventDefault();
      if (matches.length === 1) box.value = matches[0][0] + (matches[0][1] ? " " : "");
      else box.value = matches.reduce((p, [cmd]) => { while (!cmd.startsWith(p)) p = p.slice(0, -1); return p; }, matches[0][0]);
    }
  });

  toBottom();
})();
