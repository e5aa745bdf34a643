% # The approval queue's last day: numbers for everyone, and the data static/stats.js draws
% # (json, not run: <\/ is escaped in it). Live, it comes again out of band with the approvals.
<div id="queue-body"{{!' hx-swap-oob="true"' if oob else ''}}>
  <p class="hint">waiting over the last 24 h: at most <b id="queue-most">{{q['most']}}</b> at once, <b id="queue-now">{{q['now']}}</b> now.</p>
  <script type="application/json" id="queue-data">{{!data}}</script>
</div>
