% # the composer's recipients; live, only the options change (hive.js keeps the pick)
<select name="to" id="composer-to" aria-label="recipient"{{!' hx-swap-oob="innerHTML"' if oob else ''}}>
  <option value="">@…</option>
  % for n in names:
  <option value="{{n}}">@{{n}}</option>
  % end
  <option value="*">@* (everyone)</option>
</select>
