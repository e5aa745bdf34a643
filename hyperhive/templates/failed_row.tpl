% # One failed turn: the dashboard's failed panel and the agent page's show the same row;
% # both pages answer its buttons at the same paths, as the operator's.
% from hyperhive.formats import clip, clock
<li class="failed{{' is-new' if get('new') else ''}}" id="{{row}}" data-id="{{f['message_id']}}">
  <div class="agent-line">
    <span class="glyph">✗</span> <span class="agent-name">{{f['agent']}}</span>
    <span class="badges">
      <span class="badge b-failed" title="the outcome of its last turn">{{f['outcome']}} × {{f['attempts']}}</span>
      <span class="badge b-last" title="set aside at {{clock(f['failed_at'])}}">#{{f['message_id']}} · from {{f['sender'] or '?'}} · {{clock(f['failed_at'])}}</span>
    </span>
  </div>
  <p class="draft-text">{{clip(f['body'] or '', 400)}}</p>
  % if f['note']:
  <p class="hint failed-note">{{clip(f['note'], 600)}}</p>
  % end
  % if f['stderr_tail']:
  <details class="failed-stderr" id="{{row}}-stderr" hx-preserve><summary>claude's stderr, the last {{len(f['stderr_tail'].encode())}} bytes</summary><pre>{{f['stderr_tail']}}</pre></details>
  % end
  <div class="row-actions">
    <form method="post" action="/retry-failed/{{f['message_id']}}" data-async><button type="submit">↻ R3TRY</button></form>
    <form method="post" action="/discard-failed/{{f['message_id']}}" data-async data-confirm="discard failed message #{{f['message_id']}} of {{f['agent']}}? it stays handled and is not tried again."><button type="submit" class="ghost">✗ D1SC4RD</button></form>
  </div>
</li>
