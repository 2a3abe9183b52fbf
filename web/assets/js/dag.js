// The mission graph as hand-drawn SVG: steps in columns by depth (longest path from a
// root), edges from each dependency, each node coloured by its step's state, with the
// due time of a timer armed for it. `update` recolours in place (live updates).
'use strict';

const RexDag = (() => {
  const W = 184, H = 54, GX = 56, GY = 18, PAD = 12;

  function layout(graph) {
    const byId = new Map(graph.map((n, i) => [n.id, { ...n, index: i }]));
    const depth = new Map();
    const depthOf = (id, seen = new Set()) => {
      if (depth.has(id)) return depth.get(id);
      if (seen.has(id)) return 0; // a cycle cannot be stored; stay safe anyway
      seen.add(id);
      const n = byId.get(id);
      const d = n && n.depends_on.length ? 1 + Math.max(...n.depends_on.map((p) => depthOf(p, seen))) : 0;
      depth.set(id, d);
      return d;
    };
    graph.forEach((n) => depthOf(n.id));
    const columns = [];
    for (const n of graph) (columns[depth.get(n.id)] ||= []).push(n.id);
    // order each column by the mean row of its parents (one barycentre pass)
    const row = new Map();
    columns.forEach((col, c) => {
      if (c > 0) {
        const key = (id) => {
          const ps = byId.get(id).depends_on.map((p) => row.get(p)).filter((r) => r !== undefined);
          return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : byId.get(id).index;
        };
        col.sort((a, b) => key(a) - key(b) || byId.get(a).index - byId.get(b).index);
      }
      col.forEach((id, r) => row.set(id, r));
    });
    const tallest = Math.max(1, ...columns.map((c) => c.length));
    const pos = new Map();
    columns.forEach((col, c) => {
      const offset = ((tallest - col.length) * (H + GY)) / 2;
      col.forEach((id, r) => pos.set(id, { x: PAD + c * (W + GX), y: PAD + offset + r * (H + GY) }));
    });
    return { pos, width: PAD * 2 + columns.length * W + (columns.length - 1) * GX, height: PAD * 2 + tallest * H + (tallest - 1) * GY };
  }

  const clip = (s, n) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

  function draw(container, graph, steps, timers) {
    const { svg } = Rex;
    const { pos, width, height } = layout(graph);
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'list', 'aria-label': `Step graph: ${graph.length} steps` },
      svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M0 0L10 5L0 10z', fill: '#8c959f' }))));
    for (const n of graph) {
      const to = pos.get(n.id);
      for (const dep of n.depends_on) {
        const from = pos.get(dep);
        if (!from) continue;
        const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2, mx = (x1 + x2) / 2;
        root.append(svg('path', { class: 'edge', d: `M${x1} ${y1}C${mx} ${y1} ${mx} ${y2} ${x2 - 2} ${y2}`, 'marker-end': 'url(#arrow)' }));
      }
    }
    const nodes = new Map();
    for (const n of graph) {
      const p = pos.get(n.id);
      const status = svg('text', { x: W - 8, y: 17, 'text-anchor': 'end', class: 'sub' });
      const timer = svg('text', { x: 8, y: 46, class: 'sub timer' });
      const title = svg('title');
      const g = svg('g', { class: 'node', transform: `translate(${p.x} ${p.y})`, 'data-step': n.id, tabindex: 0, role: 'listitem' },
        title,
        svg('rect', { width: W, height: H, rx: 7 }),
        svg('text', { x: 8, y: 17, 'font-weight': 600, text: clip(n.id, 16) }),
        status,
        svg('text', { x: 8, y: 31, class: 'sub', text: clip(n.label, 24) }),
        timer);
      nodes.set(n.id, { g, status, timer, title, node: n });
      root.append(g);
    }
    container.replaceChildren(root);
    const view = {
      update(stepsNow, timersNow) {
        for (const [id, parts] of nodes) {
          const s = stepsNow.get(id);
          const st = s ? s.status : 'pending';
          parts.g.setAttribute('class', `node st-${st}`);
          parts.g.dataset.status = st;
          parts.status.textContent = s && s.attempt > 1 ? `${st} #${s.attempt}` : st;
          const t = timersNow.get(id);
          parts.timer.textContent = t ? `${t.kind} due ${new Date(t.due_at).toLocaleTimeString([], { hour12: false })}, ${Rex.until(t.due_at)}` : '';
          parts.g.setAttribute('aria-label', `${id}: ${st}${t ? `, ${t.kind} due ${t.due_at}` : ''}`);
          parts.title.textContent = `${id} (${parts.node.label}): ${st}${t ? `, ${t.kind} due ${t.due_at}` : ''}`;
        }
      },
    };
    view.update(steps, timers);
    return view;
  }

  return { draw, layout };
})();
