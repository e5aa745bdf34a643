% # One search's hits. Every piece of a snippet is escaped; only the hit ranges the broker
% # gave are wrapped in <mark> (searchweb.py): a message's text is never markup.
% if found['error']:
<p class="search-error" role="alert">{{found['error']}}</p>
% elif found['q'] and not found['results']:
<p class="muted search-none">no hits for “{{found['q']}}”</p>
% end
% if found['results']:
<ul class="rows hits" id="search-hit-list">
% for r in found['results']:
% href = ('/messages/' if r['kind'] == 'message' else '/questions/') + str(r['id'])
  <li class="hit" data-kind="{{r['kind']}}" data-id="{{r['id']}}">
    <a class="hit-link" href="{{href}}"><span class="muted">{{r['kind']}} #{{r['id']}}</span> <b class="who">{{r['from']}}</b> <span class="arrow">→</span> <b class="to">{{r['to']}}</b> <span class="muted t">{{h.date_time(r['at'])}}</span></a>
    <p class="snippet">\\
% for text, hit in pieces(r['snippet'], r['marks']):
% if hit:
<mark>{{text}}</mark>\\
% else:
{{text}}\\
% end
% end
</p>
  </li>
% end
</ul>
% end
