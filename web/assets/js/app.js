// Rex command center: the shared part of every signed-in page — the session, calls to
// the /v1 API (with the CSRF token on changes), DOM helpers that never parse data as
// HTML, formatting, the confirmation dialog and the router that picks the page.
'use strict';

const Rex = (() => {
  const pages = {};
  const state = { session: null };

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.code = body && body.code;
      this.field = body && body.field;
    }
  }

  // Calls the API with the session cookie. 401 means the session is gone: to sign-in.
  async function api(path, opts = {}) {
    const method = opts.method || 'GET';
    const headers = { Accept: 'application/json' };
    let body;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    if (method !== 'GET' && state.session && state.session.csrf_token) {
      headers['X-CSRF-Token'] = state.session.csrf_token;
    }
    const res = await fetch(path, { method, headers, body, credentials: 'same-origin' });
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (_) { data = { message: text }; }
    }
    if (res.status === 401 && !opts.noRedirect) {
      location.assign('/ui/sign-in?error=expired');
    }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }

  // h('a', {href, class, text, on: {click}}, ...children): elements, text as text.
  function build(el, attrs, children) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') el.textContent = v;
      else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

  function ago(iso) {
    if (!iso) return '—';
    return duration(Date.now() - new Date(iso).getTime());
  }
  function duration(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
    const s = Math.max(0, ms) / 1000;
    if (s < 1) return `${Math.round(ms)} ms`;
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }
  function until(iso) {
    const ms = new Date(iso).getTime() - Date.now();
    return ms >= 0 ? `in ${duration(ms)}` : `${duration(-ms)} overdue`;
  }
  function time(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
  }
  const pct = (x, digits = 1) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)}%`);
  const badge = (status, prefix = 'st') => h('span', { class: `badge ${prefix}-${status}`, text: status.replace('_', ' ') });
  const shortId = (id) => id.slice(0, 8) + '…' + id.slice(-4);
  const has = (scope) => !!(state.session && state.session.scopes.includes(scope));

  function toast(message, bad = false) {
    const box = document.getElementById('toast');
    const msg = h('div', { class: bad ? 'msg bad' : 'msg', text: message });
    box.append(msg);
    setTimeout(() => msg.remove(), bad ? 8000 : 4000);
  }

  // A modal confirmation; resolves true when confirmed. `extra` nodes (inputs) go in
  // the dialog and are read by the caller after it resolves.
  function confirmAction({ title, message, ok = 'Confirm', extra = [] }) {
    const dialog = document.getElementById('confirm');
    document.getElementById('confirm-title').textContent = title;
    document.getElementById('confirm-message').textContent = message;
    const slot = document.getElementById('confirm-extra');
    slot.replaceChildren(...extra);
    document.getElementById('confirm-ok').textContent = ok;
    dialog.returnValue = '';
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
      dialog.showModal();
    });
  }

  // Runs fn now and every `ms` while the page is visible; errors shown once per kind.
  function poll(fn, ms) {
    let last = '';
    const run = async () => {
      if (document.hidden) return;
      try {
        await fn();
        last = '';
      } catch (e) {
        if (e.message !== last) toast(`refresh failed: ${e.message}`, true);
        last = e.message;
      }
    };
    run();
    return setInterval(run, ms);
  }

  // Re-renders `root` with `render()` (a live refresh) without taking the user's place:
  // the focused link, button or disclosure keeps its focus, and open <details> stay
  // open (matched by href, aria-label, id or data-key).
  function preserve(root, render) {
    const active = document.activeElement;
    let focus = null;
    if (active && active !== document.body && root.contains(active)) {
      const det = active.tagName === 'SUMMARY' ? active.closest('details[data-key]') : null;
      const attr = (name) => active.getAttribute(name) && `[${name}="${CSS.escape(active.getAttribute(name))}"]`;
      focus = det ? `details[data-key="${CSS.escape(det.dataset.key)}"] > summary`
        : attr('href') || attr('aria-label') || (active.id ? `#${CSS.escape(active.id)}` : null);
    }
    const open = [...root.querySelectorAll('details[data-key]')].map((d) => [d.dataset.key, d.open]);
    render();
    for (const [key, isOpen] of open) {
      const d = root.querySelector(`details[data-key="${CSS.escape(key)}"]`);
      if (d) d.open = isOpen;
    }
    if (focus) {
      const el = root.querySelector(focus);
      if (el) el.focus({ preventScroll: true });
    }
  }

  function showError(main, e) {
    main.replaceChildren(h('h1', { text: e.status === 404 ? 'Not found' : 'Something went wrong' }),
      h('p', { class: 'error', role: 'alert', 'data-testid': 'error', text: e.message }),
      h('p', {}, h('a', { href: '/ui/', text: 'Back to missions' })));
  }

  const routes = [
    [/^\/ui\/?$/, 'missions', () => []],
    [/^\/ui\/missions\/([^/]+)$/, 'mission', (m) => [decodeURIComponent(m[1])]],
    [/^\/ui\/agents$/, 'agents', () => []],
    [/^\/ui\/domains$/, 'domains', () => []],
    [/^\/ui\/campaigns$/, 'campaigns', () => []],
    [/^\/ui\/campaigns\/([^/]+)$/, 'campaign', (m) => [decodeURIComponent(m[1])]],
  ];

  async function start() {
    const main = document.getElementById('main');
    try {
      state.session = await api('/ui/session');
    } catch (e) {
      if (e.status !== 401) showError(main, e);
      return;
    }
    document.getElementById('tenant').textContent = state.session.tenant;
    document.getElementById('sign-out').addEventListener('click', async () => {
      try { await api('/ui/session/end', { method: 'POST' }); } catch (_) { /* gone anyway */ }
      location.assign('/ui/sign-in?error=signed_out');
    });
    for (const [re, name, args] of routes) {
      const m = location.pathname.match(re);
      if (!m) continue;
      const nav = name === 'mission' ? 'missions' : name === 'campaign' ? 'campaigns' : name;
      const link = document.querySelector(`header nav a[data-nav="${nav}"]`);
      if (link) link.setAttribute('aria-current', 'page');
      main.replaceChildren();
      try {
        await pages[name](main, ...args(m));
      } catch (e) {
        showError(main, e);
      }
      return;
    }
    showError(main, { status: 404, message: `no page at ${location.pathname}` });
  }

  document.addEventListener('DOMContentLoaded', start);

  return { api, h, svg, ago, duration, until, time, pct, badge, shortId, has, toast, confirmAction, poll, preserve, showError, pages, state, ApiError };
})();
