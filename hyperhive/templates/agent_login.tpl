% # the login panel, shown while claude has no credentials; swapped whole (oob) as the
% # login goes on, keeping a half-pasted code (hx-preserve)
% L = s.get('login') or {}
% running = s['status'] == 'needs_login_in_progress' or L.get('running')
<section class="panel login-panel" id="login"{{!'' if s['status'].startswith('needs_login') else ' hidden'}}{{!' hx-swap-oob="true"' if get('oob') else ''}}>
<h2><span class="glyph">◆</span> L0G1N <span class="glyph">◆</span></h2>
% if running:
<p>a login is running: open the link, sign in, then paste the code you get back.</p>
% if L.get('url'):
<p><a id="login-url" class="login-url" href="{{L['url']}}" target="_blank" rel="noopener noreferrer">{{L['url']}}</a></p>
% else:
<p id="login-url" class="muted">waiting for the login link…</p>
% end
<div class="row-actions">
  <form method="post" action="/login/code" hx-post="/login/code" hx-swap="none" hx-preserve data-reset id="login-code-form">
    <input type="text" name="code" required autocomplete="off" spellcheck="false" placeholder="paste the code">
    <button type="submit" class="go">◆ S3ND C0D3</button>
  </form>
  <form method="post" action="/login/cancel" hx-post="/login/cancel" hx-swap="none"><button type="submit" class="ghost">✗ C4NC3L</button></form>
</div>
% else:
<p>claude has no credentials yet. start a login: it prints a link to sign in with, then asks for a code.</p>
% if L.get('exit_note'):
<p class="muted">the last login: {{L['exit_note']}}</p>
% end
<div class="row-actions">
  <form method="post" action="/login/start" hx-post="/login/start" hx-swap="none"><button type="submit" class="go">▶ ST4RT L0G1N</button></form>
</div>
% end
<pre id="login-output" class="login-output"{{!'' if L.get('output') else ' hidden'}}>{{L.get('output') or ''}}</pre>
</section>
