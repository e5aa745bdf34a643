% # the open threads: the whole panel, or (oob) its changing parts out of band, so a
% # panel the operator opened or closed stays so
% swap = ' hx-swap-oob="true"' if oob else ''
% if not oob:
<details class="panel threads" id="threads"{{!' open' if threads else ''}}>
  <summary><h2><span class="glyph">◆</span> L00S3 3NDS <span class="glyph">◆</span> \\
% end
<span class="count" id="threads-count"{{!swap}}>{{len(threads)}}</span>\\
% if not oob:
</h2></summary>
  <p class="hint">approvals and questions that wait on {{name}} or on someone for it.</p>
% end
  <p class="hint is-error" id="threads-error"{{!swap}}{{!'' if error else ' hidden'}}>{{error or ''}}</p>
  <ul class="rows" id="thread-list"{{!swap}} data-empty="no open threads">
    % for t in threads:
    <li class="thread-row is-{{t.get('kind')}}" data-kind="{{t.get('kind')}}" data-id="{{t.get('id')}}">{{v.thread_text(t)}}</li>
    % end
  </ul>
% if not oob:
</details>
% end
