% # The stats page's numbers, tables and chart data: one `part` in its place on the page,
% # or, with oob, all of them out of band after a turn (agentfeed.StatsFeed).
% swap = ' hx-swap-oob="true"' if get('oob') else ''
% series = sm['series']
% for p in ([part] if get('part') else ['since', 'outcomes', 'tools-count', 'tools', 'inbox', 'sends', 'notes', 'buckets', 'data']):
% if p == 'since':
% last_at = (now - sm['since_last_turn_s']) if sm['since_last_turn_s'] is not None else None
% cost = sum(c or 0 for c in series['cost_usd'])
% tokens = {k: sum(x or 0 for x in series[k]) for k in ('input', 'output', 'cache_read', 'cache_write')}
<div id="since-body"{{!swap}}>
  % if last_at:
  <p class="big" title="the last turn ended at {{v.clock(last_at)}}"><span id="since-last-value">{{v.duration(sm['since_last_turn_s'])}}</span></p>
  % else:
  <p class="big muted" id="since-last-value">no turn yet</p>
  % end
  <dl class="numbers">
    <dt>turns</dt><dd id="n-turns">{{sm['turns']}}</dd>
    <dt>tool calls</dt><dd id="n-tools">{{sum(sm['tools'].values())}}</dd>
    <dt>cost</dt><dd id="n-cost">{{v.money(cost)}}</dd>
    <dt>input</dt><dd id="n-input">{{v.full(tokens['input'])}}</dd>
    <dt>output</dt><dd id="n-output">{{v.full(tokens['output'])}}</dd>
    <dt>cache read</dt><dd id="n-cache-read">{{v.full(tokens['cache_read'])}}</dd>
    <dt>cache write</dt><dd id="n-cache-write">{{v.full(tokens['cache_write'])}}</dd>
  </dl>
</div>
% elif p == 'outcomes':
<table class="tally" id="outcomes-tally"{{!swap}}>
  % for k, n in sm['outcomes'].items():
  <tr class="{{'is-zero' if not n else ''}}"><th>{{k}}</th><td>{{n}}</td></tr>
  % end
</table>
% elif p == 'tools-count':
<span class="count" id="tools-count"{{!swap}}>{{len(sm['tools'])}}</span>
% elif p == 'tools':
<div id="tools-tally"{{!swap}}>
  % if sm['tools']:
  <table class="tally">
    % for k, n in sorted(sm['tools'].items(), key=lambda kv: (-kv[1], kv[0])):
    <tr><th>{{k}}</th><td>{{n}}</td></tr>
    % end
  </table>
  % else:
  <p class="hint">no tool calls in this window</p>
  % end
</div>
% elif p == 'inbox':
% inbox_max = max((x for x in series['inbox_max'] if x is not None), default=None)
<dl class="numbers" id="inbox-numbers"{{!swap}}>
  <dt>at the last turn</dt><dd id="n-inbox">{{v.num(sm['inbox_depth'])}}</dd>
  <dt>most in this window</dt><dd id="n-inbox-max">{{v.num(inbox_max)}}</dd>
</dl>
% elif p == 'sends':
<table class="tally" id="sends-tally"{{!swap}}>
  % for k, n in sm['sends'].items():
  <tr class="{{'is-zero' if not n else ''}}"><th>{{'broadcast (*)' if k == 'broadcast' else k}}</th><td>{{n}}</td></tr>
  % end
</table>
% elif p == 'notes':
% notes_limit = sm.get('notes_limit')
<dl class="numbers" id="notes-numbers"{{!swap}}>
  <dt>after the last turn</dt><dd id="n-notes">{{v.size(sm['notes_bytes']) if sm['notes_bytes'] is not None else 'no notes.md'}}</dd>
  <dt>compacted past</dt><dd id="n-notes-limit">{{v.size(notes_limit) if notes_limit else 'never'}}</dd>
</dl>
% elif p == 'buckets':
% busy = [i for i, n in enumerate(series['turns']) if n]
<div id="buckets-body-wrap"{{!swap}}>
  <table class="buckets-table"{{!'' if busy else ' hidden'}}>
    <thead><tr><th>from</th><th>turns</th><th>p50</th><th>p95</th><th>input</th><th>output</th><th>cache read</th><th>cache write</th><th>tools/turn</th><th>cost</th><th title="waiting as the bucket's last turn began">inbox</th><th>inbox max</th><th>sent</th><th title="notes.md after the bucket's last turn">notes</th></tr></thead>
    <tbody id="buckets-body">
    % for i in reversed(busy):
    <tr><td>{{v.stamp(series['t'][i], sm['step'])}}</td><td>{{series['turns'][i]}}</td><td>{{v.ms_text(series['p50_ms'][i])}}</td><td>{{v.ms_text(series['p95_ms'][i])}}</td><td>{{v.full(series['input'][i])}}</td><td>{{v.full(series['output'][i])}}</td><td>{{v.full(series['cache_read'][i])}}</td><td>{{v.full(series['cache_write'][i])}}</td><td>{{v.num(series['tools_per_turn'][i])}}</td><td>{{v.money(series['cost_usd'][i])}}</td><td>{{v.num(series['inbox_last'][i])}}</td><td>{{v.num(series['inbox_max'][i])}}</td><td>{{v.sent(series, i, sm['sends'])}}</td><td>{{v.size(series['notes_bytes'][i])}}</td></tr>
    % end
    </tbody>
  </table>
  <p class="hint" id="buckets-empty"{{!' hidden' if busy else ''}}>no turns in this window</p>
</div>
% elif p == 'data':
% # what static/stats.js draws the charts from (json, not run: <\/ is escaped in it)
<script type="application/json" id="stats-data"{{!swap}}>{{!data}}</script>
% end
% end
