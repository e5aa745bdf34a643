/* hyperhive agent pages (live page, stats, terminal): what the pages share in the browser.
 *
 * The server renders everything; htmx posts the forms (hx-post) and swaps in the fragments
 * the server renders on the page's event stream (hx-ext="sse"). This asks those posts for
 * JSON and shows the answer as a toast, marks the stream's state in the banner, and keeps
 * the stream's place in sse-connect so a reconnect the extension makes itself replays
 * only what the page missed.
 */
(function () {
  "use strict";
  const toast = (text, kind) => (window.hive && window.hive.toast ? window.hive.toast(text, kind) : null);

  function live(on) {
    const el = document.getElementById("live");
    if (!el) return;
    el.textContent = on ? "◆ live" : "◌ reconnecting…";
    el.className = "live " + (on ? "is-live" : "is-down");
  }

  /* POST `fields` urlencoded, asking for JSON: the reply, or an Error with its message and code. */
  async function post(url, fields) {
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin", body: new URLSearchParams(fields || {}),
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
    });
    const reply = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
    if (!res.ok || !reply.ok) throw Object.assign(new Error(reply.error || res.statusText), { code: reply.code });
    return reply;
  }

  document.addEventListener("htmx:configRequest", (e) => { e.detail.headers.Accept = "application/json"; });
  document.addEventListener("htmx:afterRequest", (e) => {
    if (e.detail.requestConfig.verb !== "post") return;
    let reply;
    try {
      reply = JSON.parse(e.detail.xhr.responseText);
    } catch (err) {
      reply = { error: `${e.detail.xhr.status} ${e.detail.xhr.statusText}` };
    }
    if (e.detail.successful && reply.ok) {
      toast(reply.message || "done");
      if (e.detail.elt.hasAttribute("data-reset")) e.detail.elt.reset();
    } else {
      toast(reply.error || "the request failed", "error");
    }
  });
  document.addEventListener("htmx:sseOpen", () => live(true));
  document.addEventListener("htmx:sseError", () => live(false));
  document.addEventListener("htmx:sseMessage", (e) => {
    const id = e.detail.lastEventId;
    const source = e.target.closest("[sse-connect]");
    if (!id || !source) return;
    source.setAttribute("sse-connect", source.getAttribute("sse-connect").replace(/last_event_id=\d*/, "last_event_id=" + id));
    const seq = document.getElementById("seq");
    if (seq) seq.textContent = id;
  });

  window.hivePage = { toast, live, post };
})();
