<li class="draft{{' is-new' if get('new') else ''}}" id="{{row}}" data-name="{{d['name']}}">
  <div class="agent-line">
    <span class="glyph">◆</span> <span class="agent-name">{{d['name']}}</span>
    <span class="badges">
      % if d.get('config_sha'):
      <span class="badge b-sha" title="the proposed config repo's HEAD">@{{d['config_sha']}}</span>
      % end
      % if d.get('by'):
      <span class="badge b-by">by {{d['by']}}</span>
      % end
      % if d.get('created_at'):
      <span class="badge b-last">drafted {{!h.since(row, 'age', d['created_at'])}} ago</span>
      % end
    </span>
  </div>
  % if d.get('description'):
  <p class="draft-text">{{d['description']}}</p>
  % end
  <div class="row-actions">
    <form method="post" action="/discard-draft/{{d['name']}}" data-async data-confirm="discard the draft {{d['name']}}? its config repo and state dir are deleted."><button type="submit" class="danger">D1SC4RD</button></form>
  </div>
</li>
