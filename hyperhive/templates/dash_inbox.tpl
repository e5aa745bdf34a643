<li class="msg" id="inbox-{{m['id']}}" data-id="{{m['id']}}">
  <div class="msg-head">
    <span class="muted">#{{m['id']}}</span> <b class="who">{{m['from']}}</b>
    <span class="muted" title="{{h.clock(m['sent_at'])}}"><span data-since="{{m['sent_at']}}">{{h.age(m['sent_at'])}}</span> ago</span>
    % if m.get('in_reply_to'):
    <span class="thread">↳ #{{m['in_reply_to']}}</span>
    % end
    % if m.get('redelivered'):
    <span class="badge b-paused">redelivered</span>
    % end
  </div>
  <pre class="body">{{m['body']}}</pre>
  % if reply_ok:
  <details class="reply">
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
