<li class="kept{{' is-new' if get('new') else ''}}" id="{{row}}" data-name="{{k['name']}}">
  <div class="agent-line">
    <span class="glyph">◆</span> <span class="agent-name">{{k['name']}}</span>
    <span class="badges">
      <span class="badge b-size">{{h.size(k['size_bytes'])}}</span>
      % if k.get('modified_at'):
      <span class="badge b-last">modified {{!h.since(row, 'age', k['modified_at'])}} ago</span>
      % end
      % if k.get('has_credentials'):
      <span class="badge b-creds" title="claude credentials kept">🔑 creds</span>
      % end
    </span>
  </div>
  <div class="row-actions">
    <form method="post" action="/revive/{{k['name']}}" data-async><button type="submit" class="go">⊕ R3V1V3</button></form>
    <form method="post" action="/purge/{{k['name']}}" data-async data-confirm="purge the kept state of {{k['name']}} for good?"><button type="submit" class="danger">PURG3</button></form>
    % include('journal.tpl', name=k['name'], row=row)
  </div>
</li>
