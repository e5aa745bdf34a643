/* hyperhive pages: a few shared helpers (window.hive) and the dashboard's live updates.
 *
 * The pages are complete without this file. With it, forms marked data-async post
 * in the background (spinner in the button, a toast with the answer, no reload), and
 * one EventSource applies the server's events to the page in place. Nothing polls:
 * the only timer re-labels ages and countdowns that are already on the page.
 */
(function () {
  "use strict";

  // -- text ------------------------------------------------------------------

  const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function escape(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
  }

  /* 12s, 4m (4m 05s when precise), 1h 20m, 3d 4h: the same rule as dashboard.duration. */
  function duration(seconds, precise) {
    const s = Math.max(0, Math.floor(seconds));
    const pad = (n) => String(n).padStart(2, "0");
    if (s < 60) return s + "s";
    if (s < 3600) return precise ? `${Math.floor(s / 60)}m ${pad(s % 60)}s` : `${Math.floor(s / 60)}m`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  /* A countdown: 04:59, or 1:04:59 past an hour (the same rule as agentweb.mmss). */
  function mmss(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const pad = (n) => String(n).padStart(2, "0");
    if (s >= 3600) return `${Math.floor(s / 3600)}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
    return `${pad(Math.floor(s / 60))}:${pad(s % 60)}`;
  }

  /* 850ms, 2.3s, 4m 05s (agentweb.ms_text). */
  function msText(ms) {
    if (ms == null) return "?";
    ms = Math.max(0, Math.floor(ms));
    if (ms < 1000) return ms + "ms";
    if (ms < 60000) return (ms / 1000).toFixed(1) + "s";
    return duration(ms / 1000, true);
  }

  /* 12, 12.3k, 1.2M (agentweb.compact); full(n) is 12,345. */
  function compact(n) {
    if (n == null) return "—";
    n = Math.floor(Number(n));
    const trim = (text) => (text.endsWith(".0") ? text.slice(0, -2) : text);
    if (n < 1000) return String(n);
    if (n < 1e6) return trim((n / 1000).toFixed(1)) + "k";
    return trim((n / 1e6).toFixed(1)) + "M";
  }

  const full = (n) => (n == null ? "?" : Math.floor(Number(n)).toLocaleString("en-US"));

  /* $0, <$0.0001, $0.0123, $4.20 (agentweb.money). */
  function money(usd) {
    if (!usd) return "$0";
    if (usd < 0.0001) return "<$0.0001";
    return usd >= 1 ? "$" + usd.toFixed(2) : "$" + usd.toFixed(4);
  }

  const now = () => Date.now() / 1000;
  const ago = (ts) => (ts ? duration(now() - ts) : "");

  function clock(ts) {
    if (!ts) return "";
    const d = new Date(ts * 1000);
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  }

  // -- DOM -------------------------------------------------------------------

  /* h("a", {class: "x", href: u}, "text", child): text always goes in as text nodes. */
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid == null || kid === false || kid === "") continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  /* A span that keeps showing how long ago `ts` was. */
  const since = (ts) => h("span", { "data-since": ts }, ago(ts));

  function toast(text, kind) {
    const box = $("#toasts") || document.body.appendChild(h("div", { id: "toasts", class: "toasts" }));
    const el = h("div", { class: "toast" + (kind === "error" ? " is-error" : ""), role: "status" },
      (kind === "error" ? "✗ " : "✓ ") + text);
    box.append(el);
    setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
    return el;
  }

  /* Ages and countdowns tick here, once a second, from what is already on the page. */
  function tick() {
    const t = now();
    for (const el of $$("[data-since]")) el.textContent = duration(t - Number(el.dataset.since));
    for (const el of $$("[data-deadline]")) {
      const left = Number(el.dataset.deadline) - t;
      if (el.dataset.format === "mmss") el.textContent = left > 0 ? mmss(left) + " left" : "any moment now";
      else el.textContent = left > 0 ? "⏳ " + duration(left, true) : "⏳ expired";
    }
  }

  // -- forms -----------------------------------------------------------------

  class HiveError extends Error {
    constructor(message, code, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  /* POST a form (plus `extra` fields) urlencoded, asking for JSON; resolves to the reply. */
  async function postForm(form, extra) {
    const body = new URLSearchParams(new FormData(form));
    for (const [k, v] of Object.entries(extra || {})) body.set(k, v);
    return postData(form.getAttribute("action") || location.pathname, body);
  }

  async function postData(url, body) {
    const res = await fetch(url, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: body instanceof URLSearchParams ? body : new URLSearchParams(body || {}),
      credentials: "same-origin",
    });
    let reply;
    try {
      reply = await res.json();
    } catch (err) {
      throw new HiveError(`${res.status} ${res.statusText}`.trim(), "internal", res.status);
    }
    if (!res.ok || !reply.ok) throw new HiveError(reply.error || res.statusText, reply.code, res.status);
    return reply;
  }

  /* form[data-async]: data-confirm asks once (and adds confirm=yes), data-prompt fills an
   * empty field (data-prompt-field, default note), data-reset clears the form (or the named
   * field) after success. The form gets a "hive:done" event with the reply. */
  async function submitAsync(form, submitter) {
    const extra = {};
    if (form.dataset.confirm != null) {
      if (!window.confirm(form.dataset.confirm)) return;
      extra.confirm = "yes";
    }
    if (form.dataset.prompt != null) {
      const name = form.dataset.promptField || "note";
      const input = form.elements.namedItem(name);
      if (!input || !input.value.trim()) {
        const answer = window.prompt(form.dataset.prompt, "");
        if (answer === null) return;
        extra[name] = answer;
      }
    }
    const button = submitter || form.querySelector("button[type=submit], button:not([type])");
    const spinner = h("span", { class: "spinner", "aria-hidden": "true" });
    if (button) {
      button.disabled = true;
      button.prepend(spinner);
    }
    form.setAttribute("aria-busy", "true");
    try {
      const reply = await postForm(form, extra);
      toast(reply.message || "done");
      if (form.dataset.reset != null) {
        const field = form.dataset.reset && form.elements.namedItem(form.dataset.reset);
        if (field) field.value = "";
        else form.reset();
      }
      form.dispatchEvent(new CustomEvent("hive:done", { bubbles: true, detail: reply }));
    } catch (err) {
      toast(err.message || String(err), "error");
      form.dispatchEvent(new CustomEvent("hive:failed", { bubbles: true, detail: err }));
    } finally {
      spinner.remove();
      if (button) button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  }

  function bindForms(root) {
    (root || document).addEventListener("submit", (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || form.dataset.async == null) return;
      event.preventDefault();
      if (form.getAttribute("aria-busy") === "true") return;
      submitAsync(form, event.submitter);
    });
  }

  // -- events ------------------------------------------------------------------

  /* One EventSource on `url`; handlers maps event kinds to fn(data, event), plus optional
   * open() and error(). opts.lastEventId replays from there on the first connect (the browser
   * sends Last-Event-ID itself on reconnects). Marks #live. Returns the EventSource. */
  function connect(url, handlers, opts) {
    opts = opts || {};
    let target = url;
    if (opts.lastEventId != null && opts.lastEventId !== "") {
      target += (url.includes("?") ? "&" : "?") + "last_event_id=" + encodeURIComponent(opts.lastEventId);
    }
    const source = new EventSource(target);
    const live = $("#live");
    let dropped = false;
    source.addEventListener("open", () => {
      if (live) {
        live.textContent = "◆ live";
        live.className = "live is-live";
      }
      if (handlers.open) handlers.open(dropped);
      dropped = false;
    });
    source.addEventListener("error", () => {
      dropped = true;
      if (live) {
        live.textContent = "◌ reconnecting…";
        live.className = "live is-down";
      }
      if (handlers.error) handlers.error();
    });
    for (const [kind, fn] of Object.entries(handlers)) {
      if (kind === "open" || kind === "error") continue;
      source.addEventListener(kind, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch (err) {
          return;
        }
        hive.lastSeq = Number(event.lastEventId) || hive.lastSeq;
        try {
          fn(data, event);
        } catch (err) {
          console.error("hyperhive: handling", kind, err);
        }
      });
    }
    return source;
  }

  const hive = {
    escape, duration, mmss, msText, compact, full, money, ago, clock, h, $, $$, since, toast, tick,
    postForm, postData, submitAsync, bindForms, connect, HiveError,
    lastSeq: 0,
  };
  window.hive = hive;

  bindForms(document);
  setInterval(tick, 1000);

  // -- dashboard -----------------------------------------------------------------

  function dashboard() {
    const INBOX_MAX = 50;
    const FLOW_MAX = 100;
    const AGENT_FIELDS = ["running", "failed", "paused", "needs_login", "needs_update", "turn_state",
      "turn_state_since", "turn_state_until", "port", "deployed_sha", "last_turn_at", "status_text", "rollout"];
    const model = { agents: new Map(), transients: {}, pageHost: location.hostname };
    const list = {
      agents: $("#agent-list"), kept: $("#kept-list"), drafts: $("#draft-list"), questions: $("#question-list"),
      inbox: $("#inbox-list"), approvals: $("#approval-list"), flow: $("#flow-list"),
    };

    // renderers: the same markup as the templates/dash_*.tpl partials
    const badge = (text, cls, title) => h("span", { class: "badge " + cls, title }, text);
    const button = (label, cls) => h("button", { type: "submit", class: cls }, label);
    const action = (path, label, cls, attrs, ...kids) =>
      h("form", Object.assign({ method: "post", action: path, "data-async": true }, attrs || {}), kids, button(label, cls));
    const turnGlyph = { thinking: "🧠", compacting: "⌁", napping: "💤", idle: "·" };

    function journal(name) {
      return h("details", { class: "journal", "data-journal": name },
        h("summary", {}, "↳ logs · " + name),
        h("pre", { class: "journal-text" }, "open ",
          h("a", { href: `/api/journal/${name}?lines=200`, target: "_blank", rel: "noopener" }, "the last 200 lines")));
    }

    function agentEl(a) {
      const state = a.failed ? "failed" : a.running ? "running" : "stopped";
      const url = a.port ? `http://${model.pageHost}:${a.port}/` : null;
      const name = url
        ? h("a", { class: "agent-name", href: url, target: "_blank", rel: "noopener", title: `open ${a.name}'s page` }, a.name)
        : h("span", { class: "agent-name" }, a.name);
      const turn = a.turn_state && h("span", { class: `badge b-turn b-turn-${a.turn_state}` },
        (turnGlyph[a.turn_state] || "·") + " " + a.turn_state,
        a.turn_state_since ? [" · ", since(a.turn_state_since)] : null);
      const badges = h("span", { class: "badges" },
        badge(state, "b-" + state),
        a.transient && h("span", { class: "badge b-transient" },
          h("span", { class: "spinner", "aria-hidden": "true" }), a.transient + "…"),
        a.is_manager && badge("manager", "b-manager"),
        a.paused && badge("paused", "b-paused"),
        a.needs_login && badge("needs login", "b-login"),
        a.needs_update && badge("needs update", "b-update"),
        turn,
        a.model && badge("model · " + a.model, "b-model", "model"),
        a.unread > 0 && badge(`✉ ${a.unread} unread`, "b-unread", "messages waiting"),
        a.pending_reminders > 0 && badge(`⏰ ${a.pending_reminders}`, "b-reminders", "pending reminders"),
        a.deployed_sha && badge("@" + a.deployed_sha, "b-sha", "deployed config"),
        a.rollout && badge("settling · #" + a.rollout.id, "b-settling", `the config of approval #${a.rollout.id} ` +
          "is deployed once the agent has stayed up on it; it is rolled back if the agent fails"),
        a.last_turn_at && h("span", { class: "badge b-last", title: "last turn" }, "last turn ", since(a.last_turn_at), " ago"),
        url && h("a", { class: "badge b-port", href: url + "stats", target: "_blank", rel: "noopener", title: "turn stats" },
          "stats :" + a.port));
      const status = a.status_text && h("p", { class: "agent-status" },
        h("span", { class: "glyph" }, "❝"), " ", h("span", { class: "status-text" }, a.status_text),
        a.status_set_at && h("span", { class: "muted" }, " · ", since(a.status_set_at), " ago"));
      const n = a.name;
      const actions = h("div", { class: "row-actions" },
        action(`/start/${n}`, "▶ ST4RT"), action(`/stop/${n}`, "■ ST0P"),
        action(`/restart/${n}`, "↺ R3ST4RT"), action(`/rebuild/${n}`, "↻ R3BU1LD"),
        !a.is_manager && action(`/destroy/${n}`, "DESTR0Y", "danger",
          { "data-confirm": `destroy ${n}? its state is kept unless purge is ticked.` },
          h("label", { class: "tick", title: "also delete its state" },
            h("input", { type: "checkbox", name: "purge", value: "yes" }), " +purge")),
        journal(n));
      return h("li", { class: `agent is-${state}` + (a.transient ? " is-busy" : ""), id: "agent-" + n, "data-name": n },
        h("div", { class: "agent-line" }, h("span", { class: "glyph" }, "◆"), " ", name, " ", badges), status, actions);
    }

    function placeholderEl(name, step) {
      return h("li", { class: "agent is-busy is-placeholder", id: "agent-" + name, "data-name": name },
        h("div", { class: "agent-line" }, h("span", { class: "glyph" }, "◆"), " ",
          h("span", { class: "agent-name" }, name), " ",
          h("span", { class: "badges" }, h("span", { class: "badge b-transient" },
            h("span", { class: "spinner", "aria-hidden": "true" }), step + "…"))));
    }

    function size(n) {
      n = Number(n || 0);
      for (const unit of ["B", "KB", "MB", "GB"]) {
        if (n < 1024 || unit === "GB") return unit === "B" ? `${Math.round(n)} B` : `${n.toFixed(1)} ${unit}`;
        n /= 1024;
      }
      return "";
    }

    function keptEl(k) {
      return h("li", { class: "kept", id: "kept-" + k.name, "data-name": k.name },
        h("div", { class: "agent-line" }, h("span", { class: "glyph" }, "◆"), " ",
          h("span", { class: "agent-name" }, k.name), " ",
          h("span", { class: "badges" },
            badge(size(k.size_bytes), "b-size"),
            k.modified_at && h("span", { class: "badge b-last" }, "modified ", since(k.modified_at), " ago"),
            k.has_credentials && badge("🔑 creds", "b-creds", "claude credentials kept"))),
        h("div", { class: "row-actions" },
          action(`/revive/${k.name}`, "⊕ R3V1V3", "go"),
          action(`/purge/${k.name}`, "PURG3", "danger", { "data-confirm": `purge the kept state of ${k.name} for good?` }),
          journal(k.name)));
    }

    function draftEl(d) {
      return h("li", { class: "draft", id: "draft-" + d.name, "data-name": d.name },
        h("div", { class: "agent-line" }, h("span", { class: "glyph" }, "◆"), " ",
          h("span", { class: "agent-name" }, d.name), " ",
          h("span", { class: "badges" },
            d.config_sha && badge("@" + d.config_sha, "b-sha", "the proposed config repo's HEAD"),
            d.by && badge("by " + d.by, "b-by"),
            d.created_at && h("span", { class: "badge b-last" }, "drafted ", since(d.created_at), " ago"))),
        d.description && h("p", { class: "draft-text" }, d.description),
        h("div", { class: "row-actions" },
          action(`/discard-draft/${d.name}`, "D1SC4RD", "danger",
            { "data-confirm": `discard the draft ${d.name}? its config repo and state dir are deleted.` })));
    }

    function questionEl(q) {
      const peer = q.target != null;
      const opts = (q.options || []).length ? h("div", { class: "options" }, q.options.map((o) =>
        h("label", { class: "opt" }, h("input", { type: q.multi ? "checkbox" : "radio", name: "option", value: o }), " " + o))) : null;
      return h("li", { class: "question" + (peer ? " is-peer" : ""), id: "q-" + q.id, "data-id": q.id },
        h("div", { class: "q-head" },
          h("span", { class: "glyph" }, "◆"), " ", h("b", { class: "who" }, q.asker), " ",
          h("span", { class: "muted" }, "→"), " ", h("span", { class: "target" }, "@" + (q.target || "operator")), " ",
          h("span", { class: "muted" }, `#${q.id} · `, since(q.asked_at), " ago"), " ",
          q.deadline_at && h("span", { class: "badge b-ttl", "data-deadline": q.deadline_at, title: "expires at " + clock(q.deadline_at) },
            "⏳ " + duration(q.deadline_at - now(), true))),
        h("p", { class: "q-text" }, q.question),
        h("form", { method: "post", action: `/answer/${q.id}`, "data-async": true, class: "q-answer" }, opts,
          h("input", { type: "text", name: "answer", autocomplete: "off", maxlength: 65536,
            placeholder: opts ? "or type your own…" : "your answer…" }),
          button(peer ? "0V3RR1D3" : "◆ 4NSW3R", "go")),
        h("form", { method: "post", action: `/cancel-question/${q.id}`, "data-async": true, class: "q-cancel" },
          button("✗ C4NC3L", "ghost")));
    }

    function inboxEl(m) {
      const replyOk = model.agents.has(m.from);
      return h("li", { class: "msg", id: "inbox-" + m.id, "data-id": m.id },
        h("div", { class: "msg-head" },
          h("span", { class: "muted" }, "#" + m.id), " ", h("b", { class: "who" }, m.from), " ",
          h("span", { class: "muted", title: clock(m.sent_at) }, since(m.sent_at), " ago"), " ",
          m.in_reply_to && h("span", { class: "thread" }, "↳ #" + m.in_reply_to), " ",
          m.redelivered && badge("redelivered", "b-paused")),
        h("pre", { class: "body" }, m.body),
        replyOk && h("details", { class: "reply" }, h("summary", {}, "↳ reply"),
          h("form", { method: "post", action: "/send", "data-async": true, "data-reset": "" },
            h("input", { type: "hidden", name: "to", value: m.from }),
            h("input", { type: "hidden", name: "in_reply_to", value: m.id }),
            h("textarea", { name: "body", rows: 2, required: true, placeholder: `reply to ${m.from}…` }),
            button("send ▸"))));
    }

    function diffClass(line) {
      if (line.startsWith("+++") || line.startsWith("---")) return "d-file";
      if (line.startsWith("+")) return "d-add";
      if (line.startsWith("-")) return "d-del";
      if (line.startsWith("@@")) return "d-hunk";
      return "";
    }

    function approvalEl(ap) {
      return h("li", { class: "approval", id: "approval-" + ap.id, "data-id": ap.id },
        h("div", { class: "ap-head" },
          h("span", { class: "glyph" }, "◆"), " ", badge(ap.kind, "b-kind"), " ", h("b", { class: "who" }, ap.agent), " ",
          h("span", { class: "muted" }, `#${ap.id} · `, since(ap.requested_at), " ago"), " ",
          ap.commit_ref && h("code", { class: "ref" }, ap.commit_ref.slice(0, 12))),
        ap.description && h("p", { class: "desc" }, ap.description),
        ap.diff_stat && h("pre", { class: "diff-stat" }, ap.diff_stat),
        ap.diff_truncated && h("p", { class: "diff-cut" },
          `⚠ this diff is cut: the page shows only the start of its ${ap.diff_length.toLocaleString("en")} characters. `,
          h("a", { href: `/approvals/${ap.id}` }, "read all of it to approve"), " · ",
          h("a", { href: `/approvals/${ap.id}/diff` }, "plain text")),
        ap.diff && h("details", { class: "diff" }, h("summary", {}, ap.diff_truncated ? "diff (cut)" : "diff"),
          h("pre", {}, ap.diff.split("\n").map((line) => h("span", { class: diffClass(line) || null }, line)))),
        h("div", { class: "row-actions" },
          // a cut diff is approved from the page that shows all of it (with its sha256)
          ap.diff_truncated ? h("a", { class: "button go", href: `/approvals/${ap.id}` }, "◆ READ ALL T0 APPR0VE")
            : action(`/approve/${ap.id}`, "◆ APPR0VE", "go"),
          action(`/deny/${ap.id}`, "DENY", "danger",
            { "data-prompt": `deny #${ap.id}: why? (optional note)`, "data-prompt-field": "note" },
            h("input", { type: "text", name: "note", placeholder: "note (optional)", autocomplete: "off" }))));
    }

    function clip(text, limit) {
      text = text || "";
      return text.length <= limit ? text : text.slice(0, limit) + "…";
    }

    function flowEl(m) {
      const mark = m.acked_at ? "✓✓" : m.delivered_at ? "✓" : "·";
      return h("li", {
        class: "flow-row" + (m.delivered_at ? " is-delivered" : "") + (m.acked_at ? " is-acked" : ""),
        id: "flow-" + m.id, "data-id": m.id,
      },
      h("span", { class: "muted t" }, clock(m.sent_at)), " ",
      h("span", { class: "muted" }, "#" + m.id), " ",
      h("b", { class: "who" }, m.from), " ", h("span", { class: "arrow" }, "→"), " ", h("b", { class: "to" }, m.to), " ",
      h("span", { class: "mark", title: "sent · delivered ✓ · handled ✓✓" }, mark), " ",
      m.in_reply_to && h("span", { class: "thread" }, "↳ #" + m.in_reply_to), " ",
      flowBody(m));
    }

    // the same fields, in the same order, as dashboard.EVENT_FIELDS
    const EVENT_FIELDS = ["agent", "kind", "status", "tag", "note", "question", "answer", "answerer",
      "rc", "restarting", "purged", "spec", "error"];

    /* A system event reads as its name and a few fields; the JSON stays in the tooltip. */
    function flowBody(m) {
      let data = null;
      if (m.from === "system") {
        try { data = JSON.parse(m.body); } catch (err) { data = null; }
      }
      if (!data || typeof data !== "object" || typeof data.event !== "string") {
        return h("span", { class: "body" }, clip(m.body, 600));
      }
      const empty = (v) => v == null || v === "" || (typeof v === "object" && !Object.keys(v).length);
      const parts = EVENT_FIELDS.filter((k) => !empty(data[k]))
        .map((k) => `${k} ${typeof data[k] === "object" ? JSON.stringify(data[k]) : data[k]}`);
      return h("span", { class: "body", title: clip(m.body, 2000) },
        h("b", { class: "event" }, data.event), " " + parts.join(" · "));
    }

    // sections

    function fill(el, items, render) {
      el.replaceChildren(...items.map(render));
    }

    function count(id, n) {
      const el = document.getElementById(id);
      if (el) el.textContent = String(n);
    }

    function counts() {
      count("agents-count", list.agents.querySelectorAll(":scope > li:not(.is-placeholder)").length);
      count("kept-count", list.kept.children.length);
      count("drafts-count", list.drafts.children.length);
      count("questions-count", list.questions.children.length);
      count("approvals-count", list.approvals.children.length);
      count("inbox-count", list.inbox.children.length);
      showQuestions();
    }

    // The question chips only hide rows: every open question stays in the list, so one that
    // arrives live lands in place whichever chip is on, and switching needs no fetch.
    const chips = $$("#question-filter [data-q]");
    let questionFilter = list.questions.dataset.filter || "all";
    const questionKind = (li) => (li.classList.contains("is-peer") ? "peer" : "operator");

    function showQuestions() {
      const rows = Array.from(list.questions.children);
      const tally = { all: rows.length, operator: 0, peer: 0 };
      for (const li of rows) {
        const kind = questionKind(li);
        tally[kind] += 1;
        li.hidden = questionFilter !== "all" && kind !== questionFilter;
      }
      for (const chip of chips) {
        const on = chip.dataset.q === questionFilter;
        chip.classList.toggle("is-current", on);
        if (on) chip.setAttribute("aria-current", "true");
        else chip.removeAttribute("aria-current");
        if (on) list.questions.dataset.empty = chip.dataset.empty;
        count("questions-count-" + chip.dataset.q, tally[chip.dataset.q]);
      }
    }

    function pickQuestions(key) {
      questionFilter = key;
      list.questions.dataset.filter = key;
      // replace, not push: a chip is a view of this page, not a place to go back to
      const url = new URL(location.href);
      if (key === "all") url.searchParams.delete("q");
      else url.searchParams.set("q", key);
      history.replaceState(history.state, "", url);
      showQuestions();
    }

    for (const chip of chips) {
      chip.addEventListener("click", (event) => {
        // a middle click or ctrl-click still opens the link in a new tab
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        pickQuestions(chip.dataset.q);
      });
    }

    /* Scroll to a row, first showing every question if the chip hides it. */
    function reveal(id) {
      const row = document.getElementById(id);
      if (!row) return;
      if (row.hidden) pickQuestions("all");
      row.scrollIntoView({ block: "center" });
    }

    /* A fresh row for `a` that keeps what the operator had open or ticked in the old one. */
    function agentRow(a) {
      const fresh = agentEl(a);
      const old = document.getElementById("agent-" + a.name);
      if (!old) return fresh;
      const openJournal = old.querySelector("details.journal[open]");
      if (openJournal) fresh.querySelector("details.journal").replaceWith(openJournal);
      const purge = old.querySelector("input[name=purge]");
      if (purge && purge.checked) fresh.querySelector("input[name=purge]").checked = true;
      return fresh;
    }

    function renderAgents() {
      const placeholders = Object.entries(model.transients)
        .filter(([name]) => !model.agents.has(name)).sort()
        .map(([name, step]) => placeholderEl(name, step));
      list.agents.replaceChildren(...placeholders, ...Array.from(model.agents.values()).map(agentRow));
      renderRecipients();
      counts();
    }

    function renderAgent(name) {
      const a = model.agents.get(name);
      if (!a) return;
      const old = document.getElementById("agent-" + name);
      const fresh = agentRow(a);
      if (old) old.replaceWith(fresh);
      else list.agents.append(fresh);
    }

    function renderRecipients() {
      const select = $("#composer-to");
      if (!select) return;
      const chosen = select.value || localStorage.getItem("hive.to") || "";
      const names = Array.from(model.agents.keys());
      select.replaceChildren(h("option", { value: "" }, "@…"),
        ...names.map((n) => h("option", { value: n }, "@" + n)),
        h("option", { value: "*" }, "@* (everyone)"));
      if (chosen === "*" || names.includes(chosen)) select.value = chosen;
    }

    /* The 🔔 notify toggle; returns notify(tag, title, body, rowId), which shows a browser
     * notification only while it is on and the tab is in the background. */
    function notifications(btn) {
      const api = window.Notification;
      const KEY = "hive.notify";
      const LABELS = {
        on: "🔔 notify · on", off: "🔔 notify", denied: "🔕 notify · blocked", missing: "🔕 no notifications",
      };
      const TITLES = {
        denied: "this browser blocks notifications from this page: allow them in its site settings",
        missing: "this browser has no notifications",
      };
      let on = false;

      function show(state) {
        on = state === "on";
        btn.textContent = LABELS[state];
        btn.setAttribute("aria-pressed", String(on));
        btn.classList.toggle("is-on", on);
        btn.disabled = state === "missing";
        if (TITLES[state]) btn.title = TITLES[state];
      }

      function stored() {
        if (!api) return "missing";
        if (api.permission === "denied") return "denied";
        return api.permission === "granted" && localStorage.getItem(KEY) === "on" ? "on" : "off";
      }

      function ask() {
        // older Safari takes a callback and returns nothing
        return new Promise((resolve) => {
          const answer = api.requestPermission(resolve);
          if (answer && answer.then) answer.then(resolve, () => resolve("denied"));
        });
      }

      // browsers only ask for the permission inside a click, so this is where it happens
      btn.addEventListener("click", async () => {
        if (on) {
          localStorage.setItem(KEY, "off");
          return show("off");
        }
        const answer = await ask();
        localStorage.setItem(KEY, answer === "granted" ? "on" : "off");
        show(answer === "granted" ? "on" : answer === "denied" ? "denied" : "off");
      });
      btn.hidden = false;
      show(stored());

      return function notify(tag, title, body, rowId) {
        if (!on || !document.hidden) return;
        if (api.permission !== "granted") return show(stored());     // revoked meanwhile
        let shown;
        try {
          shown = new api(title, { body: clip(body, 240), tag });
        } catch (err) {
          return;       // Chrome on Android only lets a service worker show one
        }
        shown.onclick = () => {
          window.focus();
          reveal(rowId);
          shown.close();
        };
      };
    }

    const notifyButton = $("#notify");
    const notify = notifyButton ? notifications(notifyButton) : () => {};

    function prepend(el, item, max) {
      el.prepend(item);
      item.classList.add("is-new");
      while (max && el.children.length > max) el.lastElementChild.remove();
    }

    function showDisk(disk) {
      const banner = document.getElementById("disk-full");
      if (banner) banner.hidden = !disk.full;
    }

    function applyState(s, sections) {
      model.pageHost = s.page_host || model.pageHost;
      model.agents = new Map(s.agents.map((a) => [a.name, a]));
      model.transients = Object.assign({}, s.transients);
      if (s.disk) showDisk(s.disk);
      const all = !sections;
      if (all || sections.has("agents")) renderAgents();
      if (all || sections.has("kept")) fill(list.kept, s.kept, keptEl);
      if (all || sections.has("drafts")) fill(list.drafts, s.drafts, draftEl);
      if (all || sections.has("questions")) fill(list.questions, s.questions, questionEl);
      if (all || sections.has("approvals")) fill(list.approvals, s.approvals, approvalEl);
      if (all) {
        fill(list.inbox, s.inbox, inboxEl);
        fill(list.flow, s.flow, flowEl);
      }
      counts();
      tick();
    }

    // One /api/state fetch answers a structural event (an agent added or removed); events
    // that arrive meanwhile are applied again on top of the snapshot.
    const SECTIONS = ["agents", "kept", "drafts", "questions", "approvals", "inbox", "flow"];
    let inflight = null;
    let wanted = null;
    let during = [];

    function refresh(sections) {
      wanted = wanted || new Set();
      for (const s of sections || SECTIONS) wanted.add(s);
      if (inflight) return inflight;
      const these = wanted;
      wanted = null;
      during = [];
      inflight = fetch("/api/state", { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then((res) => res.json())
        .then((s) => {
          applyState(s, these.size >= SECTIONS.length ? null : these);
          const replay = during.filter((e) => e.data.seq > s.seq);
          during = [];
          for (const e of replay) handlers[e.kind](e.data, true);
        })
        .catch((err) => toast("could not reload the page state: " + err.message, "error"))
        .finally(() => {
          inflight = null;
          if (wanted) refresh(Array.from(wanted));
        });
      return inflight;
    }

    function note(kind, data) {
      if (inflight) during.push({ kind, data });
    }

    function bumpUnread(name, delta) {
      const a = model.agents.get(name);
      if (!a) return;
      a.unread = Math.max(0, (a.unread || 0) + delta);
      renderAgent(name);
    }

    const handlers = {
      open(afterDrop) {
        if (afterDrop) refresh();        // what was missed may be older than the server keeps
      },
      sent(d, replay) {
        note("sent", d);
        const m = { id: d.id, from: d.sender, to: d.to, body: d.body, sent_at: d.at, in_reply_to: d.in_reply_to };
        const isNew = !document.getElementById("flow-" + d.id);
        if (isNew) prepend(list.flow, flowEl(m), FLOW_MAX);
        if (d.to === "operator" && !document.getElementById("inbox-" + d.id)) {
          prepend(list.inbox, inboxEl(Object.assign({ redelivered: false }, m)), INBOX_MAX);
          counts();
          if (replay !== true) notify("message-" + d.id, "message from " + d.sender, d.body, "inbox-" + d.id);
        }
        if (isNew || replay === true) bumpUnread(d.to, +1);
      },
      delivered(d, replay) {
        note("delivered", d);
        const row = document.getElementById("flow-" + d.id);
        const isNew = row && !row.classList.contains("is-delivered");
        if (isNew) {
          row.classList.add("is-delivered");
          row.querySelector(".mark").textContent = "✓";
        }
        if (isNew || replay === true) bumpUnread(d.to, -1);
      },
      acked(d) {
        note("acked", d);
        for (const id of d.ids || []) {
          const row = document.getElementById("flow-" + id);
          if (!row) continue;
          row.classList.add("is-delivered", "is-acked");
          row.querySelector(".mark").textContent = "✓✓";
        }
      },
      approval_added(d, replay) {
        note("approval_added", d);
        if (document.getElementById("approval-" + d.id)) return;
        // the operator's own requests (from ctl, say) need no reminder
        if (replay !== true && d.requested_by !== "operator") {
          notify("approval-" + d.id, `approval #${d.id}: ${d.kind} ${d.agent}`,
            d.description || "waiting for you", "approval-" + d.id);
        }
        // the diff lives in the snapshot (config commits, and the spawn of a draft)
        if (d.kind !== "spawn" || d.sha) return refresh(["approvals"]);
        prepend(list.approvals, approvalEl({
          id: d.id, agent: d.agent, kind: d.kind, description: d.description, requested_at: d.at,
          commit_ref: d.commit_ref || "", diff: null,
        }));
        counts();
      },
      approval_resolved(d) {
        note("approval_resolved", d);
        const el = document.getElementById("approval-" + d.id);
        if (el) el.remove();
        counts();
      },
      question_added(d, replay) {
        note("question_added", d);
        if (document.getElementById("q-" + d.id)) return;
        if (d.target == null && replay !== true) {
          notify("question-" + d.id, "question from " + d.asker, d.question, "q-" + d.id);
        }
        const el = questionEl({
          id: d.id, asker: d.asker, target: d.target, question: d.question, options: d.options,
          multi: d.multi, asked_at: d.at, deadline_at: d.deadline_at,
        });
        list.questions.append(el);
        el.classList.add("is-new");
        counts();
      },
      question_resolved(d) {
        note("question_resolved", d);
        const el = document.getElementById("q-" + d.id);
        if (el) el.remove();
        counts();
      },
      agent_changed(d) {
        note("agent_changed", d);
        const a = model.agents.get(d.name);
        if (!a || d.added || d.purged) return refresh(["agents", "kept"]);
        for (const key of AGENT_FIELDS) if (key in d) a[key] = d[key];
        if (d.model) a.model = d.model;
        if ("status_text" in d) {
          a.status_text = d.status_text || null;
          a.status_set_at = d.at;
        }
        if (d.running === false) a.turn_state = null;
        renderAgent(d.name);
      },
      disk_changed(d) {
        note("disk_changed", d);
        showDisk(d);
      },
      draft_added(d) {
        note("draft_added", d);
        refresh(["drafts"]);
      },
      draft_removed(d) {
        note("draft_removed", d);
        const el = document.getElementById("draft-" + d.name);
        if (el) el.remove();
        counts();
      },
      agent_removed(d) {
        note("agent_removed", d);
        model.agents.delete(d.name);
        const el = document.getElementById("agent-" + d.name);
        if (el) el.remove();
        refresh(["agents", "kept"]);
      },
      transient_set(d) {
        note("transient_set", d);
        const a = model.agents.get(d.name);
        if (a) {
          a.transient = d.step;
          renderAgent(d.name);
        } else {
          model.transients[d.name] = d.step;
          const old = document.getElementById("agent-" + d.name);
          const el = placeholderEl(d.name, d.step);
          if (old) old.replaceWith(el);
          else list.agents.prepend(el);
        }
      },
      transient_cleared(d, replay) {
        note("transient_cleared", d);
        delete model.transients[d.name];
        const a = model.agents.get(d.name);
        if (a) {
          a.transient = null;
          renderAgent(d.name);
        } else {
          const el = document.getElementById("agent-" + d.name);
          if (el && el.classList.contains("is-placeholder")) el.remove();
        }
        // a step ended (a spawn, a destroy, a start): its outcome is in the next snapshot
        if (replay !== true) refresh(["agents"]);
      },
    };

    // the journal viewer loads when opened (toggle does not bubble: listen while capturing)
    document.addEventListener("toggle", (event) => {
      const box = event.target;
      if (!(box instanceof HTMLDetailsElement) || !box.open || box.dataset.journal == null) return;
      const pre = box.querySelector(".journal-text");
      pre.textContent = "loading…";
      fetch(`/api/journal/${encodeURIComponent(box.dataset.journal)}?lines=200`, { credentials: "same-origin" })
        .then((res) => res.text())
        .then((text) => {
          pre.textContent = text;
          pre.scrollTop = pre.scrollHeight;
        })
        .catch((err) => { pre.textContent = "could not load the journal: " + err.message; });
    }, true);

    // the composer: a sticky recipient, Enter sends (Shift+Enter for a new line)
    const composer = $("#composer");
    if (composer) {
      const select = $("#composer-to");
      const stored = localStorage.getItem("hive.to");
      if (stored && Array.from(select.options).some((o) => o.value === stored)) select.value = stored;
      select.addEventListener("change", () => localStorage.setItem("hive.to", select.value));
      composer.elements.namedItem("body").addEventListener("keydown", (event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          composer.requestSubmit();
        }
      });
    }
    // a refused change may be the first sign of a full disk: the banner comes with the state
    document.addEventListener("hive:failed", (event) => {
      if (event.detail && event.detail.code === "unavailable") refresh(["agents"]);
    });
    document.addEventListener("hive:done", (event) => {
      const details = event.target.closest("details.reply");
      if (details) details.open = false;
    });

    // take over from the server-rendered page, then follow the events from that snapshot on
    const pageSeq = document.body.dataset.seq;
    fetch("/api/state", { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((res) => res.json())
      .then((s) => {
        applyState(s, null);
        hive.source = connect("/events", handlers, { lastEventId: s.seq });
      })
      .catch(() => {
        hive.source = connect("/events", handlers, { lastEventId: pageSeq });
      });
    hive.dashboard = { model, handlers, refresh };
  }

  if (document.body && document.body.dataset.page === "dashboard") dashboard();
})();
