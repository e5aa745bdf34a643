% rebase('base.tpl', title='log in · hyperhive', page='unauthorized', logout=False, flash_ok=get('flash_ok'))
<main class="confirm">
  <section class="panel" id="login-needed">
    <h2><span class="glyph">◆</span> L0G 1N <span class="glyph">◆</span></h2>
    <p>{{why}}.</p>
    <p class="howto">to log in, {{howto}}.</p>
  </section>
</main>
