% alive_text, alive_title = v.alive(s['status'], s.get('rate_limited_until'))
% st = s['turn_state']
% u = s.get('usage') or {}
% last = s.get('last_turn')
<span id="alive-badge" class="badge b-alive b-alive-{{s['status']}}" title="{{alive_title}}">{{alive_text}}</span>
<span id="state-badge" class="badge b-turn b-turn-{{st}}" title="{{v.turn_title(st, s['turn_state_since'], s.get('nap_until') or s.get('retry_until'))}}">{{v.glyph(st)}} {{st}} · <span id="turn-age">{{v.turn_age(s)}}</span></span>
<span id="model-chip" class="badge b-model" title="the model for the next turn. change it with /model NAME in the composer (haiku, sonnet, opus or a full model id)">model · {{s['model']}}</span>
<span id="ctx-badge" class="badge b-ctx" title="{{v.ctx_title(u)}}">ctx · {{v.compact(u.get('ctx'))}}</span>
<span id="cost-badge" class="badge b-cost" title="{{v.cost_title(u)}}">cost · {{v.money(u.get('cost_usd')) if u else '—'}}</span>
% if last:
<span id="last-badge" class="badge b-last {{v.last_class(last.get('outcome'))}}" title="{{v.last_title(last)}}">last · {{v.ms_text(last.get('duration_ms'))}} {{last.get('outcome')}}</span>
% else:
<span id="last-badge" class="badge b-last" title="no turn yet">last · —</span>
% end
% # what the cancel ends: the running turn, the nap, or a rest (a failed turn's, a rate limit's)
% what = 'rate_limited' if st == 'idle' and s['status'] == 'rate_limited' else st
<form method="post" action="/api/cancel" hx-post="/api/cancel" hx-swap="none" id="cancel-form" class="cancel-form"{{!'' if what in ('thinking', 'napping', 'retrying', 'rate_limited') else ' hidden'}}>
  % word = {'napping': ('end the nap now', 'end nap'), 'retrying': ('try the failed message again now', 'retry now'), 'rate_limited': ('end the rate-limit rest and try the message again now', 'retry now')}.get(what, ('stop the running turn (claude gets SIGINT)', 'cancel turn'))
  <button type="submit" class="danger" title="{{word[0]}}">■ {{word[1]}}</button>
</form>
