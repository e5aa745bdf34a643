% # the agent's failed turns: the whole panel, or (oob) its list and count
% swap = ' hx-swap-oob="true"' if oob else ''
% if not oob:
<details class="panel threads" id="failed"{{!' open' if failed else ''}}>
  <summary><h2><span class="glyph">◆</span> F41L3D TURNS <span class="glyph">◆</span> \\
% end
<span class="count" id="failed-count"{{!swap}}>{{len(failed)}}</span>\\
% if not oob:
</h2></summary>
  <p class="hint">messages whose every attempt failed, newest first: retry puts one back into {{name}}'s inbox, discard leaves it handled.</p>
% end
  <p class="hint is-error" id="failed-error"{{!swap}}{{!'' if error else ' hidden'}}>{{error or ''}}</p>
  <ul class="rows" id="failed-list"{{!swap}} data-empty="no failed turns">
    % for f in failed:
    % include('failed_row.tpl', f=f, row='failed-' + str(f['message_id']), new=False)
    % end
  </ul>
% if not oob:
</details>
% end
