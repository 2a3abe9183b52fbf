// The domain pool: every sending domain and mailbox with its health tier, its bounce
// and complaint rates drawn against the tier lines, warmup day and today's cap used;
// add a domain or a mailbox, pause and resume (confirmed first).
'use strict';

Rex.pages.domains = async (main) => {
  const { api, h, badge, pct, has, toast, confirmAction, poll } = Rex;
  let thresholds = null;
  const list = h('div', { id: 'domains' });
  const domainPick = h('select', { id: 'mb-domain', name: 'domain', required: true });
  main.append(h('h1', { text: 'Domain pool' }));
  if (has('write')) main.append(addForms());
  const legend = h('p', { class: 'muted small', id: 'thresholds' });
  main.append(legend, list);

  // A rate on a bar whose ticks are the lines between tiers.
  function meter(rate, lines, label) {
    const top = lines[lines.length - 1] * 1.25;
    const at = (v) => `${Math.min(100, (100 * v) / top)}%`;
    const bar = h('span', { class: 'meter', role: 'meter', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': top, 'aria-valuenow': rate, title: `${label}: ${pct(rate, 2)}; tier lines ${lines.map((l) => pct(l, 2)).join(' / ')}` });
    for (const l of lines) { const t = h('span', { class: 'tick' }); t.style.left = at(l); bar.append(t); }
    const v = h('span', { class: 'val' }); v.style.left = at(rate); bar.append(v);
    return h('span', { class: 'progress' }, bar, h('span', { class: 'small mono', text: pct(rate, 2) }));
  }
  function capUsed(used, cap) {
    const bar = h('span', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': cap, 'aria-valuenow': used, 'aria-label': 'today\'s cap used' }, h('span'));
    bar.firstChild.style.width = `${cap ? Math.min(100, (100 * used) / cap) : 0}%`;
    return h('span', { class: 'progress' }, bar, h('span', { class: 'small', text: `${used}/${cap}` }));
  }
  async function toggle(kind, item, paused) {
    const name = kind === 'domain' ? item.domain : item.address;
    if (!paused) {
      const reason = h('input', { id: 'pause-reason', type: 'text', maxlength: 500, placeholder: 'optional' });
      const ok = await confirmAction({ title: `Pause ${name}?`, ok: 'Pause',
        message: kind === 'domain' ? 'None of its mailboxes will send until it is resumed.' : 'This mailbox will not send until it is resumed.',
        extra: [h('label', { for: 'pause-reason', text: 'Reason' }), reason] });
      if (!ok) return;
      await run(`/v1/${kind === 'domain' ? 'domains' : 'mailboxes'}/${item.id}/pause`, reason.value ? { reason: reason.value } : {}, `${name} paused`);
    } else {
      const ok = await confirmAction({ title: `Resume ${name}?`, ok: 'Resume', message: 'It sends again within its caps and health tier.' });
      if (ok) await run(`/v1/${kind === 'domain' ? 'domains' : 'mailboxes'}/${item.id}/resume`, undefined, `${name} resumed`);
    }
  }
  async function run(path, body, done) {
    try {
      await api(path, { method: 'POST', body });
      toast(done);
      await refresh();
    } catch (e) { toast(e.message, true); }
  }
  function pauseButton(kind, item) {
    if (!has('write')) return null;
    return h('button', { type: 'button', class: item.paused ? '' : 'secondary', 'data-action': item.paused ? 'resume' : 'pause',
      text: item.paused ? 'Resume' : 'Pause', 'aria-label': `${item.paused ? 'Resume' : 'Pause'} ${kind === 'domain' ? item.domain : item.address}`,
      on: { click: () => toggle(kind, item, item.paused) } });
  }
  function card(d) {
    const used = d.mailboxes.reduce((a, m) => a + m.used_today, 0);
    const cap = d.mailboxes.reduce((a, m) => a + m.cap_today, 0);
    return h('section', { class: 'card', 'aria-label': d.domain, dataset: { domain: d.domain, paused: String(d.paused) } },
      h('div', { class: 'row' },
        h('h2', {}, d.domain, ' ', badge(d.health, 'tier'), ' ', d.paused ? badge('paused') : null),
        h('span', { class: 'spacer' }), pauseButton('domain', d)),
      d.paused && d.paused_reason ? h('p', { class: 'muted small', text: `paused: ${d.paused_reason}` }) : null,
      h('div', { class: 'grid' },
        h('div', {}, h('div', { class: 'small muted', text: 'Bounce rate (30 days)' }), meter(d.bounce_rate, thresholds.bounce, `${d.domain} bounce rate`)),
        h('div', {}, h('div', { class: 'small muted', text: 'Complaint rate (30 days)' }), meter(d.complaint_rate, thresholds.complaint, `${d.domain} complaint rate`)),
        h('div', {}, h('div', { class: 'small muted', text: 'Warmup' }), d.warmup.day ? `day ${d.warmup.day} · cap ${d.warmup.cap}/day (${d.warmup.state})` : 'no mailbox yet'),
        h('div', {}, h('div', { class: 'small muted', text: 'Today\'s cap used' }), capUsed(used, cap))),
      d.mailboxes.length ? h('div', { class: 'table-wrap' }, h('table', { 'aria-label': `Mailboxes of ${d.domain}` },
        h('thead', {}, h('tr', {}, ['Mailbox', 'Health', 'Bounces', 'Complaints', 'Warmup day', 'Cap used today', ''].map((t) => h('th', { scope: 'col', text: t })))),
        h('tbody', {}, d.mailboxes.map((m) => h('tr', { dataset: { mailbox: m.address, paused: String(m.paused) } },
          h('th', { scope: 'row', class: 'mono', text: m.address }),
          h('td', {}, badge(m.health, 'tier'), m.paused ? [' ', badge('paused')] : null),
          h('td', {}, meter(m.bounce_rate, thresholds.bounce, `${m.address} bounce rate`)),
          h('td', {}, meter(m.complaint_rate, thresholds.complaint, `${m.address} complaint rate`)),
          h('td', { class: 'num', text: `${m.warmup.day ?? '—'} (cap ${m.warmup.cap ?? '—'})` }),
          h('td', {}, capUsed(m.used_today, m.cap_today)),
          h('td', {}, pauseButton('mailbox', m))))))) : h('p', { class: 'muted', text: 'No mailbox on this domain yet.' }));
  }
  async function refresh() {
    const data = await api('/v1/domains');
    thresholds = data.thresholds;
    const tiers = thresholds.tiers;
    legend.textContent = `Tier lines — bounces over sent: ${thresholds.bounce.map((l, i) => `${tiers[i]} < ${pct(l, 1)}`).join(', ')}; `
      + `complaints over sends: ${thresholds.complaint.map((l, i) => `${tiers[i]} < ${pct(l, 2)}`).join(', ')}; beyond: ${tiers[tiers.length - 1]}.`;
    Rex.preserve(list, () => list.replaceChildren(...(data.items.length ? data.items.map(card)
      : [h('p', { class: 'muted card', text: 'No sending domain yet.' })])));
    const chosen = domainPick.value;
    domainPick.replaceChildren(...data.items.map((d) => h('option', { value: d.id, text: d.domain, selected: d.id === chosen })));
  }

  function addForms() {
    const domain = h('input', { id: 'new-domain', name: 'domain', type: 'text', required: true, placeholder: 'mail.example.com', autocomplete: 'off' });
    const addDomain = h('form', { class: 'card', id: 'add-domain', 'aria-label': 'Add a sending domain' },
      h('div', { class: 'row' }, h('div', {}, h('label', { for: 'new-domain', text: 'Add a sending domain' }), domain),
        h('button', { type: 'submit', text: 'Add domain' })));
    addDomain.addEventListener('submit', async (e) => {
      e.preventDefault();
      await run('/v1/domains', { domain: domain.value }, `${domain.value} added`);
      domain.value = '';
    });
    const address = h('input', { id: 'mb-address', type: 'email', required: true, placeholder: 'ana@mail.example.com', autocomplete: 'off' });
    const cap = h('input', { id: 'mb-cap', type: 'number', min: 1, max: 40, value: 40 });
    const addBox = h('form', { class: 'card', id: 'add-mailbox', 'aria-label': 'Add a mailbox' },
      h('div', { class: 'row' },
        h('div', {}, h('label', { for: 'mb-domain', text: 'Domain' }), domainPick),
        h('div', {}, h('label', { for: 'mb-address', text: 'Mailbox address' }), address),
        h('div', {}, h('label', { for: 'mb-cap', text: 'Daily cap (1–40)' }), cap),
        h('button', { type: 'submit', text: 'Add mailbox' })));
    addBox.addEventListener('submit', async (e) => {
      e.preventDefault();
      await run(`/v1/domains/${domainPick.value}/mailboxes`, { address: address.value, daily_cap: Number(cap.value) }, `${address.value} added`);
      address.value = '';
    });
    return h('div', { class: 'grid' }, addDomain, addBox);
  }

  poll(refresh, 5000);
};
