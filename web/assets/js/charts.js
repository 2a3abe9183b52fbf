// Charts drawn as plain SVG: a line chart with a y axis and a key, horizontal bars
// (funnels), and sparklines. Every point carries a <title> with its value, and every
// chart a text summary for screen readers.
'use strict';

const RexCharts = (() => {
  const niceMax = (v) => {
    if (v <= 0) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
  };

  function line(container, { labels, series, format = String, title }) {
    const { svg, h } = Rex;
    const W = 640, H = 220, L = 48, R = 12, T = 12, B = 28;
    const max = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
    const x = (i) => L + (labels.length < 2 ? (W - L - R) / 2 : (i * (W - L - R)) / (labels.length - 1));
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      root.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v) }),
        svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', text: format(v) }));
    }
    const every = Math.max(1, Math.ceil(labels.length / 6));
    const last = labels.length - 1;
    labels.forEach((l, i) => {
      // every few labels, and the last one unless a regular one sits too close to it
      if (i === last || (i % every === 0 && last - i > every / 2)) {
        const anchor = labels.length < 2 ? 'middle' : i === 0 ? 'start' : i === last ? 'end' : 'middle';
        root.append(svg('text', { x: x(i), y: H - 8, 'text-anchor': anchor, text: l }));
      }
    });
    series.forEach((s, si) => {
      const cls = `s${si % 4}`;
      root.append(svg('polyline', { class: cls, points: s.values.map((v, i) => `${x(i)},${y(v)}`).join(' ') }));
      s.values.forEach((v, i) => root.append(svg('circle', { class: cls, cx: x(i), cy: y(v), r: 3 },
        svg('title', { text: `${s.name} ${labels[i]}: ${format(v)}` }))));
    });
    const keyRow = h('div', {}, series.map((s, si) => h('span', { class: 'key' }, h('i', { class: `s${si % 4}` }), s.name)));
    const summary = h('p', { class: 'muted small' }, `${title}: ${labels.length} points; latest ${series.map((s) => `${s.name} ${format(s.values[s.values.length - 1] ?? 0)}`).join(', ')}.`);
    container.replaceChildren(h('div', { class: 'chart' }, root), keyRow, summary);
  }

  function bars(container, { items, format = String, title }) {
    const { svg, h } = Rex;
    const W = 640, row = 30, L = 120, R = 90;
    const H = items.length * row + 8;
    const max = Math.max(1, ...items.map((i) => i.value));
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
    items.forEach((it, i) => {
      const w = ((W - L - R) * it.value) / max;
      const yy = 4 + i * row;
      root.append(svg('text', { x: L - 8, y: yy + 17, 'text-anchor': 'end', text: it.label }),
        svg('rect', { class: `funnel-bar${it.bad ? ' bad' : ''}`, x: L, y: yy + 4, width: Math.max(1, w), height: row - 10, rx: 3 },
          svg('title', { text: `${it.label}: ${format(it.value)}` })),
        svg('text', { x: L + w + 6, y: yy + 17, text: `${format(it.value)}${it.note ? ` · ${it.note}` : ''}` }));
    });
    container.replaceChildren(h('div', { class: 'chart' }, root),
      h('p', { class: 'muted small', text: `${title}: ${items.map((i) => `${i.label} ${format(i.value)}`).join(', ')}.` }));
  }

  function spark(values, label) {
    const { svg } = Rex;
    const W = 90, H = 22;
    const max = Math.max(1, ...values);
    const pts = values.map((v, i) => `${values.length < 2 ? 0 : (i * W) / (values.length - 1)},${H - 2 - ((H - 4) * v) / max}`).join(' ');
    return svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': label, class: 'chart' },
      svg('line', { class: 'base', x1: 0, x2: W, y1: H - 1, y2: H - 1 }),
      svg('polyline', { class: 's0', points: values.length === 1 ? `0,${H - 2 - ((H - 4) * values[0]) / max} ${W},${H - 2 - ((H - 4) * values[0]) / max}` : pts }));
  }

  return { line, bars, spark };
})();
