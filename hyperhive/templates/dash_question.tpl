% peer = q.get('target') is not None
<li class="question{{' is-peer' if peer else ''}}" id="q-{{q['id']}}" data-id="{{q['id']}}">
  <div class="q-head">
    <span class="glyph">◆</span> <b class="who">{{q['asker']}}</b> <span class="muted">→</span>
    <span class="target">@{{q['target'] or 'operator'}}</span>
    <span class="muted">#{{q['id']}} · <span data-since="{{q['asked_at']}}">{{h.age(q['asked_at'])}}</span> ago</span>
    % if q.get('deadline_at'):
    <span class="badge b-ttl" data-deadline="{{q['deadline_at']}}" title="expires at {{h.clock(q['deadline_at'])}}">⏳ {{h.ttl(q['deadline_at'])}}</span>
    % end
  </div>
  <p class="q-text">{{q['question']}}</p>
  <form method="post" action="/answer/{{q['id']}}" data-async class="q-answer">
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
