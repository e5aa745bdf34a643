/* hyperhive agent page: live badges, the turn stream, the inbox, the composer and login.
 *
 * The server renders the whole page; this script follows /events from the page's seq on
 * and applies each event in place. The stream rows are built by the same rules as
 * agentweb.py (tool_line, stream_rows, note_row, end_row), so a row looks the same whether
 * it came with the page or arrived live. Nothing polls: /api/state is fetched only when the
 * status changes (the login panel needs it) or after the event stream reconnects.
 */
(function () {
  "use strict";
  const hive = window.hive;
  if (!hive || !document.body || document.body.dataset.page !== "agent") return;
  const { h, $, toast, since, clock, mmss, msText, compact, full, money } = hive;

  const RESULT_FOLD = 120;
  const LINE_FOLD = 200;
  const PREFIX = "mcp__hyperhive__";
  const INBOX_MAX = 30;
  const TERM_MAX = 400;           // turn groups kept in the view
  const NAME = $(".agent-page").dataset.name;

  const ALIVE = {
    loading: ["◌ loading", "the harness is starting: writing claude's files, installing plugins"],
    online: ["● online", "the harness is running and takes messages"],
    needs_login_idle: ["⚠ needs login", "claude has no credentials: start a login in the panel below"],
    needs_login_in_progress: ["⌁ logging in", "a login is running: open its link and paste the code you get"],
    offline: ["○ offline", "the harness has stopped"],
    rate_limited: ["⏸ rate limited", "the API refused for rate limits: the agent rests, then takes the same message again"],
    unreachable: ["○ unreachable", "this page lost its connection to the harness; it reconnects by itself"],
  };
  const GLYPHS = { thinking: "🧠", compacting: "⌁", napping: "💤", idle: "·" };

  // -- formatting (agentweb.py has the same rules; the number helpers are in hive.js) ------

  const json = (value) => JSON.stringify(value === undefined ? null : value);
  const str = (value) => (value == null ? "" : typeof value === "string" ? value : json(value));
  const has = (obj, key) => Object.prototype.hasOwnProperty.call(obj, key);

  function toolLine(name, args) {
    name = String(name || "?");
    const a = args && typeof args === "object" && !Array.isArray(args) ? args : {};
    const short = name.startsWith(PREFIX) ? name.slice(PREFIX.length) : null;
    const path = a.file_path || a.notebook_path || a.path;
    if (["Read", "Edit", "MultiEdit", "NotebookEdit", "LS"].includes(name) && path) return `${name} ${str(path)}`;
    if (name === "Write" && a.file_path) {
      const lines = typeof a.content === "string" ? ` (${a.content.split("\n").length} lines)` : "";
      return `Write ${str(a.file_path)}${lines}`;
    }
    if (name === "Bash" && has(a, "command")) return `Bash $ ${str(a.command)}`;
    if ((name === "Glob" || name === "Grep") && has(a, "pattern")) {
      return `${name} ${str(a.pattern)}${a.path ? " in " + str(a.path) : ""}`;
    }
    if (name === "TodoWrite" && Array.isArray(a.todos)) return `TodoWrite (${a.todos.length} items)`;
    if (short === "send") {
      const thread = a.in_reply_to != null ? ` (↳ #${str(a.in_reply_to)})` : "";
      return `send → ${str(a.to)}${thread}: ${str(a.body)}`;
    }
    if (short === "recv") {
      const parts = [];
      if (a.wait_seconds) parts.push(`wait ${a.wait_seconds}s`);
      if (a.max) parts.push(`max ${a.max}`);
      return "recv" + (parts.length ? ` (${parts.join(", ")})` : "");
    }
    if (short === "nap" && has(a, "seconds")) return `nap ${a.seconds}s`;
    if (short === "ask") {
      const choice = Array.isArray(a.options) && a.options.length ? ` [${a.options.map(str).join(" / ")}]` : "";
      return `ask → ${str(a.to || "operator")}: ${str(a.question)}${choice}`;
    }
    if (short === "answer") return `answer #${str(a.id)}: ${str(a.answer)}`;
    if (short === "remind") {
      const when = a.delay_seconds != null ? ` in ${a.delay_seconds}s`
        : typeof a.at === "number" ? ` at ${clock(a.at)}` : "";
      return `remind${when}: ${str(a.message)}`;
    }
    if (short === "set_status") return `set_status: ${str(a.text)}`;
    if (["request_spawn", "start", "stop", "restart", "rebuild"].includes(short) && a.name) {
      return `${short} ${str(a.name)}${a.description ? ": " + str(a.description) : ""}`;
    }
    if (short === "request_apply_commit") return `request_apply_commit ${str(a.agent)} @ ${str(a.commit_ref).slice(0, 12)}`;
    if (short !== null && Object.keys(a).length === 0) return short;
    return `tool ${name} ${json(args == null ? {} : args)}`;
  }

  /* One stream row; text longer than `limit` shows its first line and folds the rest. */
  function row(cls, glyph, text, limit, title) {
    text = str(text);
    let fold = null;
    if (limit != null && text.length > limit) {
      fold = text;
      text = text.split("\n", 1)[0].slice(0, limit) + "…";
    }
    return { cls, glyph, text, fold, title: title || null };
  }

  function streamRows(d) {
    switch (d.t) {
      case "blocks":
        return (d.items || []).filter((i) => i && typeof i === "object").flatMap(streamRows);
      case "text":
        return d.text ? [row("r-text", "◆", d.text)] : [];
      case "thinking":
        return [row("r-thinking", "·", d.text, RESULT_FOLD)];
      case "tool_use":
        return [row("r-tool", "→", toolLine(d.name, d.input), LINE_FOLD, `${d.name} ${json(d.input)}`.slice(0, 2000))];
      case "tool_result":
        return d.is_error ? [row("r-result is-error", "✗", d.text || "(error)", RESULT_FOLD)]
          : [row("r-result", "←", d.text || "(no output)", RESULT_FOLD)];
      case "error":
        return [row("r-error", "✗", `API error${d.status ? " " + d.status : ""}: ${str(d.text || d.error)}`, LINE_FOLD)];
      case "interrupted":
        return [row("r-warn", "✗", "interrupted")];
      case "user":
        return d.text ? [row("r-user", "·", d.text, RESULT_FOLD)] : [];
      case "system":
        return systemRows(d);
      case "result":
        return d.is_error ? [row("r-error", "✗", `${str(d.subtype)}: ${str(d.text)}`, LINE_FOLD)] : [];
      default: {
        const rest = Object.assign({}, d);
        delete rest.seq;
        delete rest.at;
        return [row("r-other", "·", `${str(d.t)} ${json(rest)}`, LINE_FOLD)];
      }
    }
  }

  function systemRows(d) {
    if (d.subtype === "api_retry") {
      const delay = d.delay_ms != null ? " in " + msText(d.delay_ms) : "";
      return [row("r-warn", "⌁", `api retry ${str(d.attempt)}/${str(d.max)}: ${str(d.status)} ${str(d.error)}${delay}`)];
    }
    if (d.subtype === "status") {
      if (d.compact_result) {
        return [row("r-system", "⌁", `compaction ${str(d.compact_result)}${d.compact_error ? ": " + str(d.compact_error) : ""}`)];
      }
      return d.status ? [row("r-system", "⌁", `${str(d.status)}…`)] : [];
    }
    if (d.subtype === "compact_boundary") {
      return [row("r-system", "⌁", `compacted (${str(d.trigger)}): ${full(d.pre_tokens)} → ${full(d.post_tokens)} tokens`)];
    }
    if (d.subtype === "permission_denied") return [row("r-error", "✗", `denied ${str(d.name)}: ${str(d.text)}`, LINE_FOLD)];
    return [];
  }

  const NOTE_STYLE = {
    stderr: ["r-stderr", "!"], warn: ["r-warn", "!"], error: ["r-error", "✗"],
    login: ["r-login", "⌁"], info: ["r-info", "·"],
  };

  function noteRow(d) {
    const [cls, glyph] = NOTE_STYLE[d.level] || ["r-op", "·"];
    return row(cls, glyph, (d.level === "login" ? "login: " : "") + str(d.text), LINE_FOLD);
  }

  function endRow(d) {
    const outcome = d.outcome || "?";
    const took = msText(d.duration_ms);
    if (outcome === "ok") return row("r-end is-ok", "✓", `ok ${took}`);
    const cls = outcome === "cancelled" || outcome === "rate_limited" ? "r-end is-warn" : "r-end is-bad";
    return row(cls, "✗", `${outcome} ${took}${d.note ? ": " + str(d.note) : ""}`, LINE_FOLD, `${d.duration_ms} ms`);
  }

  // -- the terminal -----------------------------------------------------------------

  const term = $("#term");
  const pill = $("#term-pill");
  let unseen = 0;

  function rowEl(r) {
    const head = [h("span", { class: "g" }, r.glyph), " ", h("span", { class: "t" }, r.text)];
    const body = r.fold == null ? head
      : h("details", {}, h("summary", {}, head, " ", h("span", { class: "n" }, `${r.fold.length} chars`)), h("pre", {}, r.fold));
    return h("div", { class: "row " + r.cls, title: r.title }, body);
  }

  function headEl(d) {
    const head = row("", "", d.body, LINE_FOLD);
    const meta = `#${d.id} · ${clock(d.at)}` + (d.unread ? ` · ${d.unread} more waiting` : "");
    return h("div", { class: "turn-head", title: `message #${d.id} · ${clock(d.at)}` },
      h("span", { class: "g" }, "←"), " ", h("b", { class: "who" }, d.from), ": ",
      head.fold == null ? h("span", { class: "turn-body" }, head.text)
        : h("details", { class: "turn-body" }, h("summary", {}, head.text), h("pre", {}, head.fold)),
      " ", h("span", { class: "meta" }, meta),
      d.redelivered ? [" ", h("span", { class: "badge b-paused" }, "redelivered")] : null);
  }

  const atBottom = () => term.scrollHeight - term.scrollTop - term.clientHeight < 48;

  function toBottom() {
    term.scrollTop = term.scrollHeight;
    unseen = 0;
    pill.hidden = true;
  }

  /* Run `change` (which adds to the terminal), keeping the view pinned to the bottom when it
   * was there; otherwise count the new rows on the "↓ N new" pill. */
  function grow(change, count) {
    const stick = atBottom();
    change();
    while (term.children.length > TERM_MAX) term.firstElementChild.remove();
    if (stick) {
      toBottom();
    } else if (count) {
      unseen += count;
      pill.textContent = `↓ ${unseen} new`;
      pill.hidden = false;
    }
  }

  function openGroup() {
    const last = term.lastElementChild;
    return last && last.classList.contains("is-open") ? last : null;
  }

  function newGroup(startData) {
    const group = h("section", { class: "turn is-open" }, startData ? headEl(startData) : null);
    term.append(group);
    return group;
  }

  function addRows(rows) {
    if (!rows.length) return;
    grow(() => {
      const group = openGroup() || newGroup(null);
      for (const r of rows) {
        const el = rowEl(r);
        el.classList.add("is-new");
        group.append(el);
      }
    }, rows.length);
  }

  pill.addEventListener("click", toBottom);
  term.addEventListener("scroll", () => {
    if (atBottom()) {
      unseen = 0;
      pill.hidden = true;
    }
  });

  // -- badges -------------------------------------------------------------------------

  const model = { status: null, turnState: null };

  function setAlive(status) {
    model.status = status;
    const [text, title] = ALIVE[status] || [status, "status " + status];
    const el = $("#alive-badge");
    el.className = `badge b-alive b-alive-${status}`;
    el.title = title;
    el.textContent = text;
  }

  function turnTitle(state, sinceTs, until) {
    const at = clock(sinceTs);
    return {
      thinking: `claude is working on a turn since ${at}; ■ cancel stops it`,
      compacting: `the session is being summarised since ${at} so the next turn fits the context window`,
      napping: `napping since ${at} until ${clock(until)}: messages wait in the inbox; ■ cancel wakes the agent`,
      idle: `waiting for a message since ${at}`,
    }[state] || `${state} since ${at}`;
  }

  function setTurnState(state, sinceTs, until) {
    model.turnState = state;
    const el = $("#state-badge");
    el.className = `badge b-turn b-turn-${state}`;
    el.title = turnTitle(state, sinceTs, until);
    const age = state === "napping" && until
      ? h("span", { "data-deadline": until, "data-format": "mmss" }, mmss(until - Date.now() / 1000) + " left")
      : since(sinceTs);
    el.replaceChildren(`${GLYPHS[state] || "·"} ${state} · `, age);
    const cancel = $("#cancel-form");
    cancel.hidden = !(state === "thinking" || state === "napping");
    const button = cancel.querySelector("button");
    button.lastChild.textContent = state === "napping" ? "■ end nap" : "■ cancel turn";
    button.title = state === "napping" ? "end the nap now" : "stop the running turn (claude gets SIGINT)";
  }

  function setModel(name) {
    $("#model-chip").textContent = "model · " + name;
    const input = $("#model-input");
    if (input && document.activeElement !== input) input.value = name;
  }

  function setUsage(u) {
    const ctx = $("#ctx-badge");
    const cost = $("#cost-badge");
    if (!u || !Object.keys(u).length) return;
    ctx.textContent = "ctx · " + compact(u.ctx);
    ctx.title = `context after the last turn: ${full(u.ctx)} tokens · input ${full(u.input)} · cache read ${full(u.cache_read)} · cache write ${full(u.cache_write)} · output ${full(u.output)}`;
    cost.textContent = "cost · " + money(u.cost_usd);
    cost.title = `the last turn cost $${Number(u.cost_usd || 0).toFixed(6)}, as claude reported it`;
  }

  function setLast(last) {
    if (!last) return;
    const el = $("#last-badge");
    const outcome = last.outcome;
    const cls = outcome === "ok" ? "is-ok" : outcome === "cancelled" || outcome === "rate_limited" ? "is-warn" : "is-bad";
    el.className = "badge b-last " + cls;
    el.title = `${last.duration_ms} ms · ended at ${clock(last.at)}`;
    el.textContent = `last · ${msText(last.duration_ms)} ${outcome}`;
  }

  // -- inbox --------------------------------------------------------------------------

  const inbox = $("#inbox-list");

  function inboxEl(m) {
    return h("li", { class: "msg", id: "inbox-" + m.id, "data-id": m.id },
      h("div", { class: "msg-head" },
        h("span", { class: "muted" }, "#" + m.id), " ", h("b", { class: "who" }, m.from), " ",
        h("span", { class: "muted", title: clock(m.sent_at) }, since(m.sent_at), " ago"),
        m.in_reply_to ? [" ", h("span", { class: "thread" }, "↳ reply to #" + m.in_reply_to)] : null,
        m.redelivered ? [" ", h("span", { class: "badge b-paused" }, "redelivered")] : null),
      h("pre", { class: "body" }, m.body));
  }

  function addInbox(m) {
    if (m.id == null || document.getElementById("inbox-" + m.id)) return;
    const el = inboxEl(m);
    // newest first: before the first row with a smaller id
    const after = Array.from(inbox.children).find((li) => Number(li.dataset.id) < m.id);
    inbox.insertBefore(el, after || null);
    el.classList.add("is-new");
    while (inbox.children.length > INBOX_MAX) inbox.lastElementChild.remove();
    $("#inbox-count").textContent = String(inbox.children.length);
  }

  // -- open threads: re-read when a turn starts or ends, the moments they change -----------

  function threadText(t) {
    if (t.kind === "approval") return `approval #${t.id} pending: ${str(t.summary)}`;
    return `question #${t.id} from ${str(t.asker)} to ${str(t.target)}: ${str(t.summary)}`;
  }

  let threadsFetch = null;

  function refreshThreads() {
    if (threadsFetch) return threadsFetch;
    threadsFetch = fetch("/api/open-threads", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((res) => res.json())
      .then((reply) => {
        if (!reply.threads) return;
        const list = $("#thread-list");
        const panel = $("#threads");
        const had = list.children.length;
        list.replaceChildren(...reply.threads.map((t) =>
          h("li", { class: `thread-row is-${t.kind}`, "data-kind": t.kind, "data-id": t.id }, threadText(t))));
        $("#threads-count").textContent = String(reply.threads.length);
        if (!had && reply.threads.length) panel.open = true;     // the first one opens the panel
      })
      .catch(() => {})      // the next turn tries again; the page still shows the last list
      .finally(() => { threadsFetch = null; });
    return threadsFetch;
  }

  // -- login ----------------------------------------------------------------------------

  const URL_RE = /https?:\/\/[^\s"'<>]+/;

  function loginLink(url) {
    return url
      ? h("p", {}, h("a", { id: "login-url", class: "login-url", href: url, target: "_blank", rel: "noopener noreferrer" }, url))
      : h("p", { id: "login-url", class: "muted" }, "waiting for the login link…");
  }

  const asyncForm = (action, attrs, ...kids) =>
    h("form", Object.assign({ method: "post", action, "data-async": true }, attrs || {}), kids);

  function renderLogin(status, login) {
    const panel = $("#login");
    const L = login || {};
    panel.hidden = !String(status).startsWith("needs_login");
    const running = status === "needs_login_in_progress" || L.running;
    const title = h("h2", {}, h("span", { class: "glyph" }, "◆"), " L0G1N ", h("span", { class: "glyph" }, "◆"));
    const output = h("pre", { id: "login-output", class: "login-output", hidden: !L.output }, L.output || "");
    if (running) {
      panel.replaceChildren(title,
        h("p", {}, "a login is running: open the link, sign in, then paste the code you get back."),
        loginLink(L.url),
        h("div", { class: "row-actions" },
          asyncForm("/login/code", { "data-reset": true, id: "login-code-form" },
            h("input", { type: "text", name: "code", required: true, autocomplete: "off", spellcheck: "false", placeholder: "paste the code" }),
            h("button", { type: "submit", class: "go" }, "◆ S3ND C0D3")),
          asyncForm("/login/cancel", {}, h("button", { type: "submit", class: "ghost" }, "✗ C4NC3L"))),
        output);
    } else {
      panel.replaceChildren(title,
        h("p", {}, "claude has no credentials yet. start a login: it prints a link to sign in with, then asks for a code."),
        L.exit_note ? h("p", { class: "muted" }, "the last login: " + L.exit_note) : null,
        h("div", { class: "row-actions" },
          asyncForm("/login/start", {}, h("button", { type: "submit", class: "go" }, "▶ ST4RT L0G1N"))),
        output);
    }
  }

  function loginLine(text) {
    const out = $("#login-output");
    if (!out) return;
    out.hidden = false;
    out.textContent += text + "\n";
    out.scrollTop = out.scrollHeight;
    const link = $("#login-url");
    const found = URL_RE.exec(text);
    if (found && link && link.tagName !== "A") link.replaceWith(loginLink(found[0]));
  }

  // -- the whole state, fetched when the status changes or after a reconnect ------------------

  let fetching = null;
  // Login output comes both in the snapshot and as events. Lines newer than the snapshot
  // (by seq) are put back after it renders, older ones are not added twice.
  let stateSeq = Number(document.body.dataset.seq) || 0;
  const loginLines = [];

  function applyState(s) {
    setAlive(s.status);
    setTurnState(s.turn_state, s.turn_state_since, s.nap_until);
    setModel(s.model);
    setUsage(s.usage);
    setLast(s.last_turn);
    renderLogin(s.status, s.login);
    stateSeq = Number(s.seq) || 0;
    for (const d of loginLines) if (d.seq > stateSeq) loginLine(str(d.text));
    for (const m of (s.inbox || []).slice().reverse()) addInbox(m);
  }

  function refreshState() {
    if (fetching) return fetching;
    fetching = fetch("/api/state", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((res) => res.json())
      .then(applyState)
      .catch((err) => toast("could not reload the agent's state: " + err.message, "error"))
      .finally(() => { fetching = null; });
    return fetching;
  }

  // -- events ---------------------------------------------------------------------------

  let applied = Number(document.body.dataset.seq) || 0;

  const handlers = {
    turn_start(d) {
      refreshThreads();
      grow(() => {
        const open = openGroup();
        if (open) open.classList.remove("is-open");
        newGroup(d).classList.add("is-new");
      }, 1);
      addInbox({ id: d.id, from: d.from, body: d.body, sent_at: d.at, redelivered: d.redelivered });
    },
    stream(d) {
      addRows(streamRows(d));
    },
    note(d) {
      addRows([noteRow(d)]);
      if (d.level === "login") {
        loginLines.push(d);
        if (loginLines.length > 200) loginLines.shift();
        if (!(d.seq <= stateSeq)) loginLine(str(d.text));
      }
    },
    turn_end(d) {
      refreshThreads();
      grow(() => {
        const group = openGroup() || newGroup(null);
        const el = rowEl(endRow(d));
        el.classList.add("is-new");
        group.append(el);
        group.classList.remove("is-open");
      }, 1);
      setLast({ at: d.at, duration_ms: d.duration_ms, outcome: d.outcome });
    },
    status_changed(d) {
      setAlive(d.status);
      addRows([row("r-info", "·", "status → " + d.status)]);
      refreshState();        // the login panel's contents live in the snapshot
    },
    model_changed(d) {
      setModel(d.model);
      addRows([row("r-info", "·", "model → " + d.model)]);
    },
    token_usage_changed(d) {
      setUsage(d);
    },
    turn_state_changed(d) {
      setTurnState(d.state, d.since, d.until);
      if (d.state === "napping" && d.until) addRows([row("r-info", "💤", "napping until " + clock(d.until))]);
    },
  };

  const wrapped = {
    open(afterDrop) {
      if (afterDrop) refreshState();
    },
    error() {
      setAlive("unreachable");
    },
  };
  for (const [kind, fn] of Object.entries(handlers)) {
    wrapped[kind] = (d) => {
      if (d.seq != null && d.seq <= applied) return;      // already on the page
      if (d.seq != null) applied = d.seq;
      fn(d);
      const seq = $("#seq");
      if (seq) seq.textContent = String(applied);
    };
  }

  // -- the composer and its slash commands ----------------------------------------------------

  const composer = $("#composer");
  const box = composer.elements.namedItem("body");
  const COMMANDS = [
    ["/model", "NAME", "set the model for the next turn (haiku, sonnet, opus or a full model id)"],
    ["/compact", "", "summarise the session now (only while idle)"],
    ["/new-session", "", "the next turn starts a fresh claude session"],
    ["/cancel", "", "stop the running turn, or end a nap"],
    ["/clear", "", "clear this view (the history stays on the harness)"],
    ["/help", "", "show these commands"],
  ];

  /* The command list, inside the running turn's group (so the turn goes on below it) or as a
   * group of its own. */
  function help() {
    const rows = [
      h("div", { class: "row r-help" }, h("span", { class: "g" }, "◆"), " ",
        h("span", { class: "t" }, `type a message for ${NAME} and press Enter (Shift+Enter for a new line), or a command:`)),
      ...COMMANDS.map(([cmd, arg, what]) => h("div", { class: "row r-help" }, h("span", { class: "g" }, "·"), " ",
        h("span", { class: "t" }, h("b", {}, cmd + (arg ? " " + arg : "")), "  " + what))),
    ];
    grow(() => {
      const open = openGroup();
      if (open) open.append(...rows);
      else term.append(h("section", { class: "turn is-local" }, rows));
    }, 1);
    toBottom();
  }

  async function command(text) {
    const [cmd, ...rest] = text.trim().split(/\s+/);
    const arg = rest.join(" ");
    switch (cmd) {
      case "/model":
        if (!arg) throw new hive.HiveError("say which model: /model sonnet", "bad_args");
        return hive.postData("/api/model", { model: arg });
      case "/compact":
        return hive.postData("/api/compact");
      case "/new-session":
        return hive.postData("/api/new-session");
      case "/cancel":
        return hive.postData("/api/cancel");
      case "/clear":
        term.replaceChildren();
        toBottom();
        return null;
      case "/help":
      case "/?":
        help();
        return null;
      default:
        throw new hive.HiveError(`there is no command ${cmd}: /help lists them`, "bad_args");
    }
  }

  async function submit() {
    const text = box.value;
    if (!text.trim()) return;
    const button = composer.querySelector("button[type=submit]");
    button.disabled = true;
    composer.setAttribute("aria-busy", "true");
    try {
      let reply;
      if (/^\/[a-z?-]*(\s|$)/i.test(text.trim())) {
        reply = await command(text);
      } else {
        reply = await hive.postData("/send", { body: text });
        addInbox({ id: reply.id, from: "operator", body: reply.body, sent_at: reply.at, redelivered: false });
      }
      if (reply) toast(reply.message || "done");
      box.value = "";
    } catch (err) {
      toast(err.message || String(err), "error");
    } finally {
      button.disabled = false;
      composer.removeAttribute("aria-busy");
      box.focus();
    }
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    if (composer.getAttribute("aria-busy") === "true") return;
    submit();
  });

  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    } else if (event.key === "Tab" && /^\/[a-z-]*$/.test(box.value)) {
      const matches = COMMANDS.map((c) => c[0]).filter((c) => c.startsWith(box.value));
      if (matches.length) {
        event.preventDefault();
        box.value = matches.length === 1 ? matches[0] + (COMMANDS.find((c) => c[0] === matches[0])[1] ? " " : "")
          : commonPrefix(matches);
      }
    }
  });

  function commonPrefix(words) {
    let prefix = words[0];
    for (const w of words) while (!w.startsWith(prefix)) prefix = prefix.slice(0, -1);
    return prefix;
  }

  // -- start ----------------------------------------------------------------------------------

  model.status = $("#alive-badge").className.replace(/.*b-alive-(\S+).*/, "$1");
  toBottom();
  hive.source = hive.connect("/events", wrapped, { lastEventId: document.body.dataset.seq });
  hive.agent = { handlers, toolLine, streamRows, refreshState };
})();
