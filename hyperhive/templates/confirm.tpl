% rebase('base.tpl', title=verb + ' ' + name + '? · hyperhive', page='confirm')
<main class="confirm">
  <section class="panel">
    <h2>◆ {{ {'destroy': 'DESTR0Y', 'discard-draft': 'D1SC4RD'}.get(verb, 'PURG3') }} {{name}}? ◆</h2>
    % if verb == 'destroy':
    <p>this stops {{name}} and removes it from the hive.
      {{'its state is deleted for good.' if purge else 'its state is kept and can be revived.'}}</p>
    % elif verb == 'discard-draft':
    <p>this deletes the draft {{name}}: its config repo and state dir, before it ever booted.</p>
    % else:
    <p>this deletes the kept state of {{name}} for good: notes, sessions, credentials, config.</p>
    % end
    <form method="post" action="/{{verb}}/{{name}}" class="row-actions">
      <input type="hidden" name="confirm" value="yes">
      % if purge:
      <input type="hidden" name="purge" value="yes">
      % end
      <button type="submit" class="danger">yes, {{verb}} {{name}}</button>
      <a class="button ghost" href="/">no, go back</a>
    </form>
  </section>
</main>
