% rebase('base.tpl', title=name + ' · terminal · hyperhive', page='terminal', banner=name, subtitle='t3rm1n4l · ' + ('m1nd' if manager else 'ag3nt') + ' · hyperhive', scripts=['/static/vendor/xterm.js', '/static/vendor/addon-fit.js', '/static/terminal.js'], flash_ok=flash_ok, flash_error=flash_error)
<link rel="stylesheet" href="/static/vendor/xterm.css">
<main class="terminal-page" data-name="{{name}}"{{!' data-fresh' if fresh else ''}}>
  % include('agent_nav.tpl', name=name, manager=manager, dashboard_url=dashboard_url, here='terminal')
  <section class="panel shell-panel" id="terminal">
    <h2><span class="glyph">◆</span> SH3LL <span class="glyph">◆</span>
      % include('terminal_shell.tpl', pid=shell and shell.pid, started_at=shell and shell.started_at, clock=clock)
    </h2>
    <div class="row-actions shell-actions">
      <form method="post" action="/terminal/start" hx-post="/terminal/start" hx-swap="none" id="shell-start" title="a login shell in {{cwd}} with {{name}}'s environment"{{!' hidden' if shell else ''}}>
        <input type="hidden" name="rows" value="{{size[0]}}">
        <input type="hidden" name="cols" value="{{size[1]}}">
        <button type="submit" class="go">▶ ST4RT</button>
      </form>
      <form method="post" action="/terminal/stop" hx-post="/terminal/stop" hx-swap="none" id="shell-stop" title="SIGHUP to the shell's process group, SIGKILL if it is still there 3 s later"{{!'' if shell else ' hidden'}}>
        <button type="submit" class="danger">■ ST0P</button>
      </form>
      <span class="muted">a login shell in <code>{{cwd}}</code> as {{name}} · one at a time: every tab shows the same one</span>
    </div>
    <div class="shell-frame">
      <div id="shell" class="shell" aria-label="{{name}}'s shell"></div>
    </div>
    <p class="hint" id="shell-note">the terminal needs javascript, and xterm.js in static/vendor (<code>./dev setup</code> fetches it); the start and stop buttons work without either.</p>
  </section>
</main>
<footer class="foot muted">hyperhive · {{name}} · terminal · lowercase prose, uppercase intent</footer>
