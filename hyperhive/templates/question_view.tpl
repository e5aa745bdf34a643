% rebase('base.tpl', title='question #' + str(q['id']) + ' · hyperhive', page='question')
<main class="thread-view">
  <section class="panel" id="question">
    <h2><span class="glyph">◆</span> QU3STI0N #{{q['id']}} <span class="glyph">◆</span></h2>
    <p class="hint"><a href="/search">search</a> · <a href="/#questions">back</a></p>
    <article class="thread-msg is-current" id="q-{{q['id']}}">
      <div class="msg-head"><b class="who">{{q['asker']}}</b> <span class="arrow">→</span> <b class="to">{{q['target'] or 'operator'}}</b> <span class="muted t">{{h.date_time(q['asked_at'])}}</span></div>
      <pre class="body">{{q['question']}}</pre>
      % if q['options']:
      <p class="muted">options: {{', '.join(q['options'])}}</p>
      % end
    </article>
    % if q['answered_at']:
    <article class="thread-msg is-reply" id="q-{{q['id']}}-answer">
      <div class="msg-head"><b class="who">{{q['answerer']}}</b> <span class="muted">answered</span> <span class="muted t">{{h.date_time(q['answered_at'])}}</span></div>
      <pre class="body">{{q['answer']}}</pre>
    </article>
    % else:
    <p class="muted">not answered yet</p>
    % end
  </section>
</main>
