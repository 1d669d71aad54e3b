import { type Html, html } from '../html.js';

export function signInBody(root: string, next: string, message?: string): Html {
  return html`${message ? html`<p class="warn" role="alert">${message}</p>` : ''}
<form class="signin" method="post" action="${root}/sign-in">
<input type="hidden" name="next" value="${next}">
<label>User <input type="text" name="username" autocomplete="username" required maxlength="256"></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required maxlength="1024"></label>
<button type="submit">Sign in</button>
</form>`;
}

export const problemBody = (message: string): Html => html`<p>${message}</p>`;
