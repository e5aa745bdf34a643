% cls = r['cls'] + (' is-new' if get('new') else '')
% if r.get('title'):
<div class="row {{cls}}" title="{{r['title']}}">\\
% else:
<div class="row {{cls}}">\\
% end
% if r['fold'] is not None:
<details><summary><span class="g">{{r['glyph']}}</span> <span class="t">{{r['text']}}</span> <span class="n">{{len(r['fold'])}} chars</span></summary><pre>{{r['fold']}}</pre></details>\\
% else:
<span class="g">{{r['glyph']}}</span> <span class="t">{{r['text']}}</span>\\
% end
</div>
