/* hyperhive stats page: uPlot charts of the turn stats.
 *
 * The server renders the numbers and tables, and puts the same summary as JSON in
 * #stats-data; after each turn the page's event stream swaps in new ones (page.js). This
 * draws the charts from that JSON, and again whenever it changes. Without this file, or
 * without the chart library in static/vendor, the numbers and tables are the page.
 */
(function () {
  "use strict";
  if (!document.body || document.body.dataset.page !== "stats") return;
  const main = document.querySelector(".stats-page");
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
    bytes: (u, v) => (v == null ? "—" : byteTick(v)),
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

  const summary = () => JSON.parse(document.getElementById("stats-data").textContent);
  if (!plot) return;
  main.classList.add("has-charts");
  const observer = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const u = charts.get(entry.target.dataset.chart);
      const width = Math.floor(entry.contentRect.width);
      if (u && width > 0 && Math.max(220, width) !== u.width) u.setSize({ width: Math.max(220, width), height: u.height });
    }
  });
  for (const box of main.querySelectorAll("[data-chart]")) observer.observe(box);
  drawAll(summary());
  document.addEventListener("htmx:sseMessage", (e) => { if (e.detail.type === "stats") drawAll(summary()); });
  window.hiveStats = { charts };
})();
