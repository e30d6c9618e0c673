// The committee drawing: nodes around a circle (twins beside their originals), messages flying
// at their simulated latency, slowed links, the split zone, and the drag that splits the network.

import { $, el, onKeyActivate, setText, view } from './dom.js';
import { run, intervene, notice } from './run.js';

const RADIUS = 220;              // committee circle, in SVG units
const ZONE = { x: 192, y: 196, w: 134, h: 100 };  // the split zone, bottom right of the committee SVG
const DRAG_START_PX = 6;         // pointer travel that turns a press on a node into a drag

let redraw = () => {};
/// The page's "draw everything now" (set by app.js).
export function onRedraw(fn) { redraw = fn; }

function nodePosition(i, n) {
  const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
  return [RADIUS * Math.cos(angle), RADIUS * Math.sin(angle)];
}

/// Where replica instance `i` is drawn: a node on the circle, a twin beside its original.
function instancePosition(i, n, twins) {
  if (i < n) return nodePosition(i, n);
  const angle = -Math.PI / 2 + (2 * Math.PI * (twins[i - n] + 0.36)) / n;
  return [RADIUS * Math.cos(angle), RADIUS * Math.sin(angle)];
}

// Each kind of message has a shape of its own as well as a colour, so that kinds are told
// apart without colour: a proposal is a square, a vote a disc, a timeout a triangle, a TC a
// diamond, a sync message a cross, a batch a small disc (the legend shows the same).
const disc = (r) => `M${-r},0a${r},${r} 0 1,0 ${2 * r},0a${r},${r} 0 1,0 ${-2 * r},0z`;
const SHAPES = {
  proposal: 'M-7,-7h14v14h-14z',
  vote: disc(7),
  timeout: 'M0,-8.5L8,6.5H-8z',
  tc: 'M0,-9.5L9.5,0L0,9.5L-9.5,0z',
  sync: 'M-3,-8h6v5h5v6h-5v5h-6v-5h-5v-6h5z',
  batch: disc(4),
};
function messageShape(kind) {
  if (kind.startsWith('sync-') || kind.startsWith('chain-')) return SHAPES.sync;
  if (kind.startsWith('batch')) return SHAPES.batch;
  return SHAPES[kind] || SHAPES.vote;
}

export const instanceName = (v) => 'n' + v.id + (v.twin ? '′' : '');

// The drawing is built once per committee and then updated in place: replacing elements every
// frame would swallow clicks (the element under the pointer at mouse-down would be gone at
// mouse-up).
const committee = { key: '', scale: 1, n: 0, twins: [], nodes: [], messages: new Map(), messageLayer: null, clock: null, links: new Map() };

/// Lays out `n` nodes, plus their twins (instances n and up) if the run has any.
function layout(n, twins) {
  const svg = $('committee');
  svg.replaceChildren();
  Object.assign(committee, { n, twins, messages: new Map(), links: new Map() });
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const [x1, y1] = nodePosition(i, n), [x2, y2] = nodePosition(j, n);
      const line = el('line', { x1, y1, x2, y2, class: 'link' }, svg);
      // The label sits a third of the way along, clear of the clock in the middle.
      const label = el('text', { class: 'link-label', x: x1 + (x2 - x1) * 0.33, y: y1 + (y2 - y1) * 0.33 - 6 }, svg);
      committee.links.set(`${i}-${j}`, { line, label });
    }
  }
  fillLinkSelects(n);
  committee.clock = el('text', { x: 0, y: 0, class: 'clock' }, svg);
  // The split zone: a node dropped here goes to the other side of a partition, a node dragged
  // out of it comes back. It sits in the corner the circle leaves free at every committee size.
  const zone = el('g', { class: 'split-zone', id: 'split-zone' }, svg);
  committee.zoneRect = el('rect', { rx: 10 }, zone);
  committee.zoneTitle = el('text', {}, zone);
  committee.zoneTitle.textContent = 'other side';
  committee.zoneText = el('text', { class: 'members' }, zone);
  committee.zone = zone;
  // Messages are drawn under the nodes: a dot that has just left a node, or is about to reach
  // one, never hides the node from the pointer (or its name from the eye).
  committee.messageLayer = el('g', {}, svg);
  const r = n > 8 ? 30 : 44;
  committee.nodes = [];
  for (let id = 0; id < n + twins.length; id++) {
    const [x, y] = instancePosition(id, n, twins);
    const g = el('g', { class: 'node' + (id >= n ? ' twin' : ''), 'data-node': id, transform: `translate(${x},${y})` }, svg);
    // What is drawn of the node, scaled up on a small screen (see `fitText`).
    const face = el('g', { class: 'face' }, g);
    // A lesson's pointer: a ring outside the node, apart from the leader's and the selection's.
    el('circle', { class: 'focus-ring', r: r + 10 }, face);
    // The round timer: an arc that fills as the timer runs (RaftScope's timer arcs), a full
    // turn when it expires; it starts again when the node enters a round or re-arms the timer.
    const timer = el('path', { class: 'timer' }, face);
    el('circle', { class: 'body', r }, face);
    const title = el('text', { class: 'title', y: -4 }, face);
    const sub = el('text', { class: 'sub', y: 12 }, face);
    const info = el('text', { class: 'sub', y: r + 14 }, face);
    const crown = el('text', { class: 'crown', y: -r - 6 }, face);
    // Once an honest replica catches this one lying (two signed messages for one round, a
    // forgery): the proof is what marks it, not the behaviour the learner chose.
    const badge = el('text', { class: 'caught-badge', y: r + 30 }, face);
    const tip = el('title', {}, g);
    g.addEventListener('click', () => onNodeClick(id));
    // Reachable by Tab, and Enter or Space does what a click does.
    g.setAttribute('tabindex', '0');
    g.setAttribute('role', 'button');
    g.addEventListener('keydown', (e) => onKeyActivate(e, () => onNodeClick(id)));
    g.addEventListener('pointerdown', (e) => onNodePointerDown(e, id));
    committee.nodes.push({ g, face, title, sub, info, crown, badge, tip, timer, r, home: [x, y] });
  }
}

function fillLinkSelects(n) {
  for (const [id, pick] of [['link-from', 0], ['link-to', 1]]) {
    const select = $(id);
    const keep = select.value;
    select.replaceChildren(...Array.from({ length: n }, (_, i) => new Option('n' + i, String(i))));
    select.value = keep !== '' && +keep < n ? keep : String(pick);
  }
}

/// Links with extra delay (from the simulator's network model) are drawn dotted, labelled with
/// their extra milliseconds per direction.
function drawLinkDelays(delays) {
  const extra = new Map(delays.map(([from, to, ms]) => [`${from}>${to}`, ms]));
  for (const [key, { line, label }] of committee.links) {
    const [i, j] = key.split('-');
    const ab = extra.get(`${i}>${j}`), ba = extra.get(`${j}>${i}`);
    const slow = !!(ab || ba);
    const cls = 'link' + (slow ? ' slow' : '');
    if (line.getAttribute('class') !== cls) line.setAttribute('class', cls);
    const text = !slow ? '' : ab === ba ? `+${ab} ms` : [ab && `n${i}→n${j} +${ab} ms`, ba && `n${j}→n${i} +${ba} ms`].filter(Boolean).join(' · ');
    setText(label, text);
  }
}

/// The commit rule decides what a node's detail line shows: under 2-chain the lock is the
/// highest QC, so only 3-chain shows a lock of its own.
function detailLine(v, rule) {
  return (rule === 'three_chain' ? `lock ${v.locked_round} · ` : '') + `QC ${v.high_qc_round} · voted ${v.last_voted_round}`;
}

/// The arc of a node's round timer: the share of its timeout elapsed since it was armed.
function drawTimer(node, v, now) {
  const share = v.up && v.timer_ms > 0 ? Math.min(1, Math.max(0, (now - v.timer_armed_at) / v.timer_ms)) : 0;
  const R = node.r + 5;
  let d = '';
  if (share > 0) {
    const angle = 2 * Math.PI * Math.min(share, 0.9999);
    const x = R * Math.sin(angle), y = -R * Math.cos(angle);
    d = `M0,${-R} A${R},${R} 0 ${angle > Math.PI ? 1 : 0} 1 ${x.toFixed(1)},${y.toFixed(1)}`;
  }
  if (node.timer.getAttribute('d') !== d) node.timer.setAttribute('d', d);
  const cls = 'timer' + (share > 0.75 ? ' late' : '');
  if (node.timer.getAttribute('class') !== cls) node.timer.setAttribute('class', cls);
}

/// What each label on a node means (its tooltip; the Learn dialog has the same glossary).
function nodeTip(v, rule, lie) {
  return `${instanceName(v)}${v.twin ? ' (a twin: a second instance with the same key)' : ''}${v.up ? '' : ', down'}\n` +
    (lie ? `Caught lying, ${lie}\n` : '') +
    `r${v.round}: the round it is in (its leader: n${v.leader})\n` +
    `h${v.committed_height}: the height of the last block it committed\n` +
    (rule === 'three_chain' ? `lock ${v.locked_round}: it votes only for blocks whose QC is at least this round\n` : '') +
    `QC ${v.high_qc_round}: the highest round it has seen certified (its high QC)\n` +
    `voted ${v.last_voted_round}: the last round it voted or timed out in (it never votes there or below again)\n` +
    (v.up && v.timer_ms ? `the arc: its round timer (${v.timer_ms} ms); when it closes, the node gives up on the round\n` : '') +
    'Click to inspect, crash or restart it; drag it to the other side to split the network.';
}

/// `caught`: the replicas honest ones caught lying, `[{node, what}]` (see `WebSim::caught`).
export function drawCommittee(views, messages, now, groups, settings, caught = []) {
  const n = settings.nodes;
  const key = `${n}/${settings.twins.join(',')}`;
  if (committee.key !== key) { committee.key = key; layout(n, settings.twins); fitText(); }
  drawLinkDelays(settings.link_delays);
  setText(committee.clock, `t = ${(now / 1000).toFixed(3)} s`);
  const sides = view.splitting || groups;
  const split = new Set(sides).size > 1;
  // Group 0 is the main side (the circle), any other group the split zone's side.
  const away = split ? views.map((v, i) => i).filter((i) => sides[i] !== 0) : [];
  setText(committee.zoneText, away.length ? away.map((i) => instanceName(views[i])).join(' ') : 'drag a node here');
  const zoneCls = 'split-zone' + (away.length ? ' used' : '') + (drag.active && drag.inZone ? ' hot' : '');
  if (committee.zone.getAttribute('class') !== zoneCls) committee.zone.setAttribute('class', zoneCls);
  // One leader mark: the leader of the highest round a live replica is in, as that replica
  // sees it, shown even when it is down (replicas a round behind would each mark their own).
  const ahead = views.filter((v) => v.up).reduce((a, v) => (!a || v.round > a.round ? v : a), null);
  views.forEach((v, index) => {
    const node = committee.nodes[index];
    const leads = ahead !== null && !v.twin && v.id === ahead.leader;
    const classes = ['node'];
    if (v.twin) classes.push('twin');
    // Byzantine by the run's settings: a chosen behaviour, or a key run twice (twins).
    if (!v.twin && (settings.behaviours[v.id] || settings.twins.includes(v.id))) classes.push('byzantine');
    if (leads && v.up) classes.push('leader');
    if (!v.up) classes.push('down');
    const lie = caught.find((c) => c.node === v.id)?.what;
    if (lie) classes.push('caught');
    if (view.selected && view.selected.node === index) classes.push('selected');
    if (view.focus && !v.twin && view.focus.nodes.includes(v.id)) classes.push('focus');
    if (split) classes.push('side' + (sides[index] === 0 ? 1 : 2));
    if (drag.active && drag.id === index) classes.push('dragging');
    const cls = classes.join(' ');
    if (node.g.getAttribute('class') !== cls) node.g.setAttribute('class', cls);
    setText(node.title, instanceName(v) + (v.up ? '' : ' (down)'));
    const label = `${instanceName(v)}${v.up ? '' : ', down'}, round ${v.round}, committed height ${v.committed_height}${lie ? ', caught lying' : ''}`;
    if (node.g.getAttribute('aria-label') !== label) node.g.setAttribute('aria-label', label);
    setText(node.sub, `r${v.round} · h${v.committed_height}`);
    // Above eight nodes the detail line would collide with the neighbours; the inspector has it.
    setText(node.info, n > 8 ? '' : detailLine(v, settings.commit_rule));
    setText(node.crown, !leads ? '' : v.up ? `leads round ${ahead.round}` : `should lead round ${ahead.round}`);
    setText(node.badge, lie ? 'caught lying' : '');
    setText(node.tip, nodeTip(v, settings.commit_rule, lie));
    drawTimer(node, v, now);
  });
  const seen = new Set();
  // Above eight nodes the n² mempool batches would be most of the dots (and of the drawing
  // work per frame): leave them out, as the space-time diagram does; the consensus messages
  // are what the picture is about.
  const batches = n <= 8;
  for (const m of messages) {
    if (!batches && (m.kind === 'batch' || m.kind === 'batch-request')) continue;
    seen.add(m.id);
    let dot = committee.messages.get(m.id);
    if (!dot) {
      dot = el('path', { d: messageShape(m.kind), 'data-message': m.id }, committee.messageLayer);
      const select = () => { view.selected = { message: m.id }; redraw(); };
      dot.addEventListener('click', (e) => { e.stopPropagation(); select(); });
      dot.setAttribute('tabindex', '0');
      dot.setAttribute('role', 'button');
      dot.setAttribute('aria-label', `${m.kind} message from n${m.from} to n${m.to}, round ${m.round}`);
      dot.addEventListener('keydown', (e) => onKeyActivate(e, select));
      committee.messages.set(m.id, dot);
    }
    const [x1, y1] = instancePosition(m.from_instance, n, settings.twins), [x2, y2] = instancePosition(m.to_instance, n, settings.twins);
    const f = Math.min(1, Math.max(0, (now - m.sent) / Math.max(1, m.arrives - m.sent)));
    dot.setAttribute('transform', `translate(${x1 + (x2 - x1) * f},${y1 + (y2 - y1) * f})`);
    const cls = `msg ${m.kind}` + (view.selected && view.selected.message === m.id ? ' selected' : '');
    if (dot.getAttribute('class') !== cls) dot.setAttribute('class', cls);
  }
  for (const [id, dot] of committee.messages) {
    if (!seen.has(id)) { dot.remove(); committee.messages.delete(id); }
  }
}

/// Sides (one group number per instance) as the partition intervention's groups; `null` when
/// everyone is on one side.
export function partitionOf(sides) {
  const groups = new Map();
  sides.forEach((side, instance) => { if (!groups.has(side)) groups.set(side, []); groups.get(side).push(instance); });
  return groups.size > 1 ? [...groups.values()] : null;
}

export function splitBy(sides) {
  const groups = partitionOf(sides);
  // Nothing moved and nothing split: no intervention (it would count in a challenge, and do
  // nothing).
  if (!groups && new Set(run.sim.groups()).size <= 1) { notice('No node was moved to the other side: nothing to split.'); return false; }
  return intervene(groups ? { kind: 'partition', groups } : { kind: 'heal' });
}

// ---------------------------------------------------------------------------------------------
// Dragging a node into the split zone moves it to the other side of a partition; dragging it
// out again brings it back. Each drop is one partition intervention (or heal once every node is
// back on the main side), so it is in the share link and replays like the Split… button's.
// While Split… is active, a drop only edits the pending split, as a click does.

const drag = { active: false, id: null, pointer: null, start: null, inZone: false, justDragged: false };

function svgPoint(e) {
  const svg = $('committee');
  const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return [p.x, p.y];
}

/// The split zone as drawn: wider with the text, about its bottom right corner, and less
/// taller (its two lines need less height than a drop target has; a full scale would reach the
/// node above it).
function zoneRect() {
  const k = committee.scale, right = ZONE.x + ZONE.w, bottom = ZONE.y + ZONE.h;
  const w = ZONE.w * k, h = ZONE.h * Math.min(k, 1.3);
  return { x: right - w, y: bottom - h, w, h };
}
const inZone = ([x, y]) => {
  const z = zoneRect();
  return x >= z.x && x <= z.x + z.w && y >= z.y && y <= z.y + z.h;
};

/// On a small screen the drawing shrinks with the window, and its text with it: below 11 px
/// it cannot be read. Scale each node's face, the split zone and the labels back up so that
/// the smallest text (11 SVG units) is at least 11 px on the screen. (Up to 2.2 times: on a
/// phone in portrait the nodes grow into the room the circle leaves.)
function fitText() {
  const ctm = $('committee').getScreenCTM();
  if (!ctm || !ctm.a) return;
  const k = Math.min(2.2, Math.max(1, 1 / ctm.a));
  committee.scale = k;
  const face = k === 1 ? '' : `scale(${k.toFixed(3)})`;
  for (const node of committee.nodes) node.face.setAttribute('transform', face);
  const z = zoneRect();
  Object.entries({ x: z.x, y: z.y, width: z.w, height: z.h }).forEach(([a, v]) => committee.zoneRect.setAttribute(a, v));
  for (const [text, dy] of [[committee.zoneTitle, 18], [committee.zoneText, 40]]) {
    text.setAttribute('x', z.x + z.w / 2);
    text.setAttribute('y', z.y + dy * Math.min(k, 1.3) + (k > 1.3 ? 6 : 0));
  }
  $('committee').style.setProperty('--svg-text', k.toFixed(3));
}

function onNodePointerDown(e, id) {
  if (e.button !== 0) return;
  Object.assign(drag, { id, start: [e.clientX, e.clientY], active: false, pointer: e.pointerId });
}

function onPointerMove(e) {
  if (drag.id === null || e.pointerId !== drag.pointer) return;
  if (!drag.active) {
    if (Math.hypot(e.clientX - drag.start[0], e.clientY - drag.start[1]) < DRAG_START_PX) return;
    drag.active = true;
  }
  const node = committee.nodes[drag.id];
  if (!node) { drag.id = null; drag.active = false; return; }
  const [x, y] = svgPoint(e);
  node.g.setAttribute('transform', `translate(${x},${y})`);
  drag.inZone = inZone([x, y]);
  e.preventDefault();
}

function onPointerUp(e) {
  if (drag.id === null || e.pointerId !== drag.pointer) return;
  const id = drag.id, wasDrag = drag.active;
  drag.id = null;
  drag.active = false;
  if (!wasDrag) return;                              // a plain click: the click handler has it
  drag.justDragged = true;                           // swallow the click that follows this drop
  setTimeout(() => { drag.justDragged = false; }, 0);
  const node = committee.nodes[id];
  if (node) node.g.setAttribute('transform', `translate(${node.home[0]},${node.home[1]})`);
  const side = inZone(svgPoint(e)) ? 1 : 0;
  drag.inZone = false;
  if (view.splitting) {
    view.splitting[id] = side;
    redraw();
    return;
  }
  const sides = Array.from(run.sim.groups(), (g) => (g === 0 ? 0 : 1));
  if (sides[id] === side) { redraw(); return; }
  sides[id] = side;
  splitBy(sides);
}

function onNodeClick(id) {
  if (drag.justDragged) return;
  if (view.splitting) {
    view.splitting[id] = view.splitting[id] ? 0 : 1;
    redraw();
    return;
  }
  view.selected = { node: id };
  if (id < committee.n) {
    $('link-from').value = String(id);
    // A link from a node to itself is no link: point the other end at the next node.
    if ($('link-to').value === String(id)) $('link-to').value = String((id + 1) % committee.n);
  }
  redraw();
}

export function wireCommittee() {
  // (A layout read: on a resize, not every frame.)
  window.addEventListener('resize', fitText);
  window.addEventListener('pointermove', onPointerMove);
  window.addEventListener('pointerup', onPointerUp);
  window.addEventListener('pointercancel', (e) => {
    if (drag.id === null || e.pointerId !== drag.pointer) return;
    const node = committee.nodes[drag.id];
    if (node) node.g.setAttribute('transform', `translate(${node.home[0]},${node.home[1]})`);
    Object.assign(drag, { id: null, active: false, inZone: false });
  });
  $('committee').addEventListener('click', (e) => { if (e.target === $('committee')) { view.selected = null; redraw(); } });
}
