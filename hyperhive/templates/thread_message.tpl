<article class="thread-msg is-{{role}}" id="m-{{m['id']}}" data-id="{{m['id']}}">
  <div class="msg-head">
    <a href="/messages/{{m['id']}}">#{{m['id']}}</a> <b class="who">{{m['sender']}}</b> <span class="arrow">→</span> <b class="to">{{m['recipient']}}</b>
    <span class="muted t">{{h.date_time(m['sent_at'])}}</span> {{!h.mark(m)}}
    % if m.get('in_reply_to'):
    <span class="thread">↳ #{{m['in_reply_to']}}</span>
    % end
  </div>
  <pre class="body">{{m['body']}}</pre>
</article>
