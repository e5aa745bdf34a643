/* hyperhive charts (the agent's stats page, the dashboard's approval queue): the server renders
 * the numbers and tables, and the charts as data (hyperhive/charts.py) in the JSON script that the
 * [data-charts] element names, swapped in anew when it changes; this hands that data to uPlot.
 * Without it, or without uPlot in static/vendor, the numbers and tables are the page. */
(function () {
  "use strict";
  const plot = window.uPlot;
  const main = document.querySelector("[data-charts]");
  if (!main || typeof plot !== "function") return;
  const charts = new Map();
  const style = getComputedStyle(document.documentElement);
  const colour = (name) => style.getPropertyValue("--" + name).trim() || "#8a8197";
  const FONT = "11px " + (style.getPropertyValue("--mono").trim() || "monospace");
  // axis and legend formats; bytes tick on whole KB and MB, so the axis reads "8 KB", not "7.8 KB"
  const BYTE_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500].flatMap((n) => [n, n * 1024, n * 1024 * 1024]).sort((a, b) => a - b);
  const FORMATS = {
    int: (v) => Math.round(v).toLocaleString("en-US"),
    count: (v) => (Number.isInteger(v) ? v.toLocaleString("en-US") : ""),
    secs: (v) => v.toFixed(1) + "s",
    dec: (v) => String(v),
    bytes: (v) => (v < 1024 ? `${v} B` : v < 1048576 ? `${+(v / 1024).toFixed(1)} KB` : `${+(v / 1048576).toFixed(1)} MB`),
  };
  const show = (format) => (v) => (v == null ? "—" : FORMATS[format](v));
  const axis = (extra) => Object.assign({ stroke: colour("muted"), font: FONT, grid: { stroke: colour("rule"), width: 1 },
    ticks: { stroke: colour("rule"), width: 1 } }, extra);
  const bars = (opts) => (plot.paths && plot.paths.bars ? plot.paths.bars(opts) : undefined);
  const bucketBars = bars({ size: [0.8, 60], gap: 1, align: 1 });     // a bucket's bar starts at its start
  const zeroBased = (u, min, max) => [0, Math.max(1, (max || 0) * 1.15)];

  function draw(name, opts, data) {
    const box = main.querySelector(`[data-chart="${name}"]`);
    if (charts.has(name)) charts.get(name).destroy();
    box.replaceChildren();
    const width = Math.max(220, box.clientWidth);
    charts.set(name, new plot(Object.assign({ width, height: 190, cursor: { points: { size: 6 } } }, opts), data, box));
  }

  function series(s, format) {
    const c = colour(s.colour);
    return {
      label: s.label, stroke: c, width: s.dash ? 1 : 1.5, dash: s.dash ? [4, 4] : undefined, spanGaps: !!s.span,
      fill: s.bars ? c + "88" : undefined, paths: s.bars ? bucketBars : undefined, points: { show: !s.bars && !s.dash, size: 4 },
      value: (u, v, si, i) => (i == null ? "—" : s.shown ? String(s.shown[i]) : show(format)(v)),
    };
  }

  function timeChart(c, t, step) {
    const end = t.length ? t[t.length - 1] + step : null;
    const y = c.format === "bytes" ? { size: 64, incrs: BYTE_STEPS } : { size: 56 };
    draw(c.name, {
      scales: { x: { time: true, range: (u, min, max) => [t.length ? t[0] : min, end || max] }, y: { range: zeroBased } },
      axes: [axis({ space: 60 }), axis(Object.assign(y, { values: (u, splits) => splits.map(show(c.format)) }))],
      series: [{ label: "from" }, ...c.series.map((s) => series(s, c.format))],
    }, [t, ...c.series.map((s) => s.data)]);
  }

  function categoryChart(c) {
    const xs = c.labels.map((_, i) => i);
    const long = c.labels.some((l) => l.length > 6) && c.labels.length > 3;
    const each = (alpha) => () => c.labels.map((_, i) => colour(c.colours[i % c.colours.length]) + alpha);
    draw(c.name, {
      height: long ? 220 : 180, padding: [8, 28, 0, 0], legend: { show: true },
      scales: { x: { time: false, range: [-0.6, Math.max(0.6, c.labels.length - 0.4)] }, y: { range: zeroBased } },
      axes: [axis({ splits: () => xs, values: (u, splits) => splits.map((i) => c.labels[i] ?? ""), grid: { show: false },
        rotate: long ? -35 : 0, size: long ? 80 : 30, gap: 4 }), axis({ size: 40, values: (u, splits) => splits.map(show("count")) })],
      series: [{ label: c.what, value: (u, i) => (i == null ? "—" : c.labels[i] ?? "") }, {
        label: "count", stroke: colour(c.colours[0]), width: 1, points: { show: false }, value: (u, v) => show("int")(v),
        paths: bars({ size: [0.7, 48], gap: 1, disp: { fill: { unit: 3, values: each("88") }, stroke: { unit: 3, values: each("") } } }),
      }],
    }, [xs, c.values]);
  }

  let drawn = null;
  function drawAll() {
    const text = document.getElementById(main.dataset.charts).textContent;
    if (text === drawn) return;       // a live update that left the charts as they were
    drawn = text;
    const data = JSON.parse(text);
    for (const c of data.charts) {
      if (c.kind === "time") timeChart(c, data.t, data.step);
      else categoryChart(c);
    }
  }

  main.classList.add("has-charts");
  const resized = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const u = charts.get(entry.target.dataset.chart);
      const width = Math.max(220, Math.floor(entry.contentRect.width));
      if (u && entry.contentRect.width > 0 && width !== u.width) u.setSize({ width, height: u.height });
    }
  });
  for (const box of main.querySelectorAll("[data-chart]")) resized.observe(box);
  drawAll();
  document.addEventListener("htmx:sseMessage", drawAll);
})();
