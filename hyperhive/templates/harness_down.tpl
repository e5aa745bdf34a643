% rebase('base.tpl', title=name + ' is not running · hyperhive', page='harness-down')
<main class="confirm">
  <section class="panel" id="harness-down">
    <h2><span class="glyph">◆</span> {{name}} 0FFL1N3 <span class="glyph">◆</span></h2>
    <p>{{why}}.</p>
    <p>{{hint}}.</p>
  </section>
</main>
