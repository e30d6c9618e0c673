// hotstuff-scope page. The protocol runs in wasm (WebSim, built from the Rust core); this file
// only draws what the simulator reports and forwards the learner's interventions to it.
//
// Rewind works by deterministic replay: a run is its seed, its settings and the list of
// interventions, each stamped with the simulator step and time at which it was made. Replaying
// them into a fresh simulator reproduces the run exactly, so scrubbing back and forth, clicking a
// narration line and opening a shared link all rebuild the same state. An intervention made after
// rewinding drops the recorded future: the run forks from there.

import init, { WebSim, random_seed } from './pkg/hotstuff_web.js';

const SVG = 'http://www.w3.org/2000/svg';
const RADIUS = 220;              // committee circle, in SVG units
const FRAME_BUDGET_MS = 4;       // simulator work per animation frame
const STEPS_PER_SLICE = 1;       // steps between two clock checks (a step can verify a QC, ~1 ms at 16 nodes)
const LOG_LINES_MAX = 1500;
const LAMPORT_WINDOW_MS = 500;   // simulated time shown by the space-time diagram (~10 rounds)

const ZONE = { x: 192, y: 196, w: 134, h: 100 };  // the split zone, bottom right of the committee SVG
const DRAG_START_PX = 6;         // pointer travel that turns a press on a node into a drag

const $ = (id) => document.getElementById(id);
const BEHAVIOURS = ['honest', 'silent', 'equivocator', 'double voter', 'stale replayer', 'forger'];
const state = {
  seed: 1, nodes: 4, rule: 2, dropPpm: 0,
  interventions: [],             // {s: step, t: time ms, op, arg}
  sim: null, playing: true, speed: 0.03, lastFrame: null,
  maxTime: 0, selected: null, splitting: null, firstFrameAt: null,
  frameWork: [],                 // ms of work in each of the last frames (simulate + draw)
  simWork: [],                   // ms of simulation in each of the last frames
  frames: 0,
  log: [],                       // narrated events kept for the log panel
  behaviour: {},                 // node -> index in BEHAVIOURS (absent: honest)
  linkDelay: {},                 // "from>to" -> extra ms on that directed link (absent: none)
  twins: [],                     // nodes that run a second instance (Twins): instance n + k is twins[k]'s
};

/// Scenario presets: the Byzantine bound made visible. A twin is a second instance of a node
/// with the same key (the Twins method, arXiv 2004.10617), so a twinned node equivocates and
/// double-votes without any special code: it is Byzantine. The split puts one instance of each
/// twinned node on each side. With n = 4, f = 1 and quorums of 3: one twin (f) cannot give both
/// sides a quorum, so safety holds (the side without a quorum just stalls); two twins (f + 1)
/// make {n0, n1, n2} and {n0′, n1′, n3} both quorums, and the honest n2 and n3 commit different
/// blocks at height 1 after about 3.2 s of simulated time (tests/tests/byzantine.rs checks both).
/// The page's Byzantine behaviours alone do not do it: a search over every pair of them on two
/// of four nodes, with and without a split, found no violation, because each behaviour keeps
/// one honest core and cannot act as two replicas.
const SCENARIOS = {
  'f-twin': {
    twins: [0], groups: [0, 0, 0, 1, 1],
    note: 'f = 1 Byzantine node: n0 runs twice with one key (n0 and n0′, one on each side of a split). ' +
      '{n0, n1, n2} is a quorum of 3; {n0′, n3} is not. The quorum side commits, the other stalls, and no two honest nodes disagree.',
  },
  'f1-twins': {
    twins: [0, 1], groups: [0, 0, 0, 1, 1, 1],
    note: 'f + 1 = 2 Byzantine nodes: n0 and n1 each run twice (n0′, n1′ on the other side of a split). ' +
      'Both {n0, n1, n2} and {n0′, n1′, n3} are quorums of 3, so each side certifies and commits its own blocks: ' +
      'the honest n2 and n3 disagree at height 1 within about 3 s of simulated time, and the safety panel reports it.',
  },
};

// ---------------------------------------------------------------------------------------------
// URL: seed, settings and interventions, so that a link replays the exact run.

function readUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  const num = (k, d) => (params.has(k) && Number.isFinite(+params.get(k)) ? +params.get(k) : d);
  state.seed = num('seed', 1) >>> 0;
  state.nodes = Math.min(16, Math.max(4, num('n', 4)));
  state.rule = [1, 2, 3].includes(num('rule', 2)) ? num('rule', 2) : 2;
  state.twins = (params.get('twins') || '').split(',').filter((t) => t !== '' && +t >= 0 && +t < state.nodes).map(Number);
  state.dropPpm = Math.min(1_000_000, Math.max(0, num('drop', 0)));
  state.interventions = [];
  if (params.has('iv')) {
    try { state.interventions = JSON.parse(atob(params.get('iv'))); } catch { state.interventions = []; }
  }
  return params.has('t') ? num('t', 0) : null;
}

function writeUrl(includeTime) {
  const params = new URLSearchParams({ seed: state.seed, n: state.nodes, rule: state.rule, drop: state.dropPpm });
  if (state.twins.length) params.set('twins', state.twins.join(','));
  if (state.interventions.length) params.set('iv', btoa(JSON.stringify(state.interventions)));
  if (includeTime) params.set('t', Math.round(state.sim.now()));
  history.replaceState(null, '', '#' + params.toString());
  return location.href;
}

// ---------------------------------------------------------------------------------------------
// Building and replaying runs.

function freshSim() {
  if (state.twins.length) return WebSim.with_twins(state.nodes, state.seed, state.dropPpm, state.rule, Uint16Array.from(state.twins));
  return new WebSim(state.nodes, state.seed, state.dropPpm, state.rule);
}

function apply(sim, iv) {
  switch (iv.op) {
    case 'crash': sim.crash(iv.arg); break;
    case 'restart': sim.restart(iv.arg); break;
    case 'partition': sim.partition(Uint16Array.from(iv.arg)); break;
    case 'heal': sim.heal(); break;
    case 'drop': sim.set_drop_ppm(iv.arg); break;
    case 'dropmsg': sim.drop_message(iv.arg); break;
    case 'behave': sim.set_behaviour(iv.arg[0], iv.arg[1]); state.behaviour[iv.arg[0]] = iv.arg[1]; break;
    case 'delay': {
      // arg: [from, to, extra ms, both directions (0/1)]. The simulator adds the extra delay to
      // every message sent on the link from now on; messages already on the wire keep theirs.
      const [from, to, ms, both] = iv.arg;
      const links = both ? [[from, to], [to, from]] : [[from, to]];
      for (const [a, b] of links) {
        sim.set_link_delay(a, b, ms);
        if (ms > 0) state.linkDelay[`${a}>${b}`] = ms; else delete state.linkDelay[`${a}>${b}`];
      }
      break;
    }
  }
}

/// Rebuilds the run up to exactly (step, time), or up to `time` if `step` is null.
function rebuild(time, step = null) {
  if (state.sim) state.sim.free();
  state.behaviour = {};
  state.linkDelay = {};
  signatureCache.clear();                            // ids are per run: a rebuilt run may differ
  const sim = freshSim();
  state.sim = sim;
  resetLog();
  for (const iv of state.interventions) {
    if (step !== null ? iv.s > step : iv.t > time) break;
    sim.replay_to(iv.s, iv.t);
    apply(sim, iv);
  }
  if (step !== null) sim.replay_to(step, time);
  else while (!sim.advance_to(time, 1_000_000));
  drainEvents();
  state.maxTime = Math.max(state.maxTime, sim.now());
  render(true);
}

/// Records and performs an intervention now. Interventions recorded for later steps belong to a
/// future this run no longer has: drop them (fork from here).
function intervene(op, arg) {
  const sim = state.sim;
  const s = sim.steps(), t = sim.now();
  state.interventions = state.interventions.filter((iv) => iv.s < s || (iv.s === s && iv.t <= t));
  state.interventions.push({ s, t, op, arg });
  state.maxTime = t;
  apply(sim, { op, arg });
  drainEvents();
  writeUrl(false);
  render(true);
}

/// Starts a preset from the scenario menu: n = 4, the 2-chain rule, the current seed, the
/// preset's twins, and its split as an intervention at time 0 (so it is in the share link).
/// The speed goes up to 0.3× so that the fork comes within seconds of watching.
function loadScenario(name, syncSetup) {
  const scenario = SCENARIOS[name];
  if (!scenario) return;
  Object.assign(state, { nodes: 4, rule: 2, dropPpm: 0, twins: scenario.twins, playing: true, speed: 0.3 });
  $('speed').value = Math.log10(0.3);
  $('speed').dispatchEvent(new Event('input'));
  syncSetup();
  reset();
  state.interventions = [{ s: 0, t: 0, op: 'partition', arg: scenario.groups }];
  writeUrl(false);
  rebuild(0);
}

function reset() {
  state.interventions = [];
  state.maxTime = 0;
  state.selected = null;
  state.splitting = null;
  writeUrl(false);
  rebuild(0);
}

// ---------------------------------------------------------------------------------------------
// The clock: each frame advances virtual time by (real time × speed), in slices.

function frame(ts) {
  const workStart = performance.now();
  if (state.lastFrame === null) state.lastFrame = ts;
  const dt = Math.min(100, ts - state.lastFrame);
  state.lastFrame = ts;
  if (state.playing && !state.sim.violation()) {
    const target = state.sim.now() + dt * state.speed;
    const start = performance.now();
    let reached = false;
    while (!reached && performance.now() - start < FRAME_BUDGET_MS) {
      reached = state.sim.advance_to(target, STEPS_PER_SLICE);
    }
    state.maxTime = Math.max(state.maxTime, state.sim.now());
    state.simWork.push(performance.now() - start);
    if (state.simWork.length > 600) state.simWork.shift();
  }
  drainEvents();
  render(false);
  state.frames += 1;
  state.frameWork.push(performance.now() - workStart);
  if (state.frameWork.length > 600) state.frameWork.shift();
  if (state.firstFrameAt === null) {
    state.firstFrameAt = performance.now();
    window.hotstuffFirstFrameMs = state.firstFrameAt;
  }
  requestAnimationFrame(frame);
}

// ---------------------------------------------------------------------------------------------
// Narration.

function resetLog() {
  state.log = [];
  $('log').replaceChildren();
}

function drainEvents() {
  const events = state.sim.take_events();
  if (!events.length) return;
  const all = $('all-events').checked;
  const list = $('log');
  const fragment = document.createDocumentFragment();
  for (const e of events) {
    state.log.push(e);
    if (!(e.major || all)) continue;
    const li = document.createElement('li');
    li.className = e.kind;
    li.dataset.step = e.step;
    li.dataset.time = e.time;
    const t = document.createElement('span');
    t.className = 't';
    t.textContent = (e.time / 1000).toFixed(3) + 's';
    li.append(t, e.text);
    fragment.append(li);
  }
  if (state.log.length > LOG_LINES_MAX * 4) state.log.splice(0, state.log.length - LOG_LINES_MAX * 4);
  const stick = list.parentElement.scrollTop + list.parentElement.clientHeight >= list.parentElement.scrollHeight - 30;
  list.append(fragment);
  while (list.children.length > LOG_LINES_MAX) list.firstChild.remove();
  if (stick) list.parentElement.scrollTop = list.parentElement.scrollHeight;
}

// ---------------------------------------------------------------------------------------------
// Drawing.

function nodePosition(i, n) {
  const angle = -Math.PI / 2 + (2 * Math.PI * i) / n;
  return [RADIUS * Math.cos(angle), RADIUS * Math.sin(angle)];
}

/// Where replica instance `i` is drawn: a node on the circle, a twin beside its original.
function instancePosition(i, n) {
  if (i < n) return nodePosition(i, n);
  const angle = -Math.PI / 2 + (2 * Math.PI * (state.twins[i - n] + 0.36)) / n;
  return [RADIUS * Math.cos(angle), RADIUS * Math.sin(angle)];
}

const instanceName = (v) => 'n' + v.id + (v.twin ? '′' : '');

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}

// The panels that are rebuilt rather than updated in place (block tree, space-time diagram,
// run figures and inspector, inside-a-node view) take turns: one per frame, so each refreshes
// about every 70 ms. Drawing all of them in the same frame every 100 ms made that frame's work
// spike (p95 8–9 ms at 16 nodes, while the simulation itself took about 1 ms).
const PANELS = [
  (sim, views, now) => drawTree(sim.blocks()),
  (sim, views, now) => drawLamport(sim.recent_messages(now - LAMPORT_WINDOW_MS, false), sim.size(), now),
  (sim, views) => { drawStats(views, sim.stats()); drawInspector(views, sim.in_flight()); },
  (sim, views) => drawInside(views),
];
let nextPanel = 0;

function render(force) {
  const sim = state.sim;
  const views = sim.views();
  const now = sim.now();
  drawCommittee(views, sim.in_flight(), now, sim.groups());
  if (force) {
    for (const panel of PANELS) panel(sim, views, now);
  } else {
    PANELS[nextPanel](sim, views, now);
    nextPanel = (nextPanel + 1) % PANELS.length;
  }
  drawSafety(sim.violation());
  const slider = $('time');
  slider.max = Math.max(1, Math.ceil(state.maxTime));
  slider.value = Math.round(now);
  $('time-out').textContent = (now / 1000).toFixed(3) + ' s';
  $('digest').textContent = 'trace ' + sim.trace_digest().slice(0, 16);
  setText($('play'), state.playing ? 'Pause' : 'Play');
}

// The committee drawing is built once per committee size and then updated in place: replacing
// elements every frame would swallow clicks (the element under the pointer at mouse-down would
// be gone at mouse-up).
const committee = { n: 0, instances: 0, nodes: [], messages: new Map(), messageLayer: null, clock: null, links: new Map() };

/// Lays out `n` nodes, plus their twins (instances n and up) if the run has any.
function layoutCommittee(n, instances) {
  const svg = $('committee');
  svg.replaceChildren();
  committee.n = n;
  committee.instances = instances;
  committee.messages.clear();
  committee.links = new Map();
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
  el('rect', { x: ZONE.x, y: ZONE.y, width: ZONE.w, height: ZONE.h, rx: 10 }, zone);
  el('text', { x: ZONE.x + ZONE.w / 2, y: ZONE.y + 18 }, zone).textContent = 'other side';
  committee.zoneText = el('text', { class: 'members', x: ZONE.x + ZONE.w / 2, y: ZONE.y + 40 }, zone);
  committee.zone = zone;
  const r = n > 8 ? 30 : 44;
  committee.nodes = [];
  for (let id = 0; id < instances; id++) {
    const [x, y] = instancePosition(id, n);
    const g = el('g', { class: 'node' + (id >= n ? ' twin' : ''), 'data-node': id, transform: `translate(${x},${y})` }, svg);
    el('circle', { class: 'body', r }, g);
    const title = el('text', { class: 'title', y: -4 }, g);
    const sub = el('text', { class: 'sub', y: 12 }, g);
    const info = el('text', { class: 'sub', y: r + 14 }, g);
    const crown = el('text', { class: 'crown', y: -r - 6 }, g);
    g.addEventListener('click', () => onNodeClick(id));
    g.addEventListener('pointerdown', (e) => onNodePointerDown(e, id));
    committee.nodes.push({ g, title, sub, info, crown, home: [x, y] });
  }
  committee.messageLayer = el('g', {}, svg);
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/// Links with extra delay are drawn dotted, labelled with their extra milliseconds per direction.
function drawLinkDelays() {
  for (const [key, { line, label }] of committee.links) {
    const [i, j] = key.split('-');
    const ab = state.linkDelay[`${i}>${j}`], ba = state.linkDelay[`${j}>${i}`];
    const slow = !!(ab || ba);
    const cls = 'link' + (slow ? ' slow' : '');
    if (line.getAttribute('class') !== cls) line.setAttribute('class', cls);
    const text = !slow ? '' : ab === ba ? `+${ab} ms` : [ab && `n${i}→n${j} +${ab} ms`, ba && `n${j}→n${i} +${ba} ms`].filter(Boolean).join(' · ');
    setText(label, text);
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

function drawCommittee(views, messages, now, groups) {
  const n = state.sim.size();
  if (committee.n !== n || committee.instances !== views.length) layoutCommittee(n, views.length);
  drawLinkDelays();
  setText(committee.clock, `t = ${(now / 1000).toFixed(3)} s`);
  const sides = state.splitting || groups;
  const split = new Set(sides).size > 1;
  // Group 0 is the main side (the circle), any other group the split zone's side.
  const away = split ? views.map((v, i) => i).filter((i) => sides[i] !== 0) : [];
  setText(committee.zoneText, away.length ? away.map((i) => instanceName(views[i])).join(' ') : 'drag a node here');
  const zoneCls = 'split-zone' + (away.length ? ' used' : '') + (drag.active && drag.inZone ? ' hot' : '');
  if (committee.zone.getAttribute('class') !== zoneCls) committee.zone.setAttribute('class', zoneCls);
  views.forEach((v, index) => {
    const node = committee.nodes[index];
    const classes = ['node'];
    if (v.twin) classes.push('twin');
    if (v.up && v.leader === v.id) classes.push('leader');
    if (!v.up) classes.push('down');
    if (state.selected && state.selected.node === index) classes.push('selected');
    if (split) classes.push('side' + (sides[index] === 0 ? 1 : 2));
    if (drag.active && drag.id === index) classes.push('dragging');
    const cls = classes.join(' ');
    if (node.g.getAttribute('class') !== cls) node.g.setAttribute('class', cls);
    setText(node.title, instanceName(v) + (v.up ? '' : ' (down)'));
    setText(node.sub, `r${v.round} · h${v.committed_height}`);
    // Above eight nodes the detail line would collide with the neighbours; the inspector has it.
    setText(node.info, n > 8 ? '' : `lock ${v.locked_round} · QC ${v.high_qc_round} · voted ${v.last_voted_round}`);
    setText(node.crown, v.up && v.leader === v.id ? `leads round ${v.round}` : '');
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
      const small = m.kind === 'batch' || m.kind === 'batch-request';
      dot = el('circle', { r: small ? 4 : 7, 'data-message': m.id }, committee.messageLayer);
      dot.addEventListener('click', (e) => { e.stopPropagation(); state.selected = { message: m.id }; render(true); });
      committee.messages.set(m.id, dot);
    }
    const [x1, y1] = instancePosition(m.from_instance, n), [x2, y2] = instancePosition(m.to_instance, n);
    const f = Math.min(1, Math.max(0, (now - m.sent) / Math.max(1, m.arrives - m.sent)));
    dot.setAttribute('cx', x1 + (x2 - x1) * f);
    dot.setAttribute('cy', y1 + (y2 - y1) * f);
    const cls = `msg ${m.kind}` + (state.selected && state.selected.message === m.id ? ' selected' : '');
    if (dot.getAttribute('class') !== cls) dot.setAttribute('class', cls);
  }
  for (const [id, dot] of committee.messages) {
    if (!seen.has(id)) { dot.remove(); committee.messages.delete(id); }
  }
}

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

function drawTree(blocks) {
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
    const g = el('g', { class: 'tree-block' + (b.certified ? ' certified' : '') + (b.committed ? ' committed' : ''), transform: `translate(${x},${y})` }, svg);
    el('rect', { x: -26, y: -14, width: 52, height: 28, rx: 5 }, g);
    el('text', { y: -1 }, g).textContent = `B${b.round}` + (b.tc_round !== null ? ' +TC' : '');
    el('text', { y: 10, style: 'font-size:9px;fill:#8b95ab' }, g).textContent = `h${b.height} · n${b.author}`;
    const title = el('title', {}, g);
    title.textContent = `block ${b.digest}, round ${b.round}, height ${b.height}, by node ${b.author}, QC round ${b.qc_round}` +
      (b.tc_round !== null ? `, TC round ${b.tc_round}` : '') + `, ${b.batches} batch(es)`;
  }
}

/// Space-time diagram: time runs left to right over the last LAMPORT_WINDOW_MS, one lane per
/// node; each message is a line from (sent, sender) to (arrival, receiver). A lost message stops
/// halfway, dashed. Mempool batches are left out: they would hide the consensus messages.
function drawLamport(messages, n, now) {
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

function drawInside(views) {
  if (!inside.built) buildInside();
  const id = state.selected && state.selected.node !== undefined ? state.selected.node : 0;
  const view = views[id];
  if (inside.node !== id) { inside.node = id; inside.totals.clear(); }
  setText($('inside-title'), `n${id}` + (view && !view.up ? ' (crashed: its actors are stopped)' : ''));
  $('inside').classList.toggle('down', !!view && !view.up);
  const depths = state.sim.channel_depths(id);
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

function drawStats(views, stats) {
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

function drawInspector(views, messages) {
  const body = $('inspector-body');
  const sel = state.selected;
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
  if (sel && sel.node !== undefined) {
    const v = views[sel.node];
    key = `node ${sel.node} ${v.up} ${state.behaviour[v.id] || 0}`;
    rows = [
      ['Node', instanceName(v) + (v.twin ? ` (twin of n${v.id}: same key, Byzantine)` : '') + (v.up ? '' : ' (crashed)')], ['Round', v.round], ['Leader of round', `n${v.leader}`],
      ['Last voted round', v.last_voted_round], ['Locked round', v.locked_round], ['High QC round', v.high_qc_round],
      ['Committed', `height ${v.committed_height} (round ${v.committed_round})`],
      ['Timeouts sent', v.timeouts_sent], ['Proposals', v.proposals], ['Restarts', v.restarts],
      ['Behaviour', BEHAVIOURS[state.behaviour[v.id] || 0]],
    ];
    // The simulator addresses crash and restart by instance; behaviours are per node (not twins).
    controls = () => [
      v.up ? button('Crash node', 'crash', () => intervene('crash', sel.node)) : button('Restart node', 'restart', () => intervene('restart', sel.node)),
      ...(v.twin || state.twins.includes(v.id) ? [] : [behaviourPicker(v.id)]),
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
      controls = () => [button('Drop message', 'drop-message', () => { intervene('dropmsg', m.id); state.selected = null; })];
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
function signatureStatus(id) {
  if (!signatureCache.has(id)) {
    if (signatureCache.size > 200) signatureCache.clear();
    const status = state.sim.signature_status(id);
    if (status === 'gone') return 'gone (it arrived or was lost)';
    signatureCache.set(id, status);
  }
  const status = signatureCache.get(id);
  if (status === 'valid') return '✓ valid (the core\'s verify accepts it)';
  if (status.startsWith('unsigned')) return status + ': a batch is vouched for by the digest in a signed block';
  return '✗ ' + status + ' (the receiver will reject it)';
}

/// A select that switches a node between honest and the Byzantine behaviours. With f of them
/// the safety panel stays green; the 1-chain rule (or, in the tests, Twins) shows it turn red.
function behaviourPicker(id) {
  const label = document.createElement('label');
  label.textContent = ' Behaviour ';
  const select = document.createElement('select');
  select.id = 'behaviour';
  BEHAVIOURS.forEach((name, i) => select.append(new Option(name, String(i))));
  select.value = String(state.behaviour[id] || 0);
  select.addEventListener('change', () => intervene('behave', [id, +select.value]));
  label.append(select);
  return label;
}

function drawSafety(violation) {
  const broken = !!violation;
  $('safety').classList.toggle('broken', broken);
  $('safety-state').textContent = broken ? 'VIOLATED' : 'holding';
  $('safety-state').className = broken ? 'bad' : 'ok';
  $('violation').hidden = !broken;
  if (broken) $('violation').textContent = violation;
  // Cross out the invariant that broke (the checker's report starts with its name).
  const broke = broken ? (violation.match(/\): (agreement|commits only extend|one vote per round|monotonic rounds|quorum certificates|a batch commits once)/) || [])[1] : null;
  const which = { agreement: 'agreement', 'commits only extend': 'extend', 'one vote per round': 'vote', 'monotonic rounds': 'round', 'quorum certificates': 'quorum', 'a batch commits once': 'batch' }[broke];
  for (const li of $('safety').querySelectorAll('li')) li.classList.toggle('violated', !!broken && (li.dataset.inv === which || !which));
  const key = scenarioKey();
  const note = key ? SCENARIOS[key].note : state.twins.length ? `Twins: ${state.twins.map((t) => 'n' + t).join(', ')} run twice with one key.` : '';
  $('scenario-note').hidden = !note;
  setText($('scenario-note'), note);
}

/// The preset the current run matches (same twins), if any.
function scenarioKey() {
  return Object.keys(SCENARIOS).find((k) => SCENARIOS[k].twins.join() === state.twins.join() && state.twins.length) || '';
}

// ---------------------------------------------------------------------------------------------
// Input.

// Dragging a node into the split zone moves it to the other side of a partition; dragging it
// out again brings it back. Each drop is one 'partition' intervention (or 'heal' once every node
// is back on the main side), so it is in the share link and replays like the Split… button's.
// While Split… is active, a drop only edits the pending split, as a click does.
const drag = { active: false, id: null, pointer: null, start: null, inZone: false, justDragged: false };

function svgPoint(e) {
  const svg = $('committee');
  const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(svg.getScreenCTM().inverse());
  return [p.x, p.y];
}

const inZone = ([x, y]) => x >= ZONE.x && x <= ZONE.x + ZONE.w && y >= ZONE.y && y <= ZONE.y + ZONE.h;

function onNodePointerDown(e, id) {
  if (e.button !== 0) return;
  drag.id = id;
  drag.start = [e.clientX, e.clientY];
  drag.active = false;
  drag.pointer = e.pointerId;
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
  if (state.splitting) {
    state.splitting[id] = side;
    render(true);
    return;
  }
  const current = Array.from(state.sim.groups());
  const groups = current.map((g) => (g === 0 ? 0 : 1));
  if (groups[id] === side) { render(true); return; }
  groups[id] = side;
  if (new Set(groups).size > 1) intervene('partition', groups);
  else intervene('heal', null);
}

function onNodeClick(id) {
  if (drag.justDragged) return;
  if (state.splitting) {
    state.splitting[id] = state.splitting[id] ? 0 : 1;
    render(true);
    return;
  }
  state.selected = { node: id };
  if (id < state.nodes) $('link-from').value = String(id);
  render(true);
}

function wire() {
  const nodesSelect = $('nodes');
  for (let n = 4; n <= 16; n++) nodesSelect.append(new Option(String(n), String(n)));
  const syncSetup = () => {
    $('seed').value = state.seed; nodesSelect.value = String(state.nodes); $('rule').value = String(state.rule);
    $('drop').value = state.dropPpm; $('drop-out').textContent = (state.dropPpm / 10000).toFixed(0) + '%';
  };
  syncSetup();
  $('scenario').value = scenarioKey();
  $('setup').addEventListener('submit', (e) => {
    e.preventDefault();
    state.seed = (+$('seed').value) >>> 0; state.nodes = +nodesSelect.value; state.rule = +$('rule').value;
    state.dropPpm = 0;
    state.twins = [];
    $('scenario').value = '';
    syncSetup();
    reset();
  });
  $('scenario').addEventListener('change', (e) => loadScenario(e.target.value, syncSetup));
  $('random-seed').addEventListener('click', () => { $('seed').value = random_seed(); $('setup').requestSubmit(); });
  $('share').addEventListener('click', async () => {
    const url = writeUrl(true);
    try { await navigator.clipboard.writeText(url); $('share').textContent = 'Link copied'; } catch { $('share').textContent = 'Link in address bar'; }
    setTimeout(() => ($('share').textContent = 'Share link'), 1500);
  });
  const togglePlay = () => { state.playing = !state.playing; render(true); };
  $('play').addEventListener('click', togglePlay);
  const stepOnce = () => { state.playing = false; state.sim.step(); state.maxTime = Math.max(state.maxTime, state.sim.now()); drainEvents(); render(true); };
  $('step').addEventListener('click', stepOnce);
  document.addEventListener('keydown', (e) => {
    if (e.target instanceof HTMLInputElement && e.target.type !== 'range') return;
    if (e.code === 'Space') { e.preventDefault(); togglePlay(); }
    if (e.code === 'ArrowRight') { e.preventDefault(); stepOnce(); }
  });
  const speed = $('speed');
  const setSpeed = () => { state.speed = Math.pow(10, +speed.value); $('speed-out').textContent = state.speed.toFixed(3) + '×'; };
  speed.addEventListener('input', setSpeed); setSpeed();
  $('time').addEventListener('change', (e) => { state.playing = false; rebuild(+e.target.value); });
  $('log').addEventListener('click', (e) => {
    const li = e.target.closest('li');
    if (!li) return;
    state.playing = false;
    rebuild(+li.dataset.time, +li.dataset.step);
  });
  $('all-events').addEventListener('change', () => rebuild(state.sim.now(), state.sim.steps()));
  $('drop').addEventListener('change', (e) => { state.dropPpm = +e.target.value; $('drop-out').textContent = (state.dropPpm / 10000).toFixed(0) + '%'; intervene('drop', state.dropPpm); });
  $('split').addEventListener('click', () => {
    if (!state.splitting) {
      state.splitting = Array.from(state.sim.groups(), () => 0);
      $('split').textContent = 'Apply split'; $('split').classList.add('active'); $('split-help').hidden = false;
    } else {
      const groups = state.splitting;
      state.splitting = null;
      $('split').textContent = 'Split…'; $('split').classList.remove('active'); $('split-help').hidden = true;
      intervene('partition', groups);
    }
    render(true);
  });
  $('heal').addEventListener('click', () => intervene('heal', null));
  $('link-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const from = +$('link-from').value, to = +$('link-to').value;
    const ms = Math.max(0, Math.min(5000, Math.round(+$('link-ms').value || 0)));
    if (from === to) return;
    intervene('delay', [from, to, ms, $('link-both').checked ? 1 : 0]);
  });
  window.addEventListener('pointermove', onPointerMove);
  window.addEventListener('pointerup', onPointerUp);
  window.addEventListener('pointercancel', (e) => {
    if (drag.id === null || e.pointerId !== drag.pointer) return;
    const node = committee.nodes[drag.id];
    if (node) node.g.setAttribute('transform', `translate(${node.home[0]},${node.home[1]})`);
    Object.assign(drag, { id: null, active: false, inZone: false });
  });
  $('committee').addEventListener('click', (e) => { if (e.target === $('committee')) { state.selected = null; render(true); } });
}

// ---------------------------------------------------------------------------------------------

async function main() {
  await init();
  const time = readUrl();
  wire();
  if (time !== null) { state.playing = false; rebuild(time); } else { rebuild(0); }
  // A handle for tests and for curious learners in the console.
  window.hotstuff = {
    get sim() { return state.sim; },
    state,
    pause() { state.playing = false; },
    play() { state.playing = true; },
    rebuild,
    intervene,
  };
  requestAnimationFrame(frame);
}

main();
