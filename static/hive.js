/* hyperhive pages: the little that has to run in the browser.
 *
 * The server renders every part of a page, on load and for each live update (htmx swaps
 * in the fragments of the page's stream). This posts forms marked data-async in the
 * background with a toast for the answer, marks #live, and keeps what only the browser
 * knows: an opened journal, the question chip, the composer's recipient, notifications.
 * window.hive exports toast, postData, submitAsync and showLive.
 */
(function () {
  "use strict";

  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  function toast(text, kind) {
    const box = $("#toasts") || document.body.appendChild(el("div", "toasts"));
    const note = el("div", "toast" + (kind === "error" ? " is-error" : ""), (kind === "error" ? "✗ " : "✓ ") + text);
    note.setAttribute("role", "status");
    box.append(note);
    setTimeout(() => note.remove(), kind === "error" ? 8000 : 4000);
    return note;
  }

  // -- forms ---------------------------------------------------------------------------

  const failure = (message, code, status) => Object.assign(new Error(message), { code, status });

  /* POST urlencoded fields asking for JSON; resolves to the reply, throws an Error with its code. */
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
      throw failure(`${res.status} ${res.statusText}`.trim(), "internal", res.status);
    }
    if (!res.ok || !reply.ok) throw failure(reply.error || res.statusText, reply.code, res.status);
    return reply;
  }

  /* form[data-async]: data-confirm asks once (and adds confirm=yes), data-prompt fills an
   * empty field (data-prompt-field, default note), data-reset clears the form (or the named
   * field) after success. The form gets a "hive:done" or "hive:failed" event. */
  async function submitAsync(form, submitter) {
    const body = new URLSearchParams(new FormData(form));
    if (form.dataset.confirm != null) {
      if (!window.confirm(form.dataset.confirm)) return;
      body.set("confirm", "yes");
    }
    if (form.dataset.prompt != null) {
      const name = form.dataset.promptField || "note";
      if (!(body.get(name) || "").trim()) {
        const answer = window.prompt(form.dataset.prompt, "");
        if (answer === null) return;
        body.set(name, answer);
      }
    }
    const button = submitter || form.querySelector("button[type=submit], button:not([type])");
    const spinner = el("span", "spinner");
    spinner.setAttribute("aria-hidden", "true");
    if (button) {
      button.disabled = true;
      button.prepend(spinner);
    }
    form.setAttribute("aria-busy", "true");
    try {
      const reply = await postData(form.getAttribute("action") || location.pathname, body);
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

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || form.dataset.async == null) return;
    event.preventDefault();
    if (form.getAttribute("aria-busy") !== "true") submitAsync(form, event.submitter);
  });

  // -- the page's stream ------------------------------------------------------------------

  function showLive(up) {
    const live = $("#live");
    if (!live) return;
    live.textContent = up ? "◆ live" : "◌ reconnecting…";
    live.className = "live " + (up ? "is-live" : "is-down");
  }
  document.addEventListener("htmx:sseOpen", () => showLive(true));
  document.addEventListener("htmx:sseError", () => showLive(false));
  // The stream's place stays in sse-connect, so a reconnect the extension makes itself
  // replays only what the page missed.
  document.addEventListener("htmx:sseMessage", (e) => {
    const id = e.detail.lastEventId;
    const source = e.target.closest("[sse-connect]");
    if (!id || !source) return;
    const seq = $("#seq");
    if (seq) seq.textContent = id;
    source.setAttribute("sse-connect", source.getAttribute("sse-connect").replace(/last_event_id=\d*/, "last_event_id=" + id));
  });

  // Forms htmx posts (hx-post) ask for JSON; the answer is a toast.
  document.addEventListener("htmx:configRequest", (e) => { e.detail.headers.Accept = "application/json"; });
  document.addEventListener("htmx:afterRequest", (e) => {
    const { xhr, elt, successful, requestConfig } = e.detail;
    if (requestConfig.verb !== "post") return;
    let reply = { error: `${xhr.status} ${xhr.statusText}` };
    try { reply = JSON.parse(xhr.responseText); } catch (err) { /* not JSON: say the status */ }
    if (!successful || !reply.ok) return toast(reply.error || "the request failed", "error");
    toast(reply.message || "done");
    if (elt.hasAttribute("data-reset")) elt.reset();
  });

  // A journal loads when opened, as text (toggle does not bubble: listen while capturing).
  document.addEventListener("toggle", (event) => {
    const box = event.target;
    if (!(box instanceof HTMLDetailsElement) || !box.open || box.dataset.journal == null) return;
    const pre = $(".journal-text", box);
    pre.textContent = "loading…";
    fetch(`/api/journal/${encodeURIComponent(box.dataset.journal)}?lines=200`, { credentials: "same-origin" })
      .then((res) => res.text())
      .then((text) => {
        pre.textContent = text;
        pre.scrollTop = pre.scrollHeight;
      })
      .catch((err) => { pre.textContent = "could not load the journal: " + err.message; });
  }, true);

  window.hive = { toast, postData, submitAsync, showLive };

  if (document.body && document.body.dataset.page === "dashboard") dashboard();

  // -- the dashboard ------------------------------------------------------------------------

  function dashboard() {
    // The chips only hide rows: live, the list holds every open question, so one that
    // arrives lands in place whichever chip is on, and switching needs no request.
    const questions = $("#question-list");
    const chips = $$("#question-filter [data-q]");

    function filterQuestions() {
      const which = questions.dataset.filter || "all";
      for (const row of questions.children) {
        row.hidden = which !== "all" && which !== (row.classList.contains("is-peer") ? "peer" : "operator");
      }
      for (const chip of chips) {
        const on = chip.dataset.q === which;
        chip.classList.toggle("is-current", on);
        if (on) chip.setAttribute("aria-current", "true");
        else chip.removeAttribute("aria-current");
        if (on) questions.dataset.empty = chip.dataset.empty;
      }
    }

    function pickQuestions(which) {
      questions.dataset.filter = which;
      // replace, not push: a chip is a view of this page, not a place to go back to
      const url = new URL(location.href);
      if (which === "all") url.searchParams.delete("q");
      else url.searchParams.set("q", which);
      history.replaceState(history.state, "", url);
      filterQuestions();
    }

    for (const chip of chips) {
      chip.addEventListener("click", (event) => {
        // a middle click or ctrl-click still opens the link in a new tab
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        pickQuestions(chip.dataset.q);
      });
    }

    // The composer: a sticky recipient (the stream renews the options), Enter sends.
    const composer = $("#composer");
    const keepRecipient = () => {
      const select = $("#composer-to");
      const stored = localStorage.getItem("hive.to");
      if (stored && Array.from(select.options).some((o) => o.value === stored)) select.value = stored;
    };
    composer.addEventListener("change", (event) => {
      if (event.target.id === "composer-to") localStorage.setItem("hive.to", event.target.value);
    });
    composer.elements.namedItem("body").addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        composer.requestSubmit();
      }
    });
    document.addEventListener("hive:done", (event) => {
      const details = event.target.closest("details.reply");
      if (details) details.open = false;
    });

    const notify = notifications($("#notify"), (id) => {
      const row = document.getElementById(id);
      if (!row) return;
      if (row.hidden) pickQuestions("all");
      row.scrollIntoView({ block: "center" });
    });
    document.addEventListener("htmx:sseMessage", (event) => {
      if (event.target.id === "notices") $$("[data-tag]", event.target).forEach(notify);
      keepRecipient();
      filterQuestions();
    });
    keepRecipient();
    filterQuestions();
  }

  /* The 🔔 toggle; returns notify(notice) for the server's notices ([data-tag] elements),
   * which shows one only while it is on and the tab is in the background. */
  function notifications(button, reveal) {
    const api = window.Notification;
    const KEY = "hive.notify";
    const LABELS = { on: "🔔 notify · on", off: "🔔 notify", denied: "🔕 notify · blocked", missing: "🔕 no notifications" };
    const TITLES = {
      denied: "this browser blocks notifications from this page: allow them in its site settings",
      missing: "this browser has no notifications",
    };
    let on = false;

    function show(state) {
      on = state === "on";
      button.textContent = LABELS[state];
      button.setAttribute("aria-pressed", String(on));
      button.classList.toggle("is-on", on);
      button.disabled = state === "missing";
      if (TITLES[state]) button.title = TITLES[state];
    }
    const stored = () => (!api ? "missing" : api.permission === "denied" ? "denied"
      : api.permission === "granted" && localStorage.getItem(KEY) === "on" ? "on" : "off");

    // browsers only ask for the permission inside a click, so this is where it happens
    button.addEventListener("click", async () => {
      if (on) {
        localStorage.setItem(KEY, "off");
        return show("off");
      }
      // older Safari takes a callback and returns nothing
      const answer = await new Promise((resolve) => {
        const asked = api.requestPermission(resolve);
        if (asked && asked.then) asked.then(resolve, () => resolve("denied"));
      });
      localStorage.setItem(KEY, answer === "granted" ? "on" : "off");
      show(answer === "granted" ? "on" : answer === "denied" ? "denied" : "off");
    });
    button.hidden = false;
    show(stored());

    return function notify(notice) {
      if (!on || !document.hidden) return;
      if (api.permission !== "granted") return show(stored());     // revoked meanwhile
      const { tag, title, body, row } = notice.dataset;
      try {
        const shown = new api(title, { body, tag });
        shown.onclick = () => {
          window.focus();
          reveal(row);
          shown.close();
        };
      } catch (err) {
        // Chrome on Android only lets a service worker show one
      }
    };
  }
})();
