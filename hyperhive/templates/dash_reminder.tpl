<li class="reminder{{' is-new' if get('new') else ''}}" id="{{row}}" data-id="{{r['id']}}">
  <div class="agent-line">
    <span class="glyph">◆</span> <span class="agent-name">{{r['agent']}}</span>
    <span class="badges">
      <span class="badge b-ttl" title="due at {{h.clock(r['due_at'])}}">⏰ {{!h.left(row, 'due', r['due_at'])}}</span>
      <span class="badge b-last">#{{r['id']}} · set {{!h.since(row, 'age', r['created_at'])}} ago</span>
      % if r.get('file_path'):
      <span class="badge b-sha" title="the text is written to this file when due">→ {{r['file_path']}}</span>
      % end
    </span>
  </div>
  <p class="draft-text">{{h.clip(r['message'], 400)}}</p>
  <div class="row-actions">
    <form method="post" action="/cancel-reminder/{{r['id']}}" data-async data-confirm="cancel reminder #{{r['id']}} of {{r['agent']}}? it will not be delivered."><button type="submit" class="ghost">✗ C4NC3L</button></form>
  </div>
</li>
