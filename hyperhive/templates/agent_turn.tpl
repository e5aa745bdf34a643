<section class="turn{{' is-new' if get('new') else ''}}">
  % st = g['start']
  % if st:
  <div class="turn-head" title="message #{{st.get('id')}} · {{v.clock(st['at'])}}"><span class="g">←</span> <b class="who">{{st.get('from')}}</b>: \\
% if st['fold'] is not None:
<details class="turn-body"><summary>{{st['head']}}</summary><pre>{{st['fold']}}</pre></details>\\
% else:
<span class="turn-body">{{st['head']}}</span>\\
% end
% meta = '#%s · %s' % (st.get('id'), v.clock(st['at'])) + (' · %s more waiting' % st['unread'] if st.get('unread') else '')
 <span class="meta">{{meta}}</span>\\
% if st.get('redelivered'):
 <span class="badge b-paused">redelivered</span>\\
% end
</div>
  % end
  % for r in g['rows']:
  % include('agent_row.tpl', r=r, new=get('new'))
  % end
  % if g['end']:
  % include('agent_row.tpl', r=g['end'], new=get('new'))
  % end
</section>
