% # hx-preserve: a live update of its row leaves an open journal open
<details class="journal" id="{{row}}-journal" hx-preserve data-journal="{{name}}">
  <summary>↳ logs · {{name}}</summary>
  <pre class="journal-text">open <a href="/api/journal/{{name}}?lines=200" target="_blank" rel="noopener">the last 200 lines</a></pre>
</details>
