/* hyperhive stats page: uPlot charts drawn from /api/stats, redrawn when a turn ends.
 *
 * The server renders the numbers and tables; without this file, or without the chart
 * library in static/vendor, they are the page. A turn_stats event on /events (the only
 * kind this page asks for; the harness emits it once a turn's row is written) fetches
 * the summary once and redraws; nothing polls.
 */
(function () {
  "use strict";
  const hive = window.hive;
  if (!hive || !document.body || document.body.dataset.page !== "stats") return;
  const { $, h } = hive;

  const main = $(".stats-page");
  const win = main.dataset.window;
  const charts = new Map();
  const plot = typeof window.uPlot === "function" ? window.uPlot : null;
  const css = (name, fallback) =>
    getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
  const C = {
    amber: css("--amber", "#ffb347"), mauve: css("--mauve", "#c9a0f7"), green: css("--green", "#7cf29a"),
    cyan: css("--cyan", "#7ad7f0"), red: css("--red", "#ff6b81"), muted: css("--muted", "#8a8197"),
    rule: css("--rule", "#2a2533"), text: css("--text", "#d9d3e3"),
  };
  const OUTCOME_COLOURS = {
    ok: C.green, failed: C.red, prompt_too_long: C.mauve, cancelled: C.amber, rate_limited: C.cyan, auth_failed: C.red,
  };
  const FONT = "11px " + (css("--mono", "monospace"));
  // bottom of the sends stack first; the API's own order is its table's
  const SEND_STACK = ["operator", "manager", "peer", "broadcast"];
  const SEND_COLOURS = { operator: C.amber, manager: C.mauve, peer: C.cyan, broadcast: C.green };
  const sendLabel = (k) => (k === "broadcast" ? "broadcast (*)" : k);

  function size(n) {
    if (n == null) return "—";
    n = Number(n);
    for (const unit of ["B", "KB", "MB"]) {
      if (n < 1024 || unit === "MB") return unit === "B" ? `${Math.round(n)} B` : `${n.toFixed(1)} ${unit}`;
      n /= 1024;
    }
    return "";
  }
  const num = (v) => (v == null ? "—" : String(v));
  // ticks on whole KB and MB, so the axis reads "8 KB", not "7.8 KB"
  const BYTE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500].flatMap((n) => [n, n * 1024, n * 1024 * 1024])
    .sort((a, b) => a - b);
  const byteTick = (v) => (v < 1024 ? `${v} B` : v < 1024 * 1024 ? `${+(v / 1024).toFixed(1)} KB`
    : `${+(v / 1024 / 1024).toFixed(1)} MB`);

  const fmt = {
    int: (u, v) => (v == null ? "—" : Math.round(v).toLocaleString("en-US")),
    count: (u, v) => (v == null ? "—" : Number.isInteger(v) ? v.toLocaleString("en-US") : ""),
    secs: (u, v) => (v == null ? "—" : v.toFixed(1) + "s"),
    dec: (u, v) => (v == null ? "—" : String(v)),
    bytes: (u, v) => size(v),
  };

  function axis(extra) {
    return Object.assign({
      stroke: C.muted, font: FONT, grid: { stroke: C.rule, width: 1 }, ticks: { stroke: C.rule, width: 1 },
    }, extra || {});
  }

  const barPaths = (opts) => (plot && plot.paths && plot.paths.bars ? plot.paths.bars(opts) : undefined);
  const bucketBars = barPaths({ size: [0.8, 60], gap: 1, align: 1 });     // a bucket's bar starts at its start
  const zeroBased = (u, min, max) => [0, Math.max(1, (max || 0) * 1.15)];

  function draw(name, opts, data) {
    const box = main.querySelector(`[data-chart="${name}"]`);
    if (!box) return;
    const old = charts.get(name);
    if (old) old.destroy();
    box.replaceChildren();
    const width = Math.max(220, box.clientWidth);
    const u = new plot(Object.assign({ width, height: 190, cursor: { points: { size: 6 } } }, opts), data, box);
    charts.set(name, u);
  }

  const pad = (n) => String(n).padStart(2, "0");
  function stamp(ts, withDate) {
    const d = new Date(ts * 1000);
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    return withDate ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}` : time;
  }

  function timeChart(name, s, series, yFormat, yAxis) {
    const t = s.series.t;
    const end = t.length ? t[t.length - 1] + s.step : null;
    const days = t.length && end - t[0] > 86400;
    draw(name, {
      scales: { x: { time: true, range: (u, min, max) => [t.length ? t[0] : min, end || max] }, y: { range: zeroBased } },
      axes: [
        axis({ space: days ? 110 : 60, values: (u, splits) => splits.map((v) => stamp(v, days)) }),
        axis(Object.assign({ size: 56, values: (u, splits) => splits.map((v) => yFormat(u, v)) }, yAxis)),
      ],
      series: [
        { label: "from", value: (u, v) => (v == null ? "—" : stamp(v, true)) },
        ...series.map((s) => Object.assign({ value: yFormat, spanGaps: false, width: 1.5 }, s)),
      ],
    }, [t, ...series.map((s) => s.data)]);
  }

  const shortTool = (name) => name.replace(/^mcp__hyperhive__/, "").replace(/^mcp__([^_]+)__/, "$1/");

  function categoryChart(name, what, labels, values, colours) {
    const xs = labels.map((_, i) => i);
    const long = labels.some((l) => l.length > 6) && labels.length > 3;
    draw(name, {
      height: long ? 220 : 180,
      padding: [8, 28, 0, 0],
      scales: { x: { time: false, range: [-0.6, Math.max(0.6, labels.length - 0.4)] }, y: { range: zeroBased } },
      axes: [
        axis({ splits: () => xs, values: (u, splits) => splits.map((i) => labels[i] ?? ""), grid: { show: false },
          rotate: long ? -35 : 0, size: long ? 80 : 30, gap: 4 }),
        axis({ size: 40, values: (u, splits) => splits.map((v) => fmt.count(u, v)) }),
      ],
      series: [
        { label: what, value: (u, i) => (i == null ? "—" : labels[i] ?? "") },
        {
          label: "count", stroke: colours[0], fill: colours[0] + "88", width: 1, points: { show: false }, value: fmt.int,
          paths: barPaths({
            size: [0.7, 48], gap: 1,
            disp: {
              fill: { unit: 3, values: () => labels.map((_, i) => colours[i % colours.length] + "88") },
              stroke: { unit: 3, values: () => labels.map((_, i) => colours[i % colours.length]) },
            },
          }),
        },
      ],
      legend: { show: true },
    }, [xs, values]);
  }

  // uPlot does not stack: each class is a bar up to its running total, drawn tallest
  // first so the classes below paint over it; the legend still shows each class's own count.
  function sendsChart(s) {
    const d = s.series;
    let below = d.t.map(() => 0);
    const layers = SEND_STACK.map((k) => {
      const own = d["sends_" + k] || [];
      below = below.map((v, i) => v + (own[i] || 0));
      return { k, own, top: below };
    });
    timeChart("sends", s, layers.reverse().map(({ k, own, top }) => ({
      label: "→ " + sendLabel(k), data: top, stroke: SEND_COLOURS[k], fill: SEND_COLOURS[k] + "aa",
      paths: bucketBars, points: { show: false }, value: (u, v, si, i) => (i == null ? "—" : String(own[i] || 0)),
    })), fmt.count);
  }

  function notesChart(s) {
    const series = [{ label: "notes.md", data: s.series.notes_bytes, stroke: C.green, spanGaps: true, points: { show: true, size: 4 } }];
    if (s.notes_limit) {
      series.push({ label: "compacted past", data: s.series.t.map(() => s.notes_limit), stroke: C.red, dash: [4, 4], width: 1, points: { show: false } });
    }
    timeChart("notes", s, series, fmt.bytes, { size: 64, incrs: BYTE_STEPS, values: (u, splits) => splits.map(byteTick) });
  }

  function drawAll(s) {
    const d = s.series;
    const secs = (list) => list.map((v) => (v == null ? null : v / 1000));
    timeChart("turns", s, [{ label: "turns", data: d.turns, stroke: C.amber, fill: C.amber + "66", paths: bucketBars, points: { show: false } }], fmt.count);
    timeChart("durations", s, [
      { label: "p50", data: secs(d.p50_ms), stroke: C.green, points: { show: true, size: 5 } },
      { label: "p95", data: secs(d.p95_ms), stroke: C.amber, points: { show: true, size: 5 } },
    ], fmt.secs);
    timeChart("tokens", s, [
      { label: "input", data: d.input, stroke: C.amber, points: { show: true, size: 4 } },
      { label: "output", data: d.output, stroke: C.green, points: { show: true, size: 4 } },
      { label: "cache read", data: d.cache_read, stroke: C.cyan, points: { show: true, size: 4 } },
      { label: "cache write", data: d.cache_write, stroke: C.mauve, points: { show: true, size: 4 } },
    ], fmt.int);
    timeChart("tools_per_turn", s, [
      { label: "tool calls per turn", data: d.tools_per_turn, stroke: C.cyan, points: { show: true, size: 5 } },
    ], fmt.dec);
    timeChart("inbox", s, [
      { label: "most", data: d.inbox_max, stroke: C.mauve, fill: C.mauve + "55", paths: bucketBars, points: { show: false } },
      { label: "at the bucket's last turn", data: d.inbox_last, stroke: C.amber, points: { show: true, size: 5 } },
    ], fmt.count);
    sendsChart(s);
    notesChart(s);
    const tools = Object.entries(s.tools).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (tools.length) categoryChart("tools", "tool", tools.map(([k]) => shortTool(k)), tools.map(([, n]) => n), [C.cyan]);
    else charts.delete("tools");
    const outcomes = Object.entries(s.outcomes);
    categoryChart("outcomes", "outcome", outcomes.map(([k]) => k), outcomes.map(([, n]) => n),
      outcomes.map(([k]) => OUTCOME_COLOURS[k] || C.muted));
  }

  // the numbers and tables, for a summary fetched after the page was rendered
  function tally(section, entries, zeroMuted) {
    const table = section.querySelector("table.tally");
    const rows = entries.map(([k, n]) => h("tr", { class: zeroMuted && !n ? "is-zero" : null }, h("th", {}, k), h("td", {}, String(n))));
    if (table) table.replaceChildren(...rows);
    else if (rows.length) section.append(h("table", { class: "tally" }, rows));
    const hint = section.querySelector(".hint");
    if (hint && rows.length) hint.remove();
  }

  const sum = (list) => list.reduce((a, b) => a + (b || 0), 0);
  const setText = (id, text) => {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  };

  function sentText(s, i) {
    const parts = Object.keys(s.sends).filter((k) => s.series["sends_" + k][i]).map((k) => `${s.series["sends_" + k][i]} ${k}`);
    return parts.join(" · ") || "0";
  }

  function buckets(s) {
    const d = s.series;
    const rows = [];
    for (let i = d.t.length - 1; i >= 0; i--) {
      if (!d.turns[i]) continue;
      rows.push(h("tr", {}, [
        stamp(d.t[i], s.step >= 21600), String(d.turns[i]), hive.msText(d.p50_ms[i]), hive.msText(d.p95_ms[i]),
        hive.full(d.input[i]), hive.full(d.output[i]), hive.full(d.cache_read[i]), hive.full(d.cache_write[i]),
        String(d.tools_per_turn[i]), hive.money(d.cost_usd[i]), num(d.inbox_last[i]), num(d.inbox_max[i]),
        sentText(s, i), size(d.notes_bytes[i]),
      ].map((cell) => h("td", {}, cell))));
    }
    $("#buckets-body").replaceChildren(...rows);
    $(".buckets-table").hidden = !rows.length;
    $("#buckets-empty").hidden = rows.length > 0;
  }

  function numbers(s) {
    const d = s.series;
    setText("n-turns", String(s.turns));
    setText("n-tools", String(sum(Object.values(s.tools))));
    setText("tools-count", String(Object.keys(s.tools).length));
    setText("n-cost", hive.money(sum(d.cost_usd)));
    for (const key of ["input", "output", "cache_read", "cache_write"]) {
      setText("n-" + key.replace("_", "-"), hive.full(sum(d[key])));
    }
    buckets(s);
    const big = $("#since-last-value");
    if (big && s.since_last_turn_s != null) {
      big.dataset.since = String(Date.now() / 1000 - s.since_last_turn_s);
      big.classList.remove("muted");
      big.parentElement.classList.remove("muted");
      big.textContent = hive.duration(s.since_last_turn_s);
    }
    const depths = d.inbox_max.filter((v) => v != null);
    setText("n-inbox", num(s.inbox_depth));
    setText("n-inbox-max", depths.length ? String(Math.max(...depths)) : "—");
    setText("n-notes", s.notes_bytes == null ? "no notes.md" : size(s.notes_bytes));
    tally($("#sends"), Object.entries(s.sends).map(([k, n]) => [sendLabel(k), n]), true);
    tally($("#outcomes"), Object.entries(s.outcomes), true);
    tally($("#tools"), Object.entries(s.tools).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])), false);
  }

  let loading = null;
  function load(andNumbers) {
    if (loading) return loading;
    loading = fetch(`/api/stats?window=${encodeURIComponent(win)}`, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((res) => res.json())
      .then((s) => {
        if (plot) drawAll(s);
        if (andNumbers) numbers(s);
      })
      .catch((err) => hive.toast("could not load the stats: " + err.message, "error"))
      .finally(() => { loading = null; });
    return loading;
  }

  if (plot) {
    main.classList.add("has-charts");
    if (window.ResizeObserver) {
      const seen = new WeakMap();
      const observer = new ResizeObserver((entries) => {
        for (const entry of entries) {
          const width = Math.floor(entry.contentRect.width);
          if (seen.get(entry.target) === width) continue;
          seen.set(entry.target, width);
          const u = charts.get(entry.target.dataset.chart);
          if (u && width > 0) u.setSize({ width: Math.max(220, width), height: u.height });
        }
      });
      for (const box of main.querySelectorAll("[data-chart]")) observer.observe(box);
    }
  }
  load(false);
  hive.source = hive.connect("/events?kinds=turn_stats", { turn_stats: () => load(true) });
  hive.stats = { charts, load };
})();
