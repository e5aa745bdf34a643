% peer = q.get('target') is not None
<li class="question{{' is-peer' if peer else ''}}{{' is-new' if get('new') else ''}}" id="{{row}}" data-id="{{q['id']}}">
  <div class="q-head">
    <span class="glyph">◆</span> <b class="who">{{q['asker']}}</b> <span class="muted">→</span>
    <span class="target">@{{q['target'] or 'operator'}}</span>
    <span class="muted">#{{q['id']}} · {{!h.since(row, 'age', q['asked_at'])}} ago</span>
    % if q.get('deadline_at'):
    <span class="badge b-ttl" title="expires at {{h.clock(q['deadline_at'])}}">⏳ {{!h.left(row, 'ttl', q['deadline_at'])}}</span>
    % end
  </div>
  <p class="q-text">{{q['question']}}</p>
  % # hx-preserve: a live update of the list keeps a half-written answer
  <form method="post" action="/answer/{{q['id']}}" id="{{row}}-answer" hx-preserve data-async class="q-answer">
    % if q.get('options'):
    <div class="options">
      % for opt in q['options']:
      <label class="opt"><input type="{{'checkbox' if q.get('multi') else 'radio'}}" name="option" value="{{opt}}"> {{opt}}</label>
      % end
    </div>
    % end
    <input type="text" name="answer" placeholder="{{'or type your own…' if q.get('options') else 'your answer…'}}" autocomplete="off" maxlength="65536">
    <button type="submit" class="go">{{'0V3RR1D3' if peer else '◆ 4NSW3R'}}</button>
  </form>
  <form method="post" action="/cancel-question/{{q['id']}}" data-async class="q-cancel"><button type="submit" class="ghost">✗ C4NC3L</button></form>
</li>
