// Campaigns: the tenant's campaigns, and one campaign's analytics — the funnel, the
// A/B variants with their significance, trends over time and the recommendations,
// all computed by the API from the stored events.
'use strict';

Rex.pages.campaigns = async (main) => {
  const { api, h, time } = Rex;
  const list = await api('/v1/campaigns');
  main.append(h('h1', { text: 'Campaigns' }),
    list.items.length ? h('div', { class: 'table-wrap' }, h('table', { 'aria-label': 'Campaigns' },
      h('thead', {}, h('tr', {}, ['Campaign', 'Status', 'Created', 'Updated'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, list.items.map((c) => h('tr', { dataset: { campaign: c.name } },
        h('th', { scope: 'row' }, h('a', { href: `/ui/campaigns/${encodeURIComponent(c.name)}`, text: c.name })),
        h('td', { text: c.status }), h('td', { text: time(c.created_at) }), h('td', { text: time(c.updated_at) }))))))
      : h('p', { class: 'muted card', text: 'No campaign yet: campaigns appear once the outreach agent records its first message.' }));
};

Rex.pages.campaign = async (main, name) => {
  const { api, h, pct, badge } = Rex;
  const bucket = new URLSearchParams(location.search).get('bucket') === 'week' ? 'week' : 'day';
  const r = await api(`/v1/campaigns/${encodeURIComponent(name)}/report?bucket=${bucket}`);
  const f = r.funnel;
  const of = (n, d) => (d ? pct(n / d) : '—');

  const funnelBox = h('div', { id: 'funnel' });
  RexCharts.bars(funnelBox, {
    title: 'Funnel',
    items: [
      { label: 'sent', value: f.sent },
      { label: 'delivered', value: f.delivered, note: of(f.delivered, f.sent) },
      { label: 'replied', value: f.replied, note: of(f.replied, f.delivered) },
      { label: 'positive', value: f.positive, note: of(f.positive, f.delivered) },
      { label: 'booked', value: f.booked, note: of(f.booked, f.delivered) },
      { label: 'unsubscribed', value: f.unsubscribed, note: of(f.unsubscribed, f.delivered), bad: true },
      { label: 'bounced', value: f.bounced, note: of(f.bounced, f.sent), bad: true },
    ],
  });

  const e = r.experiment;
  const verdict = e.verdict === 'winner'
    ? h('p', {}, badge('succeeded'), ` ${e.winner} wins (largest p-value ${e.max_p_value.toExponential(2)}) within the guardrails.`)
    : h('p', { class: 'muted', text: `No winner: ${e.reason}` });
  const variants = r.variants.length ? h('div', { class: 'table-wrap' }, h('table', { 'aria-label': 'Variants', id: 'variants' },
    h('thead', {}, h('tr', {}, [['Variant'], ['Delivered', 'num'], ['Positive replies', 'num'], ['Reply rate', 'num'], ['Unsubscribes', 'num'],
      ['Complaints', 'num'], ['vs leader', 'num'], ['Significant?'], ['Guardrails']].map(([t, c]) => h('th', { scope: 'col', class: c, text: t })))),
    h('tbody', {}, r.variants.map((v) => h('tr', { dataset: { variant: v.variant } },
      h('th', { scope: 'row' }, v.variant, v.leader ? h('span', { class: 'muted small', text: ' (leader)' }) : null),
      h('td', { class: 'num', text: v.metrics.delivered }),
      h('td', { class: 'num', text: `${v.metrics.positive_replies} (${pct(v.rates.positive_reply, 2)})` }),
      h('td', { class: 'num', text: pct(v.rates.reply, 2) }),
      h('td', { class: 'num', text: pct(v.rates.unsubscribe, 2) }),
      h('td', { class: 'num', text: pct(v.rates.complaint, 2) }),
      h('td', { class: 'num', text: v.significance ? `z ${v.significance.z.toFixed(2)}, p ${v.significance.p_value.toPrecision(3)}` : '—' }),
      h('td', {}, v.significance ? (v.significance.significant ? badge('succeeded') : h('span', { class: 'muted', text: `no (α ${v.significance.alpha.toPrecision(2)})` })) : '—'),
      h('td', {}, v.breaches.length ? v.breaches.map((b) => h('span', { class: 'badge st-failed', text: `${b.guardrail} ${pct(b.rate, 2)} ≥ ${pct(b.max, 2)}` })) : 'ok'))))))
    : h('p', { class: 'muted', text: 'No A/B variants in this campaign.' });

  const trendsBox = h('div', { id: 'trends' });
  const ratesBox = h('div', { id: 'trend-rates' });
  if (r.trends.length) {
    const labels = r.trends.map((t) => t.start);
    RexCharts.line(trendsBox, { title: `Messages per ${bucket} (cohort of the send day)`, labels,
      series: [
        { name: 'sent', values: r.trends.map((t) => t.metrics.sent) },
        { name: 'delivered', values: r.trends.map((t) => t.metrics.delivered) },
        { name: 'replies', values: r.trends.map((t) => t.metrics.replies) },
        { name: 'bounces', values: r.trends.map((t) => t.metrics.bounces) },
      ] });
    RexCharts.line(ratesBox, { title: `Rates per ${bucket}`, labels, format: (v) => pct(v, 1),
      series: [
        { name: 'reply rate', values: r.trends.map((t) => t.rates.reply) },
        { name: 'positive reply rate', values: r.trends.map((t) => t.rates.positive_reply) },
        { name: 'unsubscribe rate', values: r.trends.map((t) => t.rates.unsubscribe) },
        { name: 'bounce rate', values: r.trends.map((t) => t.rates.bounce) },
      ] });
  } else {
    trendsBox.append(h('p', { class: 'muted', text: 'No events yet.' }));
  }
  const other = bucket === 'day' ? 'week' : 'day';
  const recs = r.recommendations.length ? h('ul', { id: 'recommendations' }, r.recommendations.map((x) => h('li', { dataset: { kind: x.kind } },
    h('strong', { text: x.kind.replaceAll('_', ' ') }), ` — ${x.target}: ${x.reason}`)))
    : h('p', { class: 'muted', text: 'Nothing to recommend: no guardrail breached, no domain in trouble, no significant difference yet.' });

  main.append(
    h('h1', {}, `Campaign ${r.campaign} `, h('span', { class: 'muted small', text: r.status })),
    h('p', { class: 'muted', text: `${r.messages} messages, ${r.events} events counted. Machine opens are not counted as opens.` }),
    h('section', { class: 'card', 'aria-labelledby': 'funnel-h' }, h('h2', { id: 'funnel-h', text: 'Funnel' }), funnelBox),
    h('section', { class: 'card', 'aria-labelledby': 'ab-h' }, h('h2', { id: 'ab-h', text: 'A/B variants' }), verdict, variants),
    h('section', { class: 'card', 'aria-labelledby': 'trends-h' },
      h('div', { class: 'row' }, h('h2', { id: 'trends-h', text: 'Trends' }), h('span', { class: 'spacer' }),
        h('a', { href: `?bucket=${other}`, text: `by ${other}` })),
      trendsBox, ratesBox),
    h('section', { class: 'card', 'aria-labelledby': 'recs-h' }, h('h2', { id: 'recs-h', text: 'Recommendations' }), recs));
};
