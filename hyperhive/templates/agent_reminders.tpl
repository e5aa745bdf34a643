% # the agent's pending reminders: the whole panel, or (oob) its list and count
% swap = ' hx-swap-oob="true"' if oob else ''
% if not oob:
<details class="panel threads" id="reminders"{{!' open' if reminders else ''}}>
  <summary><h2><span class="glyph">◆</span> R3M1ND3RS <span class="glyph">◆</span> \\
% end
<span class="count" id="reminders-count"{{!swap}}>{{len(reminders)}}</span>\\
% if not oob:
</h2></summary>
  <p class="hint">what {{name}} set to be told later, soonest first; the operator cancels one on the dashboard (this list follows within seconds).</p>
% end
  <p class="hint is-error" id="reminders-error"{{!swap}}{{!'' if error else ' hidden'}}>{{error or ''}}</p>
  <ul class="rows" id="reminder-list"{{!swap}} data-empty="no pending reminders">
    % for r in reminders:
    <li class="thread-row" data-id="{{r['id']}}">#{{r['id']}} due in <span id="due-reminder-{{r['id']}}">{{v.due(r['due_at'])}}</span>{{(' → ' + r['file_path']) if r.get('file_path') else ''}}: {{r['message'][:200]}}</li>
    % end
  </ul>
% if not oob:
</details>
% end
