// The panels beside the committee: narration, block tree, space-time diagram, inside-a-node,
// run figures, inspector and safety checks. Each draws what WebSim hands it; none keeps a copy
// of the run's state.

import { SVG, $, el, onKeyActivate, setText, view, catalogue } from './dom.js';
import { run, intervene, seek } from './run.js';
import { instanceName } from './committee.js';

const LOG_LINES_MAX = 1500;
const LOG_KEPT_MAX = 6000;       // narrated events kept, for the "every event" box
export const LAMPORT_WINDOW_MS = 500;   // simulated time shown by the space-time diagram (~10 rounds)

// ---------------------------------------------------------------------------------------------
// Narration. Each line carries the step and time it belongs to (from Rust): a click goes there.
// After a rewind the lines after the current point stay, dimmed: the recorded future, which the
// run plays again unless the learner intervenes (then Rust says where to cut them).

const narration = { events: [], markedAt: '' };

export function resetLog() {
  narration.events = [];
  narration.markedAt = '';
  $('log').replaceChildren();
}

/// Whether the point (step, time) is after (atStep, atTime). Points, not steps: an intervention
/// recorded by time is narrated at the step of the event before it, at a later time.
const after = (step, time, atStep, atTime) => step > atStep || (step === atStep && time > atTime);
const liAfter = (li, atStep, atTime) => after(+li.dataset.step, +li.dataset.time, atStep, atTime);

/// Drops the lines after the point `[step, time]` (an intervention forked the run there).
function cutLog([step, time]) {
  const events = narration.events;
  while (events.length && after(events[events.length - 1].step, events[events.length - 1].time, step, time)) events.pop();
  const list = $('log');
  while (list.lastElementChild && liAfter(list.lastElementChild, step, time)) list.lastElementChild.remove();
}

/// Marks the lines after the current point as the recorded future (lines are in point order).
function markFuture() {
  const [step, time] = [run.sim.steps(), run.sim.now()];
  const key = step + ':' + time;
  if (key === narration.markedAt) return;
  narration.markedAt = key;
  const list = $('log');
  for (const li of list.querySelectorAll('li.future')) if (!liAfter(li, step, time)) li.classList.remove('future');
  for (let li = list.lastElementChild; li && liAfter(li, step, time); li = li.previousElementSibling) li.classList.add('future');
}

function line(e) {
  const li = document.createElement('li');
  li.className = e.kind;
  // Reachable by Tab; Enter goes there, as a click does.
  li.tabIndex = 0;
  li.dataset.step = e.step;
  li.dataset.time = e.time;
  const t = document.createElement('span');
  t.className = 't';
  t.textContent = (e.time / 1000).toFixed(3) + 's';
  li.append(t, e.text);
  return li;
}

/// Whether the narration is scrolled to (about) its newest line: new lines then keep it there.
const atBottom = (box) => box.scrollTop + box.clientHeight >= box.scrollHeight - 30;

function append(events) {
  const all = $('all-events').checked;
  const list = $('log');
  const fragment = document.createDocumentFragment();
  for (const e of events) if (e.major || all) fragment.append(line(e));
  const box = list.parentElement;
  const stick = atBottom(box);
  const added = fragment.childElementCount;
  list.append(fragment);
  while (list.children.length > LOG_LINES_MAX) list.firstChild.remove();
  if (stick) box.scrollTop = box.scrollHeight;
  // Scrolled up (a click on a line, a look back): the new lines land out of sight; say so.
  else if (added) $('log-latest').hidden = false;
}

export function drainEvents() {
  const cut = run.sim.take_narration_cut();
  if (cut !== undefined) cutLog(cut);
  const events = run.sim.take_events();
  if (events.length) {
    narration.events.push(...events);
    if (narration.events.length > LOG_KEPT_MAX) narration.events.splice(0, narration.events.length - LOG_KEPT_MAX);
    append(events);
  }
  markFuture();
}

export function wireLog() {
  const box = $('log').parentElement;
  $('log-latest').addEventListener('click', () => { box.scrollTop = box.scrollHeight; $('log-latest').hidden = true; });
  box.addEventListener('scroll', () => {
    if (atBottom(box)) $('log-latest').hidden = true;
  });
  const goTo = (li) => { run.playing = false; seek(+li.dataset.step, +li.dataset.time); };
  $('log').addEventListener('click', (e) => {
    const li = e.target.closest('li');
    if (li) goTo(li);
  });
  $('log').addEventListener('keydown', (e) => {
    const li = e.target.closest('li');
    if (li) onKeyActivate(e, () => goTo(li));
  });
  // Showing or hiding the detail lines redraws the narration; the run is left alone.
  $('all-events').addEventListener('change', () => {
    $('log').replaceChildren();
    append(narration.events);
    narration.markedAt = '';
    markFuture();
  });
}

// ---------------------------------------------------------------------------------------------
// Block tree and space-time diagram.

/// The sizes of the rebuilt SVG panels, kept up to date by a ResizeObserver: reading
/// `clientWidth` right after this frame's DOM changes would force a synchronous layout, which
/// was most of the space-time diagram's cost.
const panelSize = new Map();
function sizeOf(svg, width, height) {
  if (!panelSize.has(svg.id)) {
    panelSize.set(svg.id, [svg.clientWidth || width, svg.clientHeight || height]);
    new ResizeObserver(([entry]) => panelSize.set(svg.id, [entry.contentRect.width || width, entry.contentRect.height || height])).observe(svg);
  }
  return panelSize.get(svg.id);
}

export function drawTree(blocks) {
  const svg = $('tree');
  svg.replaceChildren();
  if (!blocks.length) return;
  const [width] = sizeOf(svg, 800, 148);
  const maxHeight = Math.max(...blocks.map((b) => b.height));
  const columns = Math.max(4, Math.floor(width / 70));
  const minHeight = Math.max(1, maxHeight - columns + 1);
  const shown = blocks.filter((b) => b.height >= minHeight);
  const lanes = new Map();
  const position = new Map();
  shown.sort((a, b) => a.height - b.height || a.round - b.round);
  for (const b of shown) {
    const lane = lanes.get(b.height) || 0;
    lanes.set(b.height, lane + 1);
    position.set(b.digest, [30 + (b.height - minHeight) * 70, 30 + lane * 42]);
  }
  for (const b of shown) {
    const to = position.get(b.digest), from = position.get(b.parent);
    if (from) el('path', { class: 'tree-edge', d: `M${from[0] + 26},${from[1]} L${to[0] - 26},${to[1]}` }, svg);
  }
  for (const b of shown) {
    const [x, y] = position.get(b.digest);
    const focus = view.focus && view.focus.digest === b.digest ? ' focus' : '';
    const g = el('g', { class: 'tree-block' + (b.certified ? ' certified' : '') + (b.committed ? ' committed' : '') + focus, transform: `translate(${x},${y})` }, svg);
    el('rect', { x: -27, y: -15, width: 54, height: 31, rx: 5 }, g);
    el('text', { y: -1 }, g).textContent = `B${b.round}` + (b.tc_round !== null ? ' +TC' : '');
    el('text', { y: 11, class: 'sub' }, g).textContent = `h${b.height} · n${b.author}`;
    const title = el('title', {}, g);
    title.textContent = `block ${b.digest}, round ${b.round}, height ${b.height}, by node ${b.author}, QC round ${b.qc_round}` +
      (b.tc_round !== null ? `, TC round ${b.tc_round}` : '') + `, ${b.batches} batch(es). Click: back to when it was proposed.`;
    g.addEventListener('click', () => { run.playing = false; seek(b.step, b.time); });
  }
}

/// Space-time diagram: time runs left to right over the last LAMPORT_WINDOW_MS, one lane per
/// node; each message is a line from (sent, sender) to (arrival, receiver). A lost message stops
/// halfway, dashed. Mempool batches are left out: they would hide the consensus messages.
export function drawLamport(messages, n, now) {
  const svg = $('lamport');
  svg.replaceChildren();
  const [width, height] = sizeOf(svg, 400, 160);
  const left = 28, right = 8, top = 8, bottom = 8;
  const x = (t) => left + ((t - (now - LAMPORT_WINDOW_MS)) / LAMPORT_WINDOW_MS) * (width - left - right);
  const y = (node) => top + (n === 1 ? 0 : (node / (n - 1)) * (height - top - bottom));
  for (let i = 0; i < n; i++) {
    el('line', { class: 'lane', x1: left, x2: width - right, y1: y(i), y2: y(i) }, svg);
    el('text', { class: 'lane-label', x: 2, y: y(i) + 3 }, svg).textContent = 'n' + i;
  }
  for (const m of messages) {
    if (m.kind === 'batch' || m.kind === 'batch-request') continue;
    const lost = m.arrives === null;
    const end = lost ? m.sent + 0.5 * (now - m.sent) : Math.min(m.arrives, now);
    const f = lost ? 0.5 : (end - m.sent) / Math.max(1, m.arrives - m.sent);
    el('line', {
      class: `lm ${m.kind}` + (lost ? ' lost' : ''),
      x1: x(m.sent), y1: y(m.from), x2: x(end), y2: y(m.from) + (y(m.to) - y(m.from)) * f,
    }, svg);
  }
  el('line', { class: 'now-line', x1: x(now), x2: x(now), y1: 0, y2: height }, svg);
}

// ---------------------------------------------------------------------------------------------
// Inside a node: its actors (core/src/actor) and the channels between them, laid out like the
// architecture picture in README. The numbers come from the counted channels of the actor
// shells (WebSim::channel_depths): items queued now, the most queued since the last refresh,
// and the items through so far. The simulator lets every actor run until all wait after each
// event, in zero virtual time, so between two refreshes the queues are nearly always empty
// again: the "max" figure is what shows a burst (a broadcast, a batch of store writes).

const ACTORS = {
  client: { x: 38, y: 28, w: 60, h: 24, label: 'client', host: true, title: 'Clients (the host): transactions in' },
  mempool: { x: 150, y: 28, w: 84, h: 28, label: 'mempool', title: 'Mempool actor: batches transactions, makes payloads available' },
  consensus: { x: 318, y: 28, w: 96, h: 28, label: 'consensus', title: 'Consensus actor: the HotStuff state machine' },
  mtimer: { x: 40, y: 100, w: 64, h: 24, label: 'timer', title: 'Mempool timer actor (batch sealing, re-requests)' },
  store: { x: 236, y: 100, w: 64, h: 24, label: 'store', title: 'Store actor: writes (safety state, blocks, batches) and reads' },
  ctimer: { x: 362, y: 100, w: 60, h: 24, label: 'timer', title: 'Consensus timer actor (round timeout, proposal delay, sync)' },
  peers: { x: 52, y: 172, w: 76, h: 24, label: 'peers', host: true, title: 'The other replicas (the host transport)' },
  network: { x: 236, y: 172, w: 92, h: 28, label: 'network', title: 'Network actor: encodes, decodes and dispatches messages' },
};

// [channel, from, to, lane]: lane offsets the two directions of a pair side by side.
const CHANNELS = [
  ['client_to_mempool', 'client', 'mempool', 0],
  ['mempool_to_consensus', 'mempool', 'consensus', -1], ['consensus_to_mempool', 'consensus', 'mempool', 1],
  ['mempool_to_timer', 'mempool', 'mtimer', -1], ['timer_to_mempool', 'mtimer', 'mempool', 1],
  ['consensus_to_timer', 'consensus', 'ctimer', 1], ['timer_to_consensus', 'ctimer', 'consensus', -1],
  ['to_store', 'consensus', 'store', 0], ['to_store#mempool', 'mempool', 'store', 0],
  ['consensus_to_network', 'consensus', 'network', -1], ['network_to_consensus', 'network', 'consensus', 1],
  ['mempool_to_network', 'mempool', 'network', 1], ['network_to_mempool', 'network', 'mempool', -1],
  ['network_to_host', 'network', 'peers', -1], ['host_to_network', 'peers', 'network', 1],
];

const inside = { built: false, arrows: new Map(), labels: new Map(), totals: new Map(), node: null };

/// Where the segment from a box's centre towards (dx, dy) leaves the box.
function boxEdge(box, dx, dy, gap) {
  const t = Math.min((box.w / 2 + gap) / Math.abs(dx || 1e-9), (box.h / 2 + gap) / Math.abs(dy || 1e-9));
  return [box.x + dx * t, box.y + dy * t];
}

function buildInside() {
  const svg = $('inside');
  svg.replaceChildren();
  const defs = el('defs', {}, svg);
  const marker = el('marker', { id: 'inside-arrow', viewBox: '0 0 8 8', refX: 7, refY: 4, markerWidth: 6, markerHeight: 6, orient: 'auto' }, defs);
  el('path', { d: 'M0,0 L8,4 L0,8 z' }, marker);
  for (const [name, from, to, lane] of CHANNELS) {
    const a = ACTORS[from], b = ACTORS[to];
    const dx = b.x - a.x, dy = b.y - a.y, len = Math.hypot(dx, dy);
    // Unit normal of the pair's canonical direction, so both directions agree on the sides.
    const flip = from < to ? 1 : -1;
    const nx = (-dy / len) * flip, ny = (dx / len) * flip;
    const off = lane * 5;
    const [x1, y1] = boxEdge(a, dx, dy, 2), [x2, y2] = boxEdge(b, -dx, -dy, 4);
    const line = el('line', { class: 'ch', x1: x1 + nx * off, y1: y1 + ny * off, x2: x2 + nx * off, y2: y2 + ny * off }, svg);
    const title = el('title', {}, line);
    inside.arrows.set(name, { line, title });
    if (name.includes('#')) continue;                  // the store's queue is labelled once
    const side = lane === 0 ? -1 : lane;
    // The store's one queue (fed by consensus and the mempool) is labelled under the store.
    const [mx, my] = name === 'to_store' ? [b.x, b.y + b.h / 2 + 14]
      : [(x1 + x2) / 2 + nx * side * 12, (y1 + y2) / 2 + ny * side * 12 + 4];
    const label = el('text', { class: 'depth', x: mx, y: my, 'data-channel': name }, svg);
    inside.labels.set(name, label);
  }
  for (const [id, a] of Object.entries(ACTORS)) {
    const g = el('g', { class: 'actor' + (a.host ? ' host' : ''), 'data-actor': id, transform: `translate(${a.x},${a.y})` }, svg);
    el('rect', { x: -a.w / 2, y: -a.h / 2, width: a.w, height: a.h, rx: 5 }, g);
    el('text', { y: 1 }, g).textContent = a.label;
    el('title', {}, g).textContent = a.title;
  }
  inside.built = true;
}

const compact = (x) => (x >= 10_000 ? (x / 1000).toFixed(0) + 'k' : x >= 1000 ? (x / 1000).toFixed(1) + 'k' : String(x));

export function drawInside(views) {
  if (!inside.built) buildInside();
  const id = view.selected && view.selected.node !== undefined ? view.selected.node : 0;
  const shown = views[id];
  if (inside.node !== id) { inside.node = id; inside.totals.clear(); }
  setText($('inside-title'), `n${id}` + (shown && !shown.up ? ' (crashed: its actors are stopped)' : ''));
  $('inside').classList.toggle('down', !!shown && !shown.up);
  const depths = run.sim.channel_depths(id);
  const byName = new Map(depths.map((d) => [d.channel, d]));
  for (const [name, { line, title }] of inside.arrows) {
    const d = byName.get(name.split('#')[0]);
    if (!d) continue;
    const before = inside.totals.get(name);
    inside.totals.set(name, d.total);
    const cls = 'ch' + (d.depth > 0 ? ' queued' : before !== undefined && d.total > before ? ' busy' : '');
    if (line.getAttribute('class') !== cls) line.setAttribute('class', cls);
    setText(title, `${d.from} → ${d.to}: ` + (d.depth === null ? '' : `${d.depth} queued, at most ${d.peak} since the last refresh, `) +
      `${d.total} items through (capacity ${d.capacity})`);
    const label = inside.labels.get(name);
    if (!label) continue;
    label.dataset.depth = d.depth === null ? '' : d.depth;
    label.dataset.total = d.total;
    label.setAttribute('class', 'depth' + (d.depth > 0 ? ' queued' : ''));
    const head = d.depth === null ? '' : String(d.depth);
    const more = d.depth === null ? `${compact(d.total)} in all` : d.peak > d.depth ? ` ↑${d.peak}` : '';
    if (label.textContent !== head + more) {
      const tspan = document.createElementNS(SVG, 'tspan');
      tspan.setAttribute('class', 'more');
      tspan.textContent = more;
      label.replaceChildren(head, tspan);
    }
  }
}

export function drawStats(views, stats) {
  const rows = [
    ['Round (max)', Math.max(...views.map((v) => v.round))],
    ['Committed height (min live)', Math.min(...views.filter((v) => v.up).map((v) => v.committed_height), Infinity)],
    ['QCs / TCs', `${stats.qcs} / ${stats.tcs}`],
    ['Timeouts', stats.timeouts],
    ['Messages sent / lost', `${stats.messages_sent} / ${stats.messages_dropped}`],
    ['Simulator steps', stats.steps],
  ];
  $('stats').replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v === Infinity ? '–' : v;
    return [dt, dd];
  }));
}

// The inspector's controls (buttons, the behaviour select) are rebuilt only when the selection
// changes; otherwise only the figures are refreshed, so that a click or an open select is never
// destroyed under the pointer.
let inspectorKey = null;

export function drawInspector(views, messages, settings) {
  const body = $('inspector-body');
  const sel = view.selected;
  const dl = (rows) => {
    const d = document.createElement('dl');
    for (const [k, v] of rows) {
      const dt = document.createElement('dt'); dt.textContent = k;
      const dd = document.createElement('dd'); dd.textContent = v;
      d.append(dt, dd);
    }
    return d;
  };
  const button = (label, id, onClick) => {
    const b = document.createElement('button'); b.textContent = label; b.id = id;
    b.addEventListener('click', onClick); return b;
  };
  const note = (text) => Object.assign(document.createElement('p'), { className: 'muted', textContent: text });
  let key, rows = null, controls = () => [];
  if (sel && sel.node !== undefined && views[sel.node]) {
    const v = views[sel.node];
    const behaviour = v.twin || settings.twins.includes(v.id) ? 'twin (same key on two instances)' : settings.behaviours[v.id] || 'honest';
    key = `node ${sel.node} ${v.up} ${behaviour}`;
    rows = [
      ['Node', instanceName(v) + (v.twin ? ` (twin of n${v.id}: same key, Byzantine)` : '') + (v.up ? '' : ' (crashed)')], ['Round', v.round], ['Leader of round', `n${v.leader}`],
      ['Last voted or timed-out round', v.last_voted_round],
      // Under 2-chain the lock is the high QC and votes check none: shown only under 3-chain.
      ...(settings.commit_rule === 'three_chain' ? [['Locked round', v.locked_round]] : []),
      ['High QC round', v.high_qc_round],
      ['Committed', `height ${v.committed_height} (round ${v.committed_round})`],
      ['Timeouts sent', v.timeouts_sent], ['Proposals', v.proposals], ['Restarts', v.restarts],
      ['Behaviour', behaviour.replaceAll('_', ' ')],
    ];
    // Crash and restart address an instance; behaviours are per node (not twins).
    controls = () => [
      ...(v.up ? [button('Crash node', 'crash', () => intervene({ kind: 'crash', node: sel.node }))]
        : [button('Restart node', 'restart', () => intervene({ kind: 'restart', node: sel.node })),
          // Break it: the unsafe disk of the crash-recovery lesson.
          button('Restart, forgetting its last vote (unsafe disk)', 'restart-forgetting',
            () => intervene({ kind: 'restart_forgetting', node: sel.node }))]),
      ...(v.twin || settings.twins.includes(v.id) ? [] : [behaviourPicker(v.id, settings.behaviours[v.id])]),
    ];
  } else if (sel && sel.message !== undefined) {
    const m = messages.find((x) => x.id === sel.message);
    key = `message ${sel.message} ${!!m}`;
    if (m) {
      rows = [
        ['Message', `#${m.id}`], ['Kind', m.kind], ['Round', m.round], ['From → to', `n${m.from} → n${m.to}`],
        ['Sent / arrives', `${(m.sent / 1000).toFixed(3)} s / ${(m.arrives / 1000).toFixed(3)} s`],
        ['Signature', signatureStatus(m.id)],
      ];
      controls = () => [button('Drop message', 'drop-message', () => { view.selected = null; intervene({ kind: 'drop_message', id: m.id }); })];
    } else {
      controls = () => [note(`Message ${sel.message} has arrived (or was lost).`)];
    }
  } else {
    key = 'none';
    controls = () => [note('Select a node or a message.')];
  }
  if (key !== inspectorKey) {
    inspectorKey = key;
    body.replaceChildren(...(rows ? [dl(rows)] : []), ...controls());
  } else if (rows) {
    body.querySelector('dl').replaceWith(dl(rows));
  }
}

/// What the receiver's verification will say of a message in flight: the wasm side decodes the
/// frame and runs the core's own `verify` against the committee (WebSim::signature_status). A
/// message's bytes never change, so each answer is kept until the message is gone.
const signatureCache = new Map();
export function forgetSignatures() { signatureCache.clear(); }   // ids are per run
function signatureStatus(id) {
  if (!signatureCache.has(id)) {
    if (signatureCache.size > 200) signatureCache.clear();
    const status = run.sim.signature_status(id);
    if (status === 'gone') return 'gone (it arrived or was lost)';
    signatureCache.set(id, status);
  }
  const status = signatureCache.get(id);
  if (status === 'valid') return '✓ valid (the core\'s verify accepts it)';
  if (status.startsWith('unsigned')) return status + ': a batch is vouched for by the digest in a signed block';
  return '✗ ' + status + ' (the receiver will reject it)';
}

/// A select that switches a node between honest and the Byzantine behaviours the core defines.
/// With f of them the safety panel stays green.
function behaviourPicker(id, current) {
  const label = document.createElement('label');
  label.textContent = ' Behaviour ';
  const select = document.createElement('select');
  select.id = 'behaviour';
  select.append(new Option('honest', ''));
  for (const b of catalogue.behaviours) {
    const option = new Option(b.name.replaceAll('_', ' '), b.name);
    option.title = b.title;
    select.append(option);
  }
  select.value = current || '';
  select.addEventListener('change', () => intervene({ kind: 'behaviour', node: id, behaviour: select.value || null }));
  label.append(select);
  return label;
}

export function buildSafety() {
  const list = $('safety-list');
  list.replaceChildren(...catalogue.invariants.map((inv) => {
    const li = document.createElement('li');
    li.dataset.inv = inv.name;
    li.textContent = inv.title[0].toUpperCase() + inv.title.slice(1);
    return li;
  }));
}

/// The safety panel: the core reports which invariant broke by name; that one is crossed out.
export function drawSafety(violation, settings) {
  const broken = violation !== null;
  $('safety').classList.toggle('broken', broken);
  setText($('safety-state'), broken ? 'VIOLATED' : 'holding');
  $('safety-state').className = broken ? 'bad' : 'ok';
  $('violation').hidden = !broken;
  if (broken) setText($('violation'), violation.report + '\n\n(– : not checked: the run stops at the first violation.)');
  // The run stops at the first violation: the other checks saw nothing after it, so they show
  // no tick (a fork may already be visible in the narration that they never got to judge).
  for (const li of $('safety-list').querySelectorAll('li')) {
    const violated = broken && li.dataset.inv === violation.invariant;
    li.classList.toggle('violated', violated);
    li.classList.toggle('unchecked', broken && !violated);
    const title = broken && !violated ? 'not checked after the run stopped at the first violation' : '';
    if (li.title !== title) li.title = title;
  }
  const preset = catalogue.presets.find((p) => p.key === settings.preset);
  const note = preset ? preset.note : settings.twins.length ? `Twins: ${settings.twins.map((t) => 'n' + t).join(', ')} run twice with one key.` : '';
  $('scenario-note').hidden = !note;
  setText($('scenario-note'), note);
}
