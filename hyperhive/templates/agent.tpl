% rebase('base.tpl', title=s['name'] + ' · hyperhive', page='agent', seq=s['seq'], banner=s['name'], subtitle=('m1nd' if s['manager'] else 'ag3nt') + ' · hyperhive', scripts=['/static/agent.js'], flash_ok=flash_ok, flash_error=flash_error)
% # The page follows its fragment stream from the seq it was rendered at: each event's
% # fragments come already rendered from these same templates (agentfeed.py).
<main class="agent-page" data-name="{{s['name']}}" hx-ext="sse" sse-connect="/page/events?last_event_id={{s['seq']}}">
  % include('agent_nav.tpl', name=s['name'], manager=s['manager'], dashboard_url=s['dashboard_url'], here='live')
  <div id="page-sink" hidden sse-swap="tick,login,inbox,threads,reminders,failed,model" hx-swap="none"></div>
  <div id="badges" class="state-row" sse-swap="badges">
    % include('agent_badges.tpl', s=s, v=v)
  </div>
  % include('agent_login.tpl', s=s)
  <div class="agent-grid">
    <section class="panel term-panel" id="stream">
      <h2><span class="glyph">◆</span> L1V3 STR34M <span class="glyph">◆</span></h2>
      <div class="term-wrap">
        <div id="term" class="term" tabindex="0" aria-live="polite" aria-label="{{s['name']}}'s turns" sse-swap="term" hx-swap="beforeend">
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
      <template id="composer-help">
        <div class="row r-help"><span class="g">◆</span> <span class="t">type a message for {{s['name']}} and press Enter (Shift+Enter for a new line), or a command:</span></div>
        % for cmd, arg, what in commands:
        <div class="row r-help" data-command="{{cmd}}" data-arg="{{arg}}"><span class="g">·</span> <span class="t"><b>{{cmd}}{{' ' + arg if arg else ''}}</b>  {{what}}</span></div>
        % end
      </template>
    </section>
    <div class="column">
      <section class="panel" id="controls">
        <h2><span class="glyph">◆</span> C0NTR0LS <span class="glyph">◆</span></h2>
        <div class="row-actions">
          <form method="post" action="/api/compact" hx-post="/api/compact" hx-swap="none" title="summarise the session now, so the next turn starts from a short context (only while idle)"><button type="submit">⌁ C0MP4CT</button></form>
          <form method="post" action="/api/new-session" hx-post="/api/new-session" hx-swap="none" hx-confirm="start a fresh session for the next turn? claude forgets this conversation." title="the next turn starts a fresh claude session"><button type="submit">✚ N3W S3SS10N</button></form>
        </div>
        <form method="post" action="/api/model" hx-post="/api/model" hx-swap="none" class="model-form" title="the model for the next turn: haiku, sonnet, opus or a full model id">
          <label for="model-input" class="muted">model</label>
          % include('agent_model.tpl', model=s['model'], oob=False)
          <button type="submit">set</button>
        </form>
        <p class="hint">in the composer: <code>/model NAME</code>, <code>/compact</code>, <code>/new-session</code>, <code>/cancel</code>, <code>/help</code>.</p>
      </section>
      % include('agent_threads.tpl', threads=s['threads'], error=s['threads_error'], name=s['name'], v=v, oob=False)
      % include('agent_reminders.tpl', reminders=s['reminders'], error=s['reminders_error'], name=s['name'], v=v, oob=False)
      % include('agent_failed.tpl', failed=s['failed'], error=s['failed_error'], name=s['name'], oob=False)
      % include('agent_inbox.tpl', messages=s['inbox'], error=s['inbox_error'], name=s['name'], v=v)
    </div>
  </div>
</main>
<footer class="foot muted">hyperhive · {{s['name']}} · seq <span id="seq">{{s['seq']}}</span> · lowercase prose, uppercase intent</footer>
