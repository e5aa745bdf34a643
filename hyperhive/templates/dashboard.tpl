% rebase('base.tpl', title='hyperhive · dashboard', page='dashboard', seq=s['seq'])
% agent_names = [a['name'] for a in s['agents']]
% placeholders = [(n, step) for n, step in sorted(s['transients'].items()) if n not in agent_names]
% if not s['isolated']:
<p class="banner warn" id="not-isolated">agents are not isolated: the host is not running as root, so every agent's claude runs as this user and can reach the whole hive.</p>
% end
<p class="banner warn" id="disk-full"{{'' if s['disk']['full'] else ' hidden'}}>the hive's disk is full: sends, acks and every other change are refused until space is freed on it. Nothing acknowledged is lost, and the hive goes on by itself once there is room.</p>
<main class="dash">
  <div class="column" id="swarm">
    <section class="panel" id="containers">
      <h2><span class="glyph">◆</span> C0NTAINERS <span class="glyph">◆</span> <span class="count" id="agents-count">{{len(s['agents'])}}</span></h2>
      <ul class="rows" id="agent-list" data-empty="no agents yet">
        % for name, step in placeholders:
        % include('dash_transient.tpl', name=name, step=step)
        % end
        % for a in s['agents']:
        % include('dash_agent.tpl', a=a, h=h)
        % end
      </ul>
    </section>
    <section class="panel" id="kept">
      <h2><span class="glyph">◆</span> K3PT ST4T3 <span class="glyph">◆</span> <span class="count" id="kept-count">{{len(s['kept'])}}</span></h2>
      <p class="hint">state of destroyed agents: revive brings one back with it, purge deletes it.</p>
      <ul class="rows" id="kept-list" data-empty="nothing kept">
        % for k in s['kept']:
        % include('dash_kept.tpl', k=k, h=h)
        % end
      </ul>
    </section>
    <section class="panel" id="drafts">
      <h2><span class="glyph">◆</span> DR4FTS <span class="glyph">◆</span> <span class="count" id="drafts-count">{{len(s['drafts'])}}</span></h2>
      <p class="hint">agents the manager is preparing: their config and notes before the first boot. the boot itself waits in approvals.</p>
      <ul class="rows" id="draft-list" data-empty="no drafts">
        % for d in s['drafts']:
        % include('dash_draft.tpl', d=d, h=h)
        % end
      </ul>
    </section>
  </div>

  <div class="column" id="decisions">
    <section class="panel" id="questions">
      <h2><span class="glyph">◆</span> M1ND H4S QU3STI0NS <span class="glyph">◆</span> <span class="count" id="questions-count">{{len(s['questions'])}}</span></h2>
      <nav class="chips" id="question-filter" aria-label="which questions to show">
        % for c in questions['chips']:
        <a class="badge chip{{' is-current' if c['current'] else ''}}" href="/?q={{c['key']}}#questions" data-q="{{c['key']}}" data-empty="{{c['empty']}}"{{!' aria-current="true"' if c['current'] else ''}}>{{c['label']}} <span class="chip-count" id="questions-count-{{c['key']}}">{{c['count']}}</span></a>
        % end
      </nav>
      <ul class="rows" id="question-list" data-filter="{{questions['filter']}}" data-empty="{{questions['empty']}}">
        % for q in questions['shown']:
        % include('dash_question.tpl', q=q, h=h)
        % end
      </ul>
    </section>
    <section class="panel" id="approvals">
      <h2><span class="glyph">◆</span> P3NDING APPR0VALS <span class="glyph">◆</span> <span class="count" id="approvals-count">{{len(s['approvals'])}}</span></h2>
      <form method="post" action="/request-spawn" data-async data-reset class="spawn-form">
        <h3><span class="glyph">◆</span> R3QU3ST SP4WN</h3>
        <input type="text" name="name" required pattern="[a-z][a-z0-9\-]{0,8}" maxlength="9" placeholder="name (a-z, 0-9, -)" autocomplete="off">
        <input type="text" name="description" placeholder="what is it for? (optional)" autocomplete="off">
        <button type="submit">◆ R3QU3ST</button>
      </form>
      <ul class="rows" id="approval-list" data-empty="nothing waiting for approval">
        % for ap in s['approvals']:
        % include('dash_approval.tpl', ap=ap, h=h)
        % end
      </ul>
    </section>
  </div>

  <div class="column" id="messages">
    <section class="panel" id="inbox">
      <h2><span class="glyph">◆</span> 0PER4T0R 1NB0X <span class="glyph">◆</span> <span class="count" id="inbox-count">{{len(s['inbox'])}}</span></h2>
      <ul class="rows" id="inbox-list" data-empty="nothing for you yet">
        % for m in s['inbox']:
        % include('dash_inbox.tpl', m=m, h=h, reply_ok=m['from'] in agent_names)
        % end
      </ul>
    </section>
    <section class="panel" id="flow">
      <h2><span class="glyph">◆</span> MESS4GE FL0W <span class="glyph">◆</span></h2>
      <form method="post" action="/send" data-async data-reset="body" id="composer" class="composer">
        <select name="to" id="composer-to" aria-label="recipient">
          <option value="">@…</option>
          % for n in agent_names:
          <option value="{{n}}">@{{n}}</option>
          % end
          <option value="*">@* (everyone)</option>
        </select>
        <textarea name="body" required rows="2" placeholder="@name message — or pick a recipient"></textarea>
        <input type="hidden" name="in_reply_to" value="">
        <button type="submit">send ▸</button>
      </form>
      <ul class="rows flow" id="flow-list" data-empty="no traffic yet">
        % for m in s['flow']:
        % include('dash_flow.tpl', m=m, h=h)
        % end
      </ul>
    </section>
  </div>
</main>
<footer class="foot muted">hyperhive · seq <span id="seq">{{s['seq']}}</span> · lowercase prose, uppercase intent</footer>
