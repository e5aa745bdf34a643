<li class="approval{{' is-new' if get('new') else ''}}" id="{{row}}" data-id="{{ap['id']}}">
  <div class="ap-head">
    <span class="glyph">◆</span> <span class="badge b-kind">{{ap['kind']}}</span> <b class="who">{{ap['agent']}}</b>
    <span class="muted">#{{ap['id']}} · {{!h.since(row, 'age', ap['requested_at'])}} ago</span>
    % if ap.get('commit_ref'):
    <code class="ref">{{ap['commit_ref'][:12]}}</code>
    % end
  </div>
  % if ap.get('description'):
  <p class="desc">{{ap['description']}}</p>
  % end
  % if ap.get('diff_stat'):
  <pre class="diff-stat">{{ap['diff_stat']}}</pre>
  % end
  % if ap.get('diff_truncated'):
  <p class="diff-cut">⚠ this diff is cut: the page shows only the start of its {{'{:,}'.format(ap['diff_length'])}} characters.
    <a href="/approvals/{{ap['id']}}">read all of it to approve</a> · <a href="/approvals/{{ap['id']}}/diff">plain text</a></p>
  % end
  % if ap.get('diff'):
  % # hx-preserve: a diff being read stays open through live updates
  <details class="diff" id="{{row}}-diff" hx-preserve><summary>diff{{' (cut)' if ap.get('diff_truncated') else ''}}</summary><pre>\\
% for line in ap['diff'].splitlines():
<span class="{{h.diff_class(line)}}">{{line}}</span>
% end
</pre></details>
  % end
  <div class="row-actions">
    % if ap.get('diff_truncated'):
    <a class="button go" href="/approvals/{{ap['id']}}">◆ READ ALL T0 APPR0VE</a>
    % else:
    <form method="post" action="/approve/{{ap['id']}}" data-async><button type="submit" class="go">◆ APPR0VE</button></form>
    % end
    <form method="post" action="/deny/{{ap['id']}}" id="{{row}}-deny" hx-preserve data-async data-prompt="deny #{{ap['id']}}: why? (optional note)" data-prompt-field="note">
      <input type="text" name="note" placeholder="note (optional)" autocomplete="off">
      <button type="submit" class="danger">DENY</button>
    </form>
  </div>
</li>
