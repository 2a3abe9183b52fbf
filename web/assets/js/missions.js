// The missions page: start a mission, and the tenant's missions as a live list
// (status, definition and version, progress, age, tenant) with filters kept in the URL.
'use strict';

Rex.pages.missions = async (main) => {
  const { api, h, badge, ago, shortId, has, toast } = Rex;
  const params = new URLSearchParams(location.search);
  const definitions = (await api('/v1/definitions')).items || [];
  const names = [...new Set(definitions.map((d) => d.name))].sort();

  const status = h('select', { id: 'f-status', name: 'status' },
    ['', 'pending', 'running', 'succeeded', 'failed', 'cancelled']
      .map((s) => h('option', { value: s, text: s || 'any status', selected: params.get('status') === s })));
  const definition = h('select', { id: 'f-definition', name: 'definition' },
    h('option', { value: '', text: 'any definition' }),
    names.map((n) => h('option', { value: n, text: n, selected: params.get('definition') === n })));
  const since = h('select', { id: 'f-since', name: 'since' },
    [['', 'any time'], ['3600', 'last hour'], ['86400', 'last 24 h'], ['604800', 'last 7 days']]
      .map(([v, t]) => h('option', { value: v, text: t, selected: params.get('since') === v })));
  const filters = h('form', { class: 'row card', 'aria-label': 'Filters', on: { submit: (e) => e.preventDefault() } },
    h('div', {}, h('label', { for: 'f-status', text: 'Status' }), status),
    h('div', {}, h('label', { for: 'f-definition', text: 'Definition' }), definition),
    h('div', {}, h('label', { for: 'f-since', text: 'Created' }), since),
    h('span', { class: 'spacer' }),
    h('span', { class: 'live on', id: 'live', text: 'live' }));

  const tbody = h('tbody', { id: 'missions-body' });
  const table = h('div', { class: 'table-wrap' }, h('table', { 'aria-label': 'Missions' },
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: 'Mission' }), h('th', { scope: 'col', text: 'Definition' }),
      h('th', { scope: 'col', text: 'Status' }), h('th', { scope: 'col', text: 'Progress' }),
      h('th', { scope: 'col', text: 'Age' }), h('th', { scope: 'col', class: 'hide-narrow', text: 'Tenant' }))),
    tbody));
  const more = h('button', { type: 'button', class: 'secondary', hidden: true, text: 'Load more' });

  main.append(h('h1', { text: 'Missions' }), startForm(definitions, names), filters, table, h('p', {}, more));

  let cursor = null;
  let pages = 1;
  function query(withCursor) {
    const q = new URLSearchParams({ limit: '50' });
    if (status.value) q.set('status', status.value);
    if (definition.value) q.set('definition', definition.value);
    if (since.value) q.set('created_from', new Date(Date.now() - Number(since.value) * 1000).toISOString());
    if (withCursor) q.set('cursor', withCursor);
    return q;
  }
  function row(m) {
    const p = m.progress || { done: 0, total: 0 };
    const share = p.total ? (100 * p.done) / p.total : 0;
    const bar = h('span', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': p.total, 'aria-valuenow': p.done, 'aria-label': 'steps done' }, h('span'));
    bar.firstChild.style.width = `${share}%`;
    return h('tr', { class: 'selectable', dataset: { mission: m.id, status: m.status } },
      h('td', {}, h('a', { href: `/ui/missions/${m.id}`, class: 'mono', title: m.id, text: shortId(m.id) })),
      h('td', {}, `${m.definition} `, h('span', { class: 'muted', text: `v${m.definition_version}` })),
      h('td', {}, badge(m.status)),
      h('td', {}, h('span', { class: 'progress' }, bar, h('span', { class: 'small', text: `${p.done}/${p.total}` }))),
      h('td', { title: m.created_at, text: ago(m.created_at) }),
      h('td', { class: 'hide-narrow', text: m.tenant }));
  }
  async function refresh() {
    // re-read as many pages as are shown, so a live refresh keeps "load more" rows
    let items = [];
    let next = null;
    for (let i = 0; i < pages; i++) {
      const page = await api(`/v1/missions?${query(next)}`);
      items = items.concat(page.items);
      next = page.next_cursor;
      if (!next) break;
    }
    cursor = next;
    Rex.preserve(tbody, () => tbody.replaceChildren(...(items.length ? items.map(row)
      : [h('tr', {}, h('td', { colspan: 6, class: 'muted', text: 'No missions match.' }))])));
    more.hidden = !cursor;
  }
  const onFilter = () => {
    const q = new URLSearchParams();
    for (const el of [status, definition, since]) if (el.value) q.set(el.name, el.value);
    history.replaceState(null, '', `/ui/${q.toString() ? `?${q}` : ''}`);
    pages = 1;
    refresh().catch((e) => toast(e.message, true));
  };
  for (const el of [status, definition, since]) el.addEventListener('change', onFilter);
  more.addEventListener('click', () => { pages += 1; refresh().catch((e) => toast(e.message, true)); });
  Rex.poll(refresh, 2000);

  function startForm(defs, defNames) {
    if (!has('write')) return h('p', { class: 'muted', text: 'This key cannot start missions (no write scope).' });
    const pick = h('select', { id: 'start-definition', name: 'definition', required: true },
      defNames.map((n) => h('option', { value: n, text: n })));
    const input = h('textarea', { id: 'start-input', name: 'input', rows: 3, spellcheck: 'false', 'aria-describedby': 'start-help' }, '{}');
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const form = h('form', { class: 'card', id: 'start-form', 'aria-label': 'Start a mission' },
      h('h2', { text: 'Start a mission' }),
      h('div', { class: 'row' },
        h('div', {}, h('label', { for: 'start-definition', text: 'Definition (latest version)' }), pick),
        h('div', { class: 'spacer' }, h('label', { for: 'start-input', text: 'Input (JSON)' }), input)),
      h('p', { id: 'start-help', class: 'muted small', text: 'The definition\'s declared inputs, as a JSON object.' }),
      error,
      h('button', { type: 'submit', id: 'start-submit', text: 'Start mission', disabled: !defNames.length }));
    if (!defNames.length) form.append(h('p', { class: 'muted', text: 'No definition is stored yet: push one with `rex definitions push FILE` or POST /v1/definitions.' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.hidden = true;
      let value;
      try { value = JSON.parse(input.value || '{}'); } catch (err) {
        error.textContent = `The input is not JSON: ${err.message}`;
        error.hidden = false;
        input.focus();
        return;
      }
      try {
        const started = await api('/v1/missions', { method: 'POST', body: { definition: pick.value, input: value } });
        location.assign(`/ui/missions/${started.id}`);
      } catch (err) {
        error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
        error.hidden = false;
      }
    });
    return form;
  }
};
