% # One agent's spend today against its limit, drawn (budgetview.py gives the geometry).
% bar = b['bar']
<li class="budget is-{{bar['level']}}{{' is-new' if get('new') else ''}}" id="{{row}}" data-name="{{b['name']}}" data-spent="{{b['spent_usd']}}" data-held="{{'yes' if b['held'] else 'no'}}">
  <div class="agent-line">
    <span class="glyph">◆</span> <span class="agent-name">{{b['name']}}</span>
    <svg class="budget-bar" width="{{bar['width'] + 8}}" height="14" viewBox="0 0 {{bar['width'] + 8}} 14" role="img" aria-label="{{h.budget_caption(b)}}">
      <title>{{h.budget_caption(b)}} · {{b['turns']}} turns today</title>
      % if bar['track']:
      <rect class="track" x="0" y="3" width="{{bar['track']}}" height="8" rx="1"></rect>
      % end
      % if bar['fill']:
      <rect class="fill" x="0" y="3" width="{{bar['fill']}}" height="8" rx="1"></rect>
      % end
      % if bar['mark'] is not None:
      <line class="mark" x1="{{bar['mark']}}" x2="{{bar['mark']}}" y1="0" y2="14"></line>
      % end
    </svg>
    <span class="budget-caption">{{h.budget_caption(b)}}</span>
    % if b['held']:
    <span class="badge b-budget" title="its spend today reached its budget: it is handed no messages until you raise or lift it, or the day ends">held</span>
    % end
  </div>
  % if b['budget_usd'] is not None and not b['lifted']:
  <div class="row-actions">
    % # hx-preserve: a live update keeps a half-typed amount
    <form method="post" action="/budget/{{b['name']}}" id="{{row}}-raise" hx-preserve data-async class="budget-form">
      <input type="number" name="raise_usd" min="0.01" step="0.01" required placeholder="USD" aria-label="dollars to add for today">
      <button type="submit" title="add this much to {{b['name']}}'s budget for today">+ R41S3</button>
    </form>
    <form method="post" action="/budget/{{b['name']}}" data-async data-confirm="lift {{b['name']}}'s budget for the rest of today?">
      <input type="hidden" name="lift" value="yes">
      <button type="submit" class="ghost" title="no budget for {{b['name']}} for the rest of today">L1FT</button>
    </form>
  </div>
  % end
</li>
