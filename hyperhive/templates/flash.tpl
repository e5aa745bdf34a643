% if get('flash_error'):
<p class="flash flash-error" role="alert">✗ {{flash_error}}</p>
% elif get('flash_ok'):
<p class="flash flash-ok" role="status">✓ {{flash_ok}}</p>
% end
