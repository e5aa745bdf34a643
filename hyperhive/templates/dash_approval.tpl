<li class="approval" id="approval-{{ap['id']}}" data-id="{{ap['id']}}">
  <div class="ap-head">
    <span class="glyph">◆</span> <span class="badge b-kind">{{ap['kind']}}</span> <b class="who">{{ap['agent']}}</b>
    <span class="muted">#{{ap['id']}} · <span data-since="{{ap['requested_at']}}">{{h.age(ap['requested_at'])}}</span> ago</span>
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
  <details class="diff"><summary>diff{{' (cut)' if ap.get('diff_truncated') else ''}}</summary><pre>\\
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
    <form method="post" action="/deny/{{ap['id']}}" data-async data-prompt="deny #{{ap['id']}}: why? (optional note)" data-prompt-field="note">
      <input type="text" name="note" placeholder="note (optional)" autocomplete="off">
      <button type="submit" class="danger">DENY</button>
    </form>
  </div>
</li>
