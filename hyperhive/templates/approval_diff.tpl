% rebase('base.tpl', title='approval #' + str(ap['id']) + ' · hyperhive', page='approval')
<main class="approval-review">
  <section class="panel">
    <h2>◆ APPR0VAL #{{ap['id']}}: {{ap['kind']}} {{ap['agent']}} ◆</h2>
    <p class="muted">commit <code>{{ap['fetched_sha']}}</code> · {{'{:,}'.format(len(ap['diff']))}} characters ·
      sha256 <code>{{ap['diff_sha256']}}</code> · <a href="/approvals/{{ap['id']}}/diff">plain text</a></p>
    % if ap.get('diff_stat'):
    <pre class="diff-stat">{{ap['diff_stat']}}</pre>
    % end
    <div class="diff"><pre>\\
% for line in ap['diff'].splitlines():
<span class="{{h.diff_class(line)}}">{{line}}</span>
% end
</pre></div>
    % if ap['status'] == 'pending':
    <p>that was the whole diff. approving applies commit {{ap['fetched_sha'][:12]}} to {{ap['agent']}}.</p>
    <div class="row-actions">
      <form method="post" action="/approve/{{ap['id']}}">
        <input type="hidden" name="diff_sha256" value="{{ap['diff_sha256']}}">
        <button type="submit" class="go">◆ APPR0VE #{{ap['id']}}</button>
      </form>
      <form method="post" action="/deny/{{ap['id']}}">
        <input type="text" name="note" placeholder="note (optional)" autocomplete="off">
        <button type="submit" class="danger">DENY</button>
      </form>
      <a class="button ghost" href="/#approvals">back</a>
    </div>
    % else:
    <p>this approval is {{ap['status']}}. <a href="/#approvals">back</a></p>
    % end
  </section>
</main>
