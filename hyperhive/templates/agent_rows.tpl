% # rows for the group already on the page: appended to it, out of band
<div hx-swap-oob="beforeend:{{into}}">
% for r in rows:
% include('agent_row.tpl', r=r, new=True)
% end
</div>
