<nav class="crumbs">
  % if dashboard_url:
  <a href="{{dashboard_url}}" class="back">← dashboard</a> <span class="muted">·</span>
  % end
  <a href="/" class="agent-title{{' is-here' if here == 'live' else ''}}">◆ {{name}}</a>
  % if manager:
  <span class="badge b-manager">manager</span>
  % end
  <span class="muted">·</span>
  <a href="/stats" class="{{'is-here' if here == 'stats' else ''}}">📊 stats</a>
  <span class="muted">·</span>
  <a href="/terminal" class="{{'is-here' if here == 'terminal' else ''}}">⌨ terminal</a>
</nav>
