<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
% # same-origin here, not the header's no-referrer: under no-referrer a form's POST
% # carries `Origin: null`, which web.cross_site refuses.
<meta name="referrer" content="same-origin">
<title>{{title}}</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Cpath d='M8 1 15 8 8 15 1 8z' fill='%23ffb347'/%3E%3C/svg%3E">
<link rel="stylesheet" href="/static/hive.css">
% # htmx swaps the fragments the server renders (sse.py) into the page; pages work without it.
<script src="/static/vendor/htmx.min.js" defer></script>
<script src="/static/vendor/htmx-sse.min.js" defer></script>
<script src="/static/hive.js" defer></script>
% for src in get('scripts', []):
<script src="{{src}}" defer></script>
% end
</head>
<body data-page="{{get('page', '')}}" data-seq="{{get('seq', '')}}">
<div class="scanlines" aria-hidden="true"></div>
<header class="banner">
  <a class="banner-title" href="/">░▒▓█▓▒░ {{get('banner', 'HYPERHIVE')}} ░▒▓█▓▒░</a>
  <span class="banner-sub">{{get('subtitle', 'hive-c0re · we are the wired')}}</span>
  <span id="live" class="live" title="live updates">◌ static page</span>
  % if get('page') == 'dashboard':
  <button type="button" id="notify" class="notify" aria-pressed="false" title="browser notifications for questions, approvals and messages to you, while this tab is in the background" hidden>🔔 notify</button>
  % end
  % if get('logout', True):
  <form method="post" action="/logout" class="logout"><button type="submit" class="ghost" title="end this browser's operator session">log out</button></form>
  % end
</header>
% include('flash.tpl')
{{!base}}
<div id="toasts" class="toasts" aria-live="polite"></div>
</body>
</html>
