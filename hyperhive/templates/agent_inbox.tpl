% # the inbox panel; swapped whole (oob) when a turn starts
<section class="panel" id="inbox"{{!' hx-swap-oob="true"' if get('oob') else ''}}>
  <h2><span class="glyph">◆</span> 1NB0X <span class="glyph">◆</span> <span class="count" id="inbox-count">{{len(messages)}}</span></h2>
  % if error:
  <p class="hint is-error">{{error}}</p>
  % end
  <ul class="rows" id="inbox-list" data-empty="nothing in {{name}}'s inbox yet">
    % for m in messages:
    % include('agent_message.tpl', m=m, v=v, new_id=get('new_id'))
    % end
  </ul>
</section>
