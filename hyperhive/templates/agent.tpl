% rebase('base.tpl', title=s['name'] + ' · hyperhive', page='agent', seq=s['seq'], banner=s['name'], subtitle=('m1nd' if s['manager'] else 'ag3nt') + ' · hyperhive', scripts=['/static/agent.js'], flash_ok=flash_ok, flash_error=flash_error)
% login_open = s['status'].startswith('needs_login')
<main class="agent-page" data-name="{{s['name']}}">
  % include('agent_nav.tpl', name=s['name'], manager=s['manager'], dashboard_url=s['dashboard_url'], here='live')
  <div id="badges" class="state-row">
    % include('agent_badges.tpl', s=s, v=v)
  </div>
  <section class="panel login-panel" id="login"{{!'' if login_open else ' hidden'}}>
    % include('agent_login.tpl', s=s)
  </section>
  <div class="agent-grid">
    <section class="panel term-panel" id="stream">
      <h2><span class="glyph">◆</span> L1V3 STR34M <span class="glyph">◆</span></h2>
      <div class="term-wrap">
        <div id="term" class="term" tabindex="0" aria-live="polite" aria-label="{{s['name']}}'s turns">
          % for g in groups:
          % include('agent_turn.tpl', g=g, v=v)
          % end
        </div>
        <button type="button" id="term-pill" class="term-pill" hidden>↓ new</button>
      </div>
      <form method="post" action="/send" id="composer" class="composer term-input">
        <label class="prompt" for="composer-body">operator ▸</label>
        <textarea id="composer-body" name="body" required rows="2" maxlength="65536" placeholder="message {{s['name']}} · Enter sends, Shift+Enter adds a line · /help lists commands"></textarea>
        <button type="submit">send ▸</button>
      </form>
    </section>
    <div class="column">
      <section class="panel" id="controls">
        <h2><span class="glyph">◆</span> C0NTR0LS <span class="glyph">◆</span></h2>
        <div class="row-actions">
          <form method="post" action="/api/compact" data-async title="summarise the session now, so the next turn starts from a short context (only while idle)"><button type="submit">⌁ C0MP4CT</button></form>
          <form method="post" action="/api/new-session" data-async data-confirm="start a fresh session for the next turn? claude forgets this conversation." title="the next turn starts a fresh claude session"><button type="submit">✚ N3W S3SS10N</button></form>
        </div>
        <form method="post" action="/api/model" data-async class="model-form" title="the model for the next turn: haiku, sonnet, opus or a full model id">
          <label for="model-input" class="muted">model</label>
          <input type="text" id="model-input" name="model" value="{{s['model']}}" required maxlength="64" autocomplete="off" spellcheck="false">
          <button type="submit">set</button>
        </form>
        <p class="hint">in the composer: <code>/model NAME</code>, <code>/compact</code>, <code>/new-session</code>, <code>/cancel</code>, <code>/help</code>.</p>
      </section>
      % include('agent_threads.tpl', s=s, v=v)
      <section class="panel" id="inbox">
        <h2><span class="glyph">◆</span> 1NB0X <span class="glyph">◆</span> <span class="count" id="inbox-count">{{len(s['inbox'])}}</span></h2>
        % if s['inbox_error']:
        <p class="hint is-error">{{s['inbox_error']}}</p>
        % end
        <ul class="rows" id="inbox-list" data-empty="nothing in {{s['name']}}'s inbox yet">
          % for m in s['inbox']:
          % include('agent_inbox.tpl', m=m, v=v)
          % end
        </ul>
      </section>
    </div>
  </div>
</main>
<footer class="foot muted">hyperhive · {{s['name']}} · seq <span id="seq">{{s['seq']}}</span> · lowercase prose, uppercase intent</footer>
