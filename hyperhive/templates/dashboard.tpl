% rebase('base.tpl', title='hyperhive · dashboard', page='dashboard', seq=s['seq'], scripts=['/static/vendor/uPlot.iife.min.js', '/static/stats.js'])
<link rel="stylesheet" href="/static/vendor/uPlot.min.css">
% if not s['isolated']:
<p class="banner warn" id="not-isolated">agents are not isolated: the host is not running as root, so every agent's claude runs as this user and can reach the whole hive.</p>
% end
{{!lists['disk']}}
% # Live: the stream opens with every list as it is then, and sends the fragments each
% # change makes (dashlive.py); each list below swaps in the ones named in its sse-swap.
<main class="dash" hx-ext="sse" sse-connect="/events/page">
  <div hidden sse-swap="oob,tick" hx-swap="none"></div>
  <div hidden id="notices" sse-swap="notify" hx-swap="innerHTML"></div>
  <div class="column" id="swarm">
    <section class="panel" id="containers">
      <h2><span class="glyph">◆</span> C0NTAINERS <span class="glyph">◆</span> {{!h.span('agents-count', len(s['agents']), 'count')}}</h2>
      <ul class="rows" id="agent-list" data-empty="no agents yet" sse-swap="agents" hx-swap="innerHTML">{{!lists['agents']}}</ul>
    </section>
    <section class="panel" id="kept">
      <h2><span class="glyph">◆</span> K3PT ST4T3 <span class="glyph">◆</span> {{!h.span('kept-count', len(s['kept']), 'count')}}</h2>
      <p class="hint">state of destroyed agents: revive brings one back with it, purge deletes it.</p>
      <ul class="rows" id="kept-list" data-empty="nothing kept" sse-swap="kept" hx-swap="innerHTML">{{!lists['kept']}}</ul>
    </section>
    <section class="panel" id="drafts">
      <h2><span class="glyph">◆</span> DR4FTS <span class="glyph">◆</span> {{!h.span('drafts-count', len(s['drafts']), 'count')}}</h2>
      <p class="hint">agents the manager is preparing: their config and notes before the first boot. the boot itself waits in approvals.</p>
      <ul class="rows" id="draft-list" data-empty="no drafts" sse-swap="drafts" hx-swap="innerHTML">{{!lists['drafts']}}</ul>
    </section>
    <section class="panel" id="budgets">
      <h2><span class="glyph">◆</span> B4DG3TS <span class="glyph">◆</span> {{!h.span('budgets-count', len(s['budgets']), 'count')}}</h2>
      <p class="hint">spent today (the host's day) against each agent's daily budget; a held agent is handed no messages.</p>
      <ul class="rows" id="budget-list" data-empty="no agents" sse-swap="budgets" hx-swap="innerHTML">{{!lists['budgets']}}</ul>
    </section>
    <section class="panel" id="reminders">
      <h2><span class="glyph">◆</span> R3M1ND3RS <span class="glyph">◆</span> {{!h.span('reminders-count', len(s['reminders']), 'count')}}</h2>
      <p class="hint">what agents set to tell themselves later, by agent, each due time counting down.</p>
      <ul class="rows" id="reminder-list" data-empty="no pending reminders" sse-swap="reminders" hx-swap="innerHTML">{{!lists['reminders']}}</ul>
    </section>
    <section class="panel" id="failed">
      <h2><span class="glyph">◆</span> F41L3D TURNS <span class="glyph">◆</span> {{!h.span('failed-count', len(s['failed']), 'count')}}</h2>
      <p class="hint">messages whose every attempt failed, newest first: retry puts one back into its agent's inbox, discard leaves it handled.</p>
      <ul class="rows" id="failed-list" data-empty="no failed turns" sse-swap="failed" hx-swap="innerHTML">{{!lists['failed']}}</ul>
    </section>
  </div>

  <div class="column" id="decisions">
    <section class="panel" id="questions">
      <h2><span class="glyph">◆</span> M1ND H4S QU3STI0NS <span class="glyph">◆</span> {{!h.span('questions-count', len(s['questions']), 'count')}}</h2>
      <nav class="chips" id="question-filter" aria-label="which questions to show">
        % for c in questions['chips']:
        <a class="badge chip{{' is-current' if c['current'] else ''}}" href="/?q={{c['key']}}#questions" data-q="{{c['key']}}" data-empty="{{c['empty']}}"{{!' aria-current="true"' if c['current'] else ''}}>{{c['label']}} {{!h.span('questions-count-' + c['key'], c['count'], 'chip-count')}}</a>
        % end
      </nav>
      % # live, the list holds every open question and hive.js hides the ones the chip leaves out
      <ul class="rows" id="question-list" data-filter="{{questions['filter']}}" data-empty="{{questions['empty']}}" sse-swap="questions" hx-swap="innerHTML">{{!lists['questions']}}</ul>
    </section>
    <section class="panel" id="approvals">
      <h2><span class="glyph">◆</span> P3NDING APPR0VALS <span class="glyph">◆</span> {{!h.span('approvals-count', len(s['approvals']), 'count')}}</h2>
      <form method="post" action="/request-spawn" data-async data-reset class="spawn-form">
        <h3><span class="glyph">◆</span> R3QU3ST SP4WN</h3>
        <input type="text" name="name" required pattern="[a-z][a-z0-9\-]{0,8}" maxlength="9" placeholder="name (a-z, 0-9, -)" autocomplete="off">
        <input type="text" name="description" placeholder="what is it for? (optional)" autocomplete="off">
        <button type="submit">◆ R3QU3ST</button>
      </form>
      <ul class="rows" id="approval-list" data-empty="nothing waiting for approval" sse-swap="approvals" hx-swap="innerHTML">{{!lists['approvals']}}</ul>
      <details class="queue" id="approval-queue" data-charts="queue-data" open>
        <summary>the queue, last 24 h</summary>
        <div class="chart" data-chart="approval_queue"></div>
        {{!lists['approval_queue']}}
      </details>
    </section>
  </div>

  <div class="column" id="messages">
    <section class="panel" id="inbox">
      <h2><span class="glyph">◆</span> 0PER4T0R 1NB0X <span class="glyph">◆</span> {{!h.span('inbox-count', len(s['inbox']), 'count')}}</h2>
      <ul class="rows" id="inbox-list" data-empty="nothing for you yet" sse-swap="inbox" hx-swap="innerHTML">{{!lists['inbox']}}</ul>
    </section>
    <section class="panel" id="search">
      <h2><span class="glyph">◆</span> S34RCH <span class="glyph">◆</span></h2>
      % include('search_form.tpl')
    </section>
    <section class="panel" id="flow">
      <h2><span class="glyph">◆</span> MESS4GE FL0W <span class="glyph">◆</span></h2>
      <form method="post" action="/send" data-async data-reset="body" id="composer" class="composer">
        {{!lists['recipients']}}
        <textarea name="body" required rows="2" placeholder="@name message — or pick a recipient"></textarea>
        <input type="hidden" name="in_reply_to" value="">
        <button type="submit">send ▸</button>
      </form>
      <ul class="rows flow" id="flow-list" data-empty="no traffic yet" sse-swap="flow" hx-swap="innerHTML">{{!lists['flow']}}</ul>
    </section>
  </div>
</main>
<footer class="foot muted">hyperhive · seq <span id="seq">{{s['seq']}}</span> · lowercase prose, uppercase intent</footer>
