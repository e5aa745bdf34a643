<input type="text" id="model-input" name="model" value="{{model}}" required maxlength="64" autocomplete="off" spellcheck="false"{{!' hx-swap-oob="true"' if oob else ''}}>
