<details class="panel threads" id="threads"{{!' open' if s['threads'] else ''}}>
  <summary><h2><span class="glyph">◆</span> L00S3 3NDS <span class="glyph">◆</span> <span class="count" id="threads-count">{{len(s['threads'])}}</span></h2></summary>
  <p class="hint">approvals and questions that wait on {{s['name']}} or on someone for it.</p>
  % if s['threads_error']:
  <p class="hint is-error" id="threads-error">{{s['threads_error']}}</p>
  % end
  <ul class="rows" id="thread-list" data-empty="no open threads">
    % for t in s['threads']:
    <li class="thread-row is-{{t.get('kind')}}" data-kind="{{t.get('kind')}}" data-id="{{t.get('id')}}">{{v.thread_text(t)}}</li>
    % end
  </ul>
</details>
