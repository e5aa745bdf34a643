/* hyperhive agent pages (live page, stats, terminal): htmx posts the forms (hx-post) and swaps
 * in the fragments the server renders on the page's stream. This asks those posts for JSON and
 * toasts the answer, marks the stream's state in the banner, and keeps the stream's place in
 * sse-connect, so a reconnect the extension makes itself replays only what the page missed. */
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
    const { xhr, elt, successful, requestConfig } = e.detail;
    if (requestConfig.verb !== "post") return;
    let reply = { error: `${xhr.status} ${xhr.statusText}` };
    try { reply = JSON.parse(xhr.responseText); } catch (err) { /* not JSON: say the status */ }
    if (!successful || !reply.ok) return toast(reply.error || "the request failed", "error");
    toast(reply.message || "done");
    if (elt.hasAttribute("data-reset")) elt.reset();
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
