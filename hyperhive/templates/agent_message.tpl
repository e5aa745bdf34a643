<li class="msg{{' is-new' if m['id'] == get('new_id') else ''}}" id="inbox-{{m['id']}}" data-id="{{m['id']}}">
  <div class="msg-head">
    <span class="muted">#{{m['id']}}</span> <b class="who">{{m['from']}}</b>
    <span class="muted" title="{{v.clock(m.get('sent_at'))}}"><span id="age-inbox-{{m['id']}}">{{v.age(m.get('sent_at'))}}</span> ago</span>
    % if m.get('in_reply_to'):
    <span class="thread">↳ reply to #{{m['in_reply_to']}}</span>
    % end
    % if m.get('redelivered'):
    <span class="badge b-paused">redelivered</span>
    % end
  </div>
  <pre class="body">{{m['body']}}</pre>
</li>
