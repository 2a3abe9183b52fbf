// The sign-in page: shows why the last attempt was refused (the server redirects here
// with ?error=…). The form itself posts without script.
'use strict';
document.addEventListener('DOMContentLoaded', () => {
  const reasons = {
    invalid: 'That key is not valid: unknown, revoked or mistyped.',
    scope: 'That key lacks the read scope the command center needs.',
    signed_out: 'You are signed out.',
    expired: 'Your session ended; sign in again.',
  };
  const code = new URLSearchParams(location.search).get('error');
  const el = document.getElementById('error');
  if (code && reasons[code]) {
    el.textContent = reasons[code];
    el.hidden = false;
  }
});
