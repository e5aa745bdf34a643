% rebase('base.tpl', title=name + ' · stats · hyperhive', page='stats', seq=seq, banner=name, subtitle='st4ts · ' + ('m1nd' if manager else 'ag3nt') + ' · hyperhive', scripts=['/static/vendor/uPlot.iife.min.js', '/static/stats.js'], flash_ok=flash_ok, flash_error=flash_error)
<link rel="stylesheet" href="/static/vendor/uPlot.min.css">
% P = dict(sm=sm, v=v, now=now, data=data)
<main class="stats-page" data-charts="stats-data" data-window="{{sm['window']}}" hx-ext="sse" sse-connect="/stats/events?window={{sm['window']}}&amp;kinds=turn_stats&amp;last_event_id={{seq}}">
  <div id="page-sink" hidden sse-swap="tick,stats" hx-swap="none"></div>
  % include('agent_nav.tpl', name=name, manager=manager, dashboard_url=dashboard_url, here='stats')
  <nav class="windows" aria-label="window">
    <span class="muted">window</span>
    % for w in windows:
    <a href="/stats?window={{w}}" class="badge{{' is-current' if w == sm['window'] else ''}}"{{!' aria-current="page"' if w == sm['window'] else ''}}>{{w}}</a>
    % end
    <span class="muted">· one bucket is {{v.duration(sm['step'])}}</span>
  </nav>
  <div class="stats-grid">
    <section class="panel big-panel" id="since-last">
      <h2><span class="glyph">◆</span> S1NC3 L4ST TURN <span class="glyph">◆</span></h2>
      % include('stats_parts.tpl', part='since', **P)
    </section>
    <section class="panel" id="outcomes">
      <h2><span class="glyph">◆</span> 0UTC0M3S <span class="glyph">◆</span></h2>
      <div class="chart" data-chart="outcomes"></div>
      % include('stats_parts.tpl', part='outcomes', **P)
    </section>
    <section class="panel" id="tools">
      <h2><span class="glyph">◆</span> T00LS <span class="glyph">◆</span> \\
% include('stats_parts.tpl', part='tools-count', **P)
</h2>
      <div class="chart" data-chart="tools"></div>
      % include('stats_parts.tpl', part='tools', **P)
    </section>
    <section class="panel" id="turns">
      <h2><span class="glyph">◆</span> TURNS <span class="glyph">◆</span> <span class="count">per {{v.duration(sm['step'])}}</span></h2>
      <div class="chart" data-chart="turns"></div>
    </section>
    <section class="panel" id="durations">
      <h2><span class="glyph">◆</span> DUR4T10N <span class="glyph">◆</span> <span class="count">p50 / p95, seconds</span></h2>
      <div class="chart" data-chart="durations"></div>
    </section>
    <section class="panel" id="tools-per-turn">
      <h2><span class="glyph">◆</span> T00L C4LLS P3R TURN <span class="glyph">◆</span></h2>
      <div class="chart" data-chart="tools_per_turn"></div>
    </section>
    <section class="panel" id="inbox-depth">
      <h2><span class="glyph">◆</span> 1NB0X D3PTH <span class="glyph">◆</span> <span class="count">waiting as a turn began</span></h2>
      <div class="chart" data-chart="inbox"></div>
      % include('stats_parts.tpl', part='inbox', **P)
    </section>
    <section class="panel" id="messages-taken">
      <h2><span class="glyph">◆</span> M3SS4G3S P3R TURN <span class="glyph">◆</span> <span class="count">its own and those it took with recv</span></h2>
      <div class="chart" data-chart="messages"></div>
    </section>
    <section class="panel" id="sends">
      <h2><span class="glyph">◆</span> S3NT <span class="glyph">◆</span> <span class="count">messages, by recipient</span></h2>
      <div class="chart" data-chart="sends"></div>
      % include('stats_parts.tpl', part='sends', **P)
    </section>
    <section class="panel" id="notes">
      <h2><span class="glyph">◆</span> N0T3S <span class="glyph">◆</span> <span class="count">notes.md after each turn</span></h2>
      <div class="chart" data-chart="notes"></div>
      % include('stats_parts.tpl', part='notes', **P)
    </section>
    <section class="panel wide" id="tokens">
      <h2><span class="glyph">◆</span> T0K3NS <span class="glyph">◆</span> <span class="count">input / output / cache read / cache write</span></h2>
      <div class="chart" data-chart="tokens"></div>
    </section>
    <section class="panel wide" id="buckets">
      <h2><span class="glyph">◆</span> BUCK3TS <span class="glyph">◆</span> <span class="count">the ones with turns</span></h2>
      % include('stats_parts.tpl', part='buckets', **P)
    </section>
  </div>
  % include('stats_parts.tpl', part='data', **P)
  <p class="hint charts-note" id="charts-note">the charts need javascript and static/vendor/uPlot (<code>./dev setup</code> fetches it); the tables above hold the same numbers.</p>
</main>
<footer class="foot muted">hyperhive · {{name}} · turn stats · lowercase prose, uppercase intent</footer>
