% rebase('base.tpl', title='message #' + str(thread['message']['id']) + ' · hyperhive', page='thread')
<main class="thread-view">
  <section class="panel" id="thread">
    <h2><span class="glyph">◆</span> THR34D 0F #{{thread['message']['id']}} <span class="glyph">◆</span></h2>
    <p class="hint"><a href="/search">search</a> · <a href="/#flow">back</a></p>
    % if thread['parents']:
    <h3>what it replies to</h3>
    % for m in thread['parents']:
    % include('thread_message.tpl', m=m, role='parent')
    % end
    % end
    <h3>the message</h3>
    % include('thread_message.tpl', m=thread['message'], role='current')
    <h3>replies ({{len(thread['replies'])}})</h3>
    % for m in thread['replies']:
    % include('thread_message.tpl', m=m, role='reply')
    % end
    % if not thread['replies']:
    <p class="muted">no replies</p>
    % end
  </section>
</main>
