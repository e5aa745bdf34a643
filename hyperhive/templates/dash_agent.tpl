% state = h.state_word(a)
% url = h.agent_url(a)
<li class="agent is-{{state}}{{' is-busy' if a.get('transient') else ''}}{{' is-new' if get('new') else ''}}" id="{{row}}" data-name="{{a['name']}}">
  <div class="agent-line">
    <span class="glyph">◆</span>
    % if url:
    <a class="agent-name" href="{{url}}" target="_blank" rel="noopener" title="open {{a['name']}}'s page">{{a['name']}}</a>
    % else:
    <span class="agent-name">{{a['name']}}</span>
    % end
    <span class="badges">
      % if state == 'down':
      <span class="badge b-down" title="its host {{a['host']}} has not been heard from for seconds: it is stopped, crashed or cut off; the rest of the hive goes on">host down</span>
      % else:
      <span class="badge b-{{state}}">{{state}}</span>
      % end
      % if a.get('host'):
      <span class="badge b-host" title="the host that runs it">⌂ {{a['host']}}</span>
      % end
      % if a.get('transient'):
      <span class="badge b-transient"><span class="spinner" aria-hidden="true"></span>{{a['transient']}}…</span>
      % end
      % if a.get('is_manager'):
      <span class="badge b-manager">manager</span>
      % end
      % if a['paused']:
      <span class="badge b-paused">paused</span>
      % end
      % if a.get('over_budget'):
      <a class="badge b-budget" href="#budget-{{a['name']}}" title="its spend today reached its daily budget: it is handed no messages until you raise or lift it, or the day ends">budget</a>
      % end
      % if a['needs_login']:
      <span class="badge b-login">needs login</span>
      % end
      % if a.get('rate_limited_until'):
      % limited_text, limited_title = h.rate_limited(a['rate_limited_until'], h.now)
      <span class="badge b-ratelimit" title="{{limited_title}}">{{limited_text}}</span>
      % end
      % if a['needs_update']:
      <span class="badge b-update">needs update</span>
      % end
      % if a.get('turn_state'):
      <span class="badge b-turn b-turn-{{a['turn_state']}}" title="turn state since {{h.clock(a.get('turn_state_since'))}}">{{h.turn(a['turn_state'])}}\\
      % if a['turn_state'] == 'retrying' and a.get('turn_state_until'):
 · again in {{!h.left(row, 'retry', a['turn_state_until'])}}\\
      % elif a.get('turn_state_since'):
 · {{!h.since(row, 'turn', a['turn_state_since'])}}\\
      % end
</span>
      % end
      % if a.get('model'):
      <span class="badge b-model" title="model">model · {{a['model']}}</span>
      % end
      % if a.get('unread'):
      <span class="badge b-unread" title="messages waiting">✉ {{a['unread']}} unread</span>
      % end
      % if a.get('pending_reminders'):
      <span class="badge b-reminders" title="pending reminders">⏰ {{a['pending_reminders']}}</span>
      % end
      % if a.get('deployed_sha'):
      <span class="badge b-sha" title="deployed config">@{{a['deployed_sha']}}</span>
      % end
      % if a.get('rollout'):
      <span class="badge b-settling" title="the config of approval #{{a['rollout']['id']}} is deployed once the agent has stayed up on it; it is rolled back if the agent fails">settling · #{{a['rollout']['id']}}</span>
      % end
      % if a.get('last_turn_at'):
      <span class="badge b-last" title="last turn">last turn {{!h.since(row, 'last', a['last_turn_at'])}} ago</span>
      % end
      % if url:
      <a class="badge b-port" href="{{url}}stats" target="_blank" rel="noopener" title="turn stats">stats :{{a['port']}}</a>
      % end
    </span>
  </div>
  % if a.get('status_text'):
  <p class="agent-status"><span class="glyph">❝</span> <span class="status-text">{{a['status_text']}}</span>\\
  % if a.get('status_set_at'):
 <span class="muted">· {{!h.since(row, 'status', a['status_set_at'])}} ago</span>\\
  % end
</p>
  % end
  <div class="row-actions">
    <form method="post" action="/start/{{a['name']}}" data-async><button type="submit">▶ ST4RT</button></form>
    <form method="post" action="/stop/{{a['name']}}" data-async><button type="submit">■ ST0P</button></form>
    <form method="post" action="/restart/{{a['name']}}" data-async><button type="submit">↺ R3ST4RT</button></form>
    <form method="post" action="/rebuild/{{a['name']}}" data-async><button type="submit">↻ R3BU1LD</button></form>
    % if a['paused']:
    <form method="post" action="/resume/{{a['name']}}" data-async><button type="submit" class="go" title="hand it messages again">▶ R3SUM3</button></form>
    % else:
    <form method="post" action="/pause/{{a['name']}}" data-async><button type="submit" title="hand it no messages until resumed">❚❚ P4US3</button></form>
    % end
    % if not a.get('is_manager'):
    % # hx-preserve: a live update keeps a ticked +purge
    <form method="post" action="/destroy/{{a['name']}}" id="{{row}}-destroy" hx-preserve data-async data-confirm="destroy {{a['name']}}? its state is kept unless purge is ticked.">
      <label class="tick" title="also delete its state"><input type="checkbox" name="purge" value="yes"> +purge</label>
      <button type="submit" class="danger">DESTR0Y</button>
    </form>
    % end
    <a class="button ghost" href="{{h.config_url(a['name'])}}" title="agent.json and its history">config</a>
    % include('journal.tpl', name=a['name'], row=row)
  </div>
</li>
