% # The search box: a plain GET form to /search; with htmx the hits swap in below as one types,
% # and on the dashboard again whenever its page stream brings a change (new messages and
% # questions as `oob` and `questions` events) while words are typed: one search at a time, and
% # of the changes that come meanwhile only the last asks again.
% f = get('found') or {'q': '', 'agent': ''}
<form method="get" action="/search" class="search-form" role="search" hx-get="/search/hits" hx-target="#search-hits">
  <input type="search" id="search-q" name="q" value="{{f['q']}}" maxlength="512" placeholder="words in messages, questions, answers" autocomplete="off" aria-label="words to search for" hx-get="/search/hits" hx-trigger="input changed delay:300ms" hx-target="#search-hits" hx-include="closest form" hx-sync="closest form:replace">
  <input type="text" name="agent" value="{{f['agent']}}" maxlength="64" placeholder="agent (any)" autocomplete="off" aria-label="only what this agent sent or received" class="search-agent">
  <button type="submit">find ▸</button>
</form>
<div id="search-hits" class="search-hits" aria-live="polite" hx-get="/search/hits" hx-include=".search-form" hx-trigger="sse:oob[document.getElementById('search-q').value.trim() !== ''], sse:questions[document.getElementById('search-q').value.trim() !== '']" hx-sync="this:queue last">
% if get('found'):
% include('search_hits.tpl', found=found)
% end
</div>
