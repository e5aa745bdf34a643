% # the ages and countdowns that changed this second, each into its element (sse.py's tick)
% for id, text in texts.items():
<span id="{{id}}" hx-swap-oob="innerHTML">{{text}}</span>
% end
