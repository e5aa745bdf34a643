% rebase('base.tpl', title='search · hyperhive', page='search')
<main class="search-view">
  <section class="panel" id="search">
    <h2><span class="glyph">◆</span> S34RCH <span class="glyph">◆</span></h2>
    <p class="hint">every word must be in a hit; punctuation and quotes only separate words. newest first, <a href="{{best}}">best first</a>. <a href="/">back</a></p>
    % include('search_form.tpl', found=found)
  </section>
</main>
