<li class="agent is-busy is-placeholder" id="agent-{{name}}" data-name="{{name}}">
  <div class="agent-line">
    <span class="glyph">◆</span> <span class="agent-name">{{name}}</span>
    <span class="badges"><span class="badge b-transient"><span class="spinner" aria-hidden="true"></span>{{step}}…</span></span>
  </div>
</li>
