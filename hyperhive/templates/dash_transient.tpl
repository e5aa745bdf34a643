<li class="agent is-busy is-placeholder" id="{{row}}" data-name="{{t['name']}}">
  <div class="agent-line">
    <span class="glyph">◆</span> <span class="agent-name">{{t['name']}}</span>
    <span class="badges"><span class="badge b-transient"><span class="spinner" aria-hidden="true"></span>{{t['step']}}…</span></span>
  </div>
</li>
