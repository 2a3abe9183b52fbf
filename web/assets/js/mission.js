// A mission's page: its graph (steps coloured by state, timers with their due time),
// the step timeline and every attempt (durations, errors, outputs), kept live by the
// mission's Server-Sent Events, and the cancel / retry-from-step / signal actions,
// each confirmed first.
'use strict';

Rex.pages.mission = async (main, id) => {
  const { api, h, badge, ago, time, duration, has, toast, confirmAction } = Rex;
  const FINAL = ['succeeded', 'failed', 'cancelled'];
  let detail = await api(`/v1/missions/${encodeURIComponent(id)}`);
  const steps = new Map(detail.steps.map((s) => [s.id, s]));
  const timersByStep = () => new Map(detail.timers.filter((t) => t.step).map((t) => [t.step, t]));

  const statusBox = h('span', { id: 'mission-status' });
  const progress = h('span', { class: 'muted' });
  const live = h('span', { class: 'live', id: 'live', text: 'connecting' });
  const actions = h('div', { class: 'row', id: 'actions' });
  const head = h('div', { class: 'card' },
    h('h1', {}, `${detail.definition} `, h('span', { class: 'muted', text: `v${detail.definition_version}` }), ' ', statusBox),
    h('div', { class: 'row small' },
      h('span', {}, 'mission ', h('code', { text: detail.id })),
      h('span', {}, 'tenant ', h('strong', { text: detail.tenant })),
      h('span', { id: 'created', title: detail.created_at }),
      progress,
      h('span', { class: 'spacer' }),
      live),
    h('p', { class: 'error', id: 'mission-error', hidden: true }),
    actions);
  const dagBox = h('div', { class: 'dag', id: 'dag' });
  const legend = h('div', { class: 'legend', 'aria-label': 'Legend' },
    ['pending', 'delayed', 'waiting', 'running', 'waiting_retry', 'succeeded', 'failed', 'skipped', 'cancelled'].map((s) => badge(s)));
  const timersBox = h('div', { id: 'timers' });
  const stepsBody = h('tbody', { id: 'steps-body' });
  const attemptsBody = h('tbody', { id: 'attempts-body' });
  const outputBox = h('div', { id: 'mission-output' });
  main.append(head,
    h('section', { class: 'card', 'aria-labelledby': 'graph-h' }, h('h2', { id: 'graph-h', text: 'Steps' }), legend, dagBox, timersBox),
    h('section', { class: 'card', 'aria-labelledby': 'timeline-h' }, h('h2', { id: 'timeline-h', text: 'Timeline' }),
      h('div', { class: 'table-wrap' }, h('table', { 'aria-label': 'Steps' },
        h('thead', {}, h('tr', {}, ['Step', 'Status', 'Attempt', 'Dispatched', 'Finished', 'Duration', 'Error / output']
          .map((t) => h('th', { scope: 'col', text: t })))), stepsBody))),
    h('section', { class: 'card', 'aria-labelledby': 'attempts-h' }, h('h2', { id: 'attempts-h', text: 'Attempts' }),
      h('div', { class: 'table-wrap' }, h('table', { 'aria-label': 'Attempts' },
        h('thead', {}, h('tr', {}, ['Step', '#', 'Agent', 'Status', 'Started', 'Duration', 'Error / output']
          .map((t) => h('th', { scope: 'col', text: t })))), attemptsBody))),
    h('section', { class: 'card', 'aria-labelledby': 'io-h' }, h('h2', { id: 'io-h', text: 'Input and output' }),
      h('details', {}, h('summary', { text: 'Input' }), h('pre', { text: JSON.stringify(detail.input, null, 2) })), outputBox));

  const dag = detail.graph.length ? RexDag.draw(dagBox, detail.graph, steps, timersByStep())
    : (dagBox.append(h('p', { class: 'muted', text: 'The definition of this mission cannot be read.' })), null);

  const payload = (value, key) => (value === null || value === undefined ? null
    : h('details', { 'data-key': key }, h('summary', { text: 'output' }), h('pre', { text: JSON.stringify(value, null, 2) })));
  const since = (a, b) => (a && b ? new Date(b) - new Date(a) : null);

  function render() {
    Rex.preserve(main, draw);
  }
  function draw() {
    statusBox.replaceChildren(badge(detail.status));
    statusBox.dataset.status = detail.status;
    head.querySelector('#created').textContent = `started ${ago(detail.created_at)} ago`;
    const done = [...steps.values()].filter((s) => s.status === 'succeeded' || s.status === 'skipped').length;
    progress.textContent = `${done}/${steps.size || detail.graph.length} steps done`;
    const err = head.querySelector('#mission-error');
    err.hidden = !detail.error;
    err.textContent = detail.error || '';
    if (dag) dag.update(steps, timersByStep());
    timersBox.replaceChildren(...(detail.timers.length ? [h('h3', { class: 'small', text: 'Armed timers' }),
      h('ul', {}, detail.timers.map((t) => h('li', { dataset: { timer: t.kind } },
        `${t.kind}${t.step ? ` of ${t.step}` : ''} due ${time(t.due_at)} (${Rex.until(t.due_at)})`)))] : []));
    const order = detail.graph.length ? detail.graph.map((n) => n.id) : [...steps.keys()];
    stepsBody.replaceChildren(...order.map((sid) => {
      const s = steps.get(sid) || { id: sid, status: 'pending', attempt: 0 };
      return h('tr', { dataset: { step: sid, status: s.status } },
        h('th', { scope: 'row', text: sid }), h('td', {}, badge(s.status)), h('td', { class: 'num', text: s.attempt || '—' }),
        h('td', { text: time(s.dispatched_at) }), h('td', { text: time(s.finished_at) }),
        h('td', { class: 'num', text: duration(since(s.dispatched_at, s.finished_at)) }),
        h('td', {}, s.error ? h('span', { class: 'error', text: s.error }) : null, payload(s.output, `step:${sid}`)));
    }));
    attemptsBody.replaceChildren(...(detail.attempts.length ? detail.attempts.map((a) => h('tr', {},
      h('th', { scope: 'row', text: a.step }), h('td', { class: 'num', text: a.attempt }), h('td', { text: a.agent }),
      h('td', {}, badge(a.status)), h('td', { text: time(a.started_at) }),
      h('td', { class: 'num', text: duration(a.duration_ms ?? (Date.now() - new Date(a.started_at))) }),
      h('td', {}, a.error ? h('span', { class: 'error', text: `${a.error}${a.retryable ? ' (retryable)' : ''}` }) : null, payload(a.output, `attempt:${a.step}:${a.attempt}:${a.started_at}`))))
      : [h('tr', {}, h('td', { colspan: 7, class: 'muted', text: 'No attempt yet.' }))]));
    outputBox.replaceChildren(detail.output ? h('details', { open: true, 'data-key': 'mission-output' }, h('summary', { text: 'Output' }), h('pre', { text: JSON.stringify(detail.output, null, 2) }))
      : h('p', { class: 'muted', text: FINAL.includes(detail.status) ? 'No output.' : 'No output yet.' }));
    renderActions();
  }

  function renderActions() {
    actions.replaceChildren();
    if (!has('write')) return;
    const running = !FINAL.includes(detail.status);
    if (running) {
      actions.append(h('button', { type: 'button', class: 'danger', id: 'cancel', text: 'Cancel mission', on: { click: cancel } }));
      actions.append(h('button', { type: 'button', class: 'secondary', id: 'signal', text: 'Send signal', on: { click: signal } }));
    } else if (detail.status !== 'succeeded') {
      actions.append(h('button', { type: 'button', id: 'retry', text: 'Retry…', on: { click: retry } }));
    }
  }

  async function act(path, body, done) {
    try {
      const r = await api(path, { method: 'POST', body });
      streamed.clear(); // a retry starts steps again: the stream's past no longer holds
      toast(`${done}: ${r.outcome}`);
      await reload();
      connect();
    } catch (e) {
      toast(e.message, true);
    }
  }
  async function cancel() {
    const reason = h('input', { id: 'cancel-reason', type: 'text', maxlength: 200, placeholder: 'optional' });
    const ok = await confirmAction({ title: 'Cancel this mission?', ok: 'Cancel mission',
      message: 'Steps still to run will not run; steps running now finish but their results are ignored.',
      extra: [h('label', { for: 'cancel-reason', text: 'Reason' }), reason] });
    if (ok) await act(`/v1/missions/${id}/cancel`, reason.value ? { reason: reason.value } : {}, 'cancel');
  }
  async function retry() {
    const from = h('select', { id: 'retry-from' }, h('option', { value: '', text: 'the steps that did not succeed' }),
      (detail.graph.length ? detail.graph.map((n) => n.id) : [...steps.keys()]).map((s) => h('option', { value: s, text: `from ${s} (and every step after it)` })));
    const ok = await confirmAction({ title: 'Run this mission again?', ok: 'Retry',
      message: 'Steps that succeeded keep their results unless you retry from an earlier step.',
      extra: [h('label', { for: 'retry-from', text: 'Run again' }), from] });
    if (ok) await act(`/v1/missions/${id}/retry`, from.value ? { from: from.value } : {}, 'retry');
  }
  async function signal() {
    const name = h('input', { id: 'signal-name', type: 'text', required: true, placeholder: 'lead.replied' });
    const body = h('textarea', { id: 'signal-payload', rows: 3 }, '{}');
    const ok = await confirmAction({ title: 'Send a signal?', ok: 'Send', message: 'A step waiting for this signal, or the mission\'s on_signal, acts on it.',
      extra: [h('label', { for: 'signal-name', text: 'Signal name' }), name, h('label', { for: 'signal-payload', text: 'Payload (JSON)' }), body] });
    if (!ok) return;
    let value;
    try { value = JSON.parse(body.value || '{}'); } catch (e) { toast(`payload is not JSON: ${e.message}`, true); return; }
    if (!name.value) { toast('a signal needs a name', true); return; }
    await act(`/v1/missions/${id}/signals`, { name: name.value, payload: value }, 'signal');
  }

  // What the event stream said last, per step (and '' for the mission): a re-read
  // that was answered before a transition arrived must not move a step backwards.
  const streamed = new Map();
  const rank = (st) => (['pending', 'delayed', 'waiting'].includes(st) ? 0 : ['running', 'waiting_retry'].includes(st) ? 1 : 2);
  const newer = (a, b) => a.attempt > b.attempt || (a.attempt === b.attempt && rank(a.status) > rank(b.status));
  async function reload() {
    const fresh = await api(`/v1/missions/${encodeURIComponent(id)}`);
    detail = fresh;
    steps.clear();
    detail.steps.forEach((s) => {
      const seen = streamed.get(s.id);
      steps.set(s.id, seen && newer(seen, s) ? { ...s, status: seen.status, attempt: seen.attempt } : s);
    });
    const mine = streamed.get('');
    if (mine && FINAL.includes(mine.status) && !FINAL.includes(detail.status)) detail.status = mine.status;
    render();
  }

  // Live: each transition recolours its step at once; the full detail (outputs,
  // attempts, timers) is re-read shortly after, once per burst.
  let source = null;
  let pending = null;
  function soon() {
    clearTimeout(pending);
    pending = setTimeout(() => reload().catch((e) => toast(e.message, true)), 250);
  }
  function connect() {
    if (source) source.close();
    if (FINAL.includes(detail.status)) { live.textContent = 'finished'; live.classList.remove('on'); return; }
    source = new EventSource(`/v1/missions/${encodeURIComponent(id)}/events`);
    source.addEventListener('open', () => { live.textContent = 'live'; live.classList.add('on'); });
    source.addEventListener('transition', (e) => {
      const ev = JSON.parse(e.data);
      streamed.set(ev.step || '', { status: ev.status, attempt: ev.attempt });
      if (ev.step) {
        const s = steps.get(ev.step) || { id: ev.step };
        steps.set(ev.step, { ...s, status: ev.status, attempt: ev.attempt });
        if (dag) dag.update(steps, timersByStep());
        const row = stepsBody.querySelector(`tr[data-step="${CSS.escape(ev.step)}"]`);
        if (row) { row.dataset.status = ev.status; row.children[1].replaceChildren(badge(ev.status)); }
      } else {
        detail.status = ev.status;
        statusBox.replaceChildren(badge(ev.status));
        statusBox.dataset.status = ev.status;
      }
      soon();
      if (!ev.step && FINAL.includes(ev.status)) { source.close(); live.textContent = 'finished'; live.classList.remove('on'); }
    });
    source.addEventListener('error', () => {
      live.classList.remove('on');
      live.textContent = FINAL.includes(detail.status) ? 'finished' : 'reconnecting';
      if (FINAL.includes(detail.status)) source.close();
    });
  }
  render();
  connect();
  // ages and due times move on their own
  setInterval(() => { if (!document.hidden) { head.querySelector('#created').textContent = `started ${ago(detail.created_at)} ago`; if (dag) dag.update(steps, timersByStep()); } }, 1000);
};
