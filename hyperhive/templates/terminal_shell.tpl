% if pid:
<span id="shell-state" class="badge b-shell is-running" title="started at {{clock(started_at)}}">● running · pid {{pid}}</span>
% else:
<span id="shell-state" class="badge b-shell">○ no shell</span>
% end
