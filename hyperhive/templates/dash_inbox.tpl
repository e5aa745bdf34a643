<li class="msg{{' is-new' if get('new') else ''}}" id="{{row}}" data-id="{{m['id']}}">
  <div class="msg-head">
    <span class="muted">#{{m['id']}}</span> <b class="who">{{m['from']}}</b>
    <span class="muted" title="{{h.clock(m['sent_at'])}}">{{!h.since(row, 'age', m['sent_at'])}} ago</span>
    % if m.get('in_reply_to'):
    <span class="thread">↳ #{{m['in_reply_to']}}</span>
    % end
    % if m.get('redelivered'):
    <span class="badge b-paused">redelivered</span>
    % end
  </div>
  <pre class="body">{{m['body']}}</pre>
  % if m['from'] in agent_names:
  % # hx-preserve: a half-written reply survives the page opening its stream
  <details class="reply" id="{{row}}-reply" hx-preserve>
    <summary>↳ reply</summary>
    <form method="post" action="/send" data-async data-reset>
      <input type="hidden" name="to" value="{{m['from']}}">
      <input type="hidden" name="in_reply_to" value="{{m['id']}}">
      <textarea name="body" rows="2" required placeholder="reply to {{m['from']}}…"></textarea>
      <button type="submit">send ▸</button>
    </form>
  </details>
  % end
</li>
