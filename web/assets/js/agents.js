// The agents page: per agent, its queue depth, oldest waiting task, consumers,
// throughput and error rate over a chosen window, refreshed every two seconds, with the
// queue depth of the last two minutes as a sparkline.
'use strict';

Rex.pages.agents = async (main) => {
  const { api, h, pct, duration, poll } = Rex;
  const history = new Map();
  const windowSel = h('select', { id: 'window' },
    [['60', 'last minute'], ['300', 'last 5 minutes'], ['3600', 'last hour'], ['86400', 'last 24 h']]
      .map(([v, t]) => h('option', { value: v, text: t, selected: v === '300' })));
  const tbody = h('tbody', { id: 'agents-body' });
  const stamp = h('span', { class: 'muted small' });
  main.append(h('h1', { text: 'Agents' }),
    h('p', { class: 'muted', text: 'Queues are the deployment\'s, shared by every tenant: these are counts only, no tenant\'s data.' }),
    h('div', { class: 'row card' }, h('div', {}, h('label', { for: 'window', text: 'Throughput and errors over' }), windowSel),
      h('span', { class: 'spacer' }), stamp, h('span', { class: 'live on', text: 'live' })),
    h('div', { class: 'table-wrap' }, h('table', { 'aria-label': 'Agents' },
      h('thead', {}, h('tr', {}, [['Agent'], ['Queue depth', 'num'], ['Trend', 'hide-narrow'], ['Oldest waiting', 'num'], ['Consumers', 'num'],
        ['In flight', 'num'], ['Throughput', 'num'], ['Error rate', 'num'], ['Dead letters', 'num']]
        .map(([t, c]) => h('th', { scope: 'col', class: c, text: t })))), tbody)));

  async function refresh() {
    const list = await api(`/v1/agents?window=${windowSel.value}`);
    tbody.replaceChildren(...list.items.map((a) => {
      const depth = a.queue_ready ?? a.queued;
      const points = history.get(a.agent) || [];
      points.push(depth);
      if (points.length > 60) points.shift();
      history.set(a.agent, points);
      const r = a.recent;
      const perMin = ((r.succeeded + r.failed) * 60) / r.window_seconds;
      const bad = r.error_rate !== null && r.error_rate >= 0.05;
      return h('tr', { dataset: { agent: a.agent } },
        h('th', { scope: 'row', text: a.agent }),
        h('td', { class: 'num', title: `${a.queued} queued in the checkpoints`, text: depth }),
        h('td', { class: 'hide-narrow' }, RexCharts.spark(points, `${a.agent} queue depth, last ${points.length} readings`)),
        h('td', { class: 'num', text: a.oldest_queued_seconds === null ? '—' : duration(a.oldest_queued_seconds * 1000) }),
        h('td', { class: 'num', text: a.consumers ?? '—' }),
        h('td', { class: 'num', text: a.in_flight }),
        h('td', { class: 'num', title: `${r.succeeded} succeeded, ${r.failed} failed, ${r.deferred} deferred`, text: `${perMin.toFixed(1)}/min` }),
        h('td', { class: 'num' }, h('span', { class: bad ? 'badge st-failed' : '', text: pct(r.error_rate) })),
        h('td', { class: 'num', text: a.dead_letters ?? '—' }));
    }));
    stamp.textContent = `updated ${new Date().toLocaleTimeString()}`;
  }
  windowSel.addEventListener('change', () => refresh().catch((e) => Rex.toast(e.message, true)));
  poll(refresh, 2000);
};
