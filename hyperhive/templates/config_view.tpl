% rebase('base.tpl', title=view['name'] + ' config · hyperhive', page='config')
% # Live: an approval (proposal, approved, denied) or a rollout's end (deployed, failed) on
% # the host's page stream fetches the page again and swaps in its live part: one fetch
% # at a time, and of the events that come meanwhile only the last one fetches again.
<main class="config-view" hx-ext="sse" sse-connect="/events/page">
  <div id="config-live" hx-get="{{here}}" hx-select="#config-live > section" hx-swap="innerHTML"
       hx-trigger="sse:approvals, sse:agents" hx-sync="this:queue last">
  <section class="panel">
    <h2>◆ C0NFIG · {{view['name']}} ◆</h2>
    <p class="muted">agent.json as the host reads it (the applied repo, over the defaults)</p>
    <pre class="config-json">{{config}}</pre>
  </section>
  <section class="panel">
    <h2>◆ H1ST0RY ◆</h2>
    <p class="muted">newest first, the {{len(view['history'])}} latest commits; applied and proposed</p>
    <ol class="config-history">
      % for c in view['history']:
      <li>
        <code title="{{c['sha']}}">{{c['short']}}</code>
        <span class="muted">{{h.date_time(c['time'])}}</span>
        % for kind, ids in c['tags'].items():
        % for i in ids:
        <span class="badge b-tag-{{kind}}">{{kind}}/{{i}}</span>
        % end
        % end
        <span class="subject">{{c['subject']}}</span>
      </li>
      % end
    </ol>
    <p><a href="/#containers">back</a></p>
  </section>
  </div>
</main>
