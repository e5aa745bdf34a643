% rebase('base.tpl', title=name + ' · stats · hyperhive', page='stats', seq=seq, banner=name, subtitle='st4ts · ' + ('m1nd' if manager else 'ag3nt') + ' · hyperhive', scripts=['/static/vendor/uPlot.iife.min.js', '/static/stats.js'], flash_ok=flash_ok, flash_error=flash_error)
% sm = summary
% series = sm['series']
% last_at = (now - sm['since_last_turn_s']) if sm['since_last_turn_s'] is not None else None
% cost = sum(c or 0 for c in series['cost_usd'])
% tokens = {k: sum(x or 0 for x in series[k]) for k in ('input', 'output', 'cache_read', 'cache_write')}
% tool_total = sum(sm['tools'].values())
% inbox_max = max((x for x in series['inbox_max'] if x is not None), default=None)
% notes_limit = sm.get('notes_limit')
<link rel="stylesheet" href="/static/vendor/uPlot.min.css">
<main class="stats-page" data-window="{{sm['window']}}">
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
      % if last_at:
      <p class="big" title="the last turn ended at {{v.clock(last_at)}}"><span data-since="{{last_at}}" id="since-last-value">{{v.duration(sm['since_last_turn_s'])}}</span></p>
      % else:
      <p class="big muted" id="since-last-value">no turn yet</p>
      % end
      <dl class="numbers">
        <dt>turns</dt><dd id="n-turns">{{sm['turns']}}</dd>
        <dt>tool calls</dt><dd id="n-tools">{{tool_total}}</dd>
        <dt>cost</dt><dd id="n-cost">{{v.money(cost)}}</dd>
        <dt>input</dt><dd id="n-input">{{v.full(tokens['input'])}}</dd>
        <dt>output</dt><dd id="n-output">{{v.full(tokens['output'])}}</dd>
        <dt>cache read</dt><dd id="n-cache-read">{{v.full(tokens['cache_read'])}}</dd>
        <dt>cache write</dt><dd id="n-cache-write">{{v.full(tokens['cache_write'])}}</dd>
      </dl>
    </section>
    <section class="panel" id="outcomes">
      <h2><span class="glyph">◆</span> 0UTC0M3S <span class="glyph">◆</span></h2>
      <div class="chart" data-chart="outcomes"></div>
      <table class="tally">
        % for k, n in sm['outcomes'].items():
        <tr class="{{'is-zero' if not n else ''}}"><th>{{k}}</th><td>{{n}}</td></tr>
        % end
      </table>
    </section>
    <section class="panel" id="tools">
      <h2><span class="glyph">◆</span> T00LS <span class="glyph">◆</span> <span class="count" id="tools-count">{{len(sm['tools'])}}</span></h2>
      <div class="chart" data-chart="tools"></div>
      % if sm['tools']:
      <table class="tally">
        % for k, n in sorted(sm['tools'].items(), key=lambda kv: (-kv[1], kv[0])):
        <tr><th>{{k}}</th><td>{{n}}</td></tr>
        % end
      </table>
      % else:
      <p class="hint">no tool calls in this window</p>
      % end
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
      <dl class="numbers">
        <dt>at the last turn</dt><dd id="n-inbox">{{v.num(sm['inbox_depth'])}}</dd>
        <dt>most in this window</dt><dd id="n-inbox-max">{{v.num(inbox_max)}}</dd>
      </dl>
    </section>
    <section class="panel" id="sends">
      <h2><span class="glyph">◆</span> S3NT <span class="glyph">◆</span> <span class="count">messages, by recipient</span></h2>
      <div class="chart" data-chart="sends"></div>
      <table class="tally">
        % for k, n in sm['sends'].items():
        <tr class="{{'is-zero' if not n else ''}}"><th>{{'broadcast (*)' if k == 'broadcast' else k}}</th><td>{{n}}</td></tr>
        % end
      </table>
    </section>
    <section class="panel" id="notes">
      <h2><span class="glyph">◆</span> N0T3S <span class="glyph">◆</span> <span class="count">notes.md after each turn</span></h2>
      <div class="chart" data-chart="notes"></div>
      <dl class="numbers">
        <dt>after the last turn</dt><dd id="n-notes">{{v.size(sm['notes_bytes']) if sm['notes_bytes'] is not None else 'no notes.md'}}</dd>
        <dt>compacted past</dt><dd id="n-notes-limit">{{v.size(notes_limit) if notes_limit else 'never'}}</dd>
      </dl>
    </section>
    <section class="panel wide" id="tokens">
      <h2><span class="glyph">◆</span> T0K3NS <span class="glyph">◆</span> <span class="count">input / output / cache read / cache write</span></h2>
      <div class="chart" data-chart="tokens"></div>
    </section>
    <section class="panel wide" id="buckets">
      <h2><span class="glyph">◆</span> BUCK3TS <span class="glyph">◆</span> <span class="count">the ones with turns</span></h2>
      % busy = [i for i, n in enumerate(series['turns']) if n]
      <table class="buckets-table"{{!'' if busy else ' hidden'}}>
        <thead><tr><th>from</th><th>turns</th><th>p50</th><th>p95</th><th>input</th><th>output</th><th>cache read</th><th>cache write</th><th>tools/turn</th><th>cost</th><th title="waiting as the bucket's last turn began">inbox</th><th>inbox max</th><th>sent</th><th title="notes.md after the bucket's last turn">notes</th></tr></thead>
        <tbody id="buckets-body">
        % for i in reversed(busy):
        <tr><td>{{v.stamp(series['t'][i], sm['step'])}}</td><td>{{series['turns'][i]}}</td><td>{{v.ms_text(series['p50_ms'][i])}}</td><td>{{v.ms_text(series['p95_ms'][i])}}</td><td>{{v.full(series['input'][i])}}</td><td>{{v.full(series['output'][i])}}</td><td>{{v.full(series['cache_read'][i])}}</td><td>{{v.full(series['cache_write'][i])}}</td><td>{{v.num(series['tools_per_turn'][i])}}</td><td>{{v.money(series['cost_usd'][i])}}</td><td>{{v.num(series['inbox_last'][i])}}</td><td>{{v.num(series['inbox_max'][i])}}</td><td>{{v.sent(series, i, sm['sends'])}}</td><td>{{v.size(series['notes_bytes'][i])}}</td></tr>
        % end
        </tbody>
      </table>
      <p class="hint" id="buckets-empty"{{!' hidden' if busy else ''}}>no turns in this window</p>
    </section>
  </div>
  <p class="hint charts-note" id="charts-note">the charts need javascript and static/vendor/uPlot (<code>./dev setup</code> fetches it); the tables above hold the same numbers.</p>
</main>
<footer class="foot muted">hyperhive · {{name}} · turn stats · lowercase prose, uppercase intent</footer>
