<li class="flow-row{{' is-new' if get('new') else ''}}" id="{{row}}" data-id="{{m['id']}}">
  <span class="muted t">{{h.clock(m['sent_at'])}}</span>
  <span class="muted">#{{m['id']}}</span>
  <b class="who">{{m['from']}}</b> <span class="arrow">→</span> <b class="to">{{m['to']}}</b>
  {{!h.mark(m)}}
  % if m.get('in_reply_to'):
  <span class="thread">↳ #{{m['in_reply_to']}}</span>
  % end
  % event = h.system_event(m['body']) if m['from'] == 'system' else None
  % if event:
  <span class="body" title="{{h.clip(m['body'], 2000)}}"><b class="event">{{event[0]}}</b> {{event[1]}}</span>
  % else:
  <span class="body">{{h.clip(m['body'])}}</span>
  % end
</li>
