// hotstuff-scope page: the entry point. The protocol, and everything that defines a run, runs in
// wasm (WebSim, built from the Rust core). The modules in js/ only draw what it reports and
// forward the learner's actions to it:
//
//   js/run.js        run control: the WebSim, the page clock, interventions, seeks, links
//   js/committee.js  the committee drawing and the drag that splits the network
//   js/panels.js     narration, block tree, space-time diagram, inside a node, inspector, safety
//   js/lesson.js     guided lessons (Rust's: stops, texts, questions) and the first-visit introduction
//   js/dom.js        DOM helpers, the view state (selection), the core's catalogue of names
//
// Rewind is the core's (`Run::seek`): a run is a scenario (settings plus timed interventions),
// and any point it passed through can be rebuilt exactly. An intervention made after rewinding
// drops the recorded future: the run forks there.

import init, { WebSim, random_seed, catalogue as coreCatalogue } from './pkg/hotstuff_web.js';
import { $, setText, view, catalogue } from './js/dom.js';
import { run, on, open, seek, seekTime, intervene, writeUrl, step, tick, notice } from './js/run.js';
import { drawCommittee, wireCommittee, onRedraw, splitBy } from './js/committee.js';
import {
  drawTree, drawLamport, drawStats, drawInspector, drawInside, drawSafety, buildSafety,
  drainEvents, resetLog, wireLog, forgetSignatures, LAMPORT_WINDOW_MS,
} from './js/panels.js';
import { wireLessons, onOpened as lessonOpened, onStopped as lessonStopped, show as showLesson } from './js/lesson.js';

// The panels that are rebuilt rather than updated in place (block tree, space-time diagram,
// run figures and inspector, inside-a-node view) take turns: one per frame, so each refreshes
// about every 70 ms. Drawing all of them in the same frame every 100 ms made that frame's work
// spike (p95 8–9 ms at 16 nodes, while the simulation itself took about 1 ms).
const PANELS = [
  (sim, views, now) => drawTree(sim.blocks()),
  (sim, views, now) => drawLamport(sim.recent_messages(now - LAMPORT_WINDOW_MS, false), sim.size(), now),
  (sim, views, now, settings) => { drawStats(views, sim.stats()); drawInspector(views, sim.in_flight(), settings); },
  (sim, views) => drawInside(views),
];
let nextPanel = 0;

function render(force) {
  const sim = run.sim;
  const views = sim.views();
  const now = sim.now();
  const settings = sim.settings();
  drawCommittee(views, sim.in_flight(), now, sim.groups(), settings, sim.caught());
  if (force) {
    for (const panel of PANELS) panel(sim, views, now, settings);
  } else {
    PANELS[nextPanel](sim, views, now, settings);
    nextPanel = (nextPanel + 1) % PANELS.length;
  }
  drawSafety(sim.violation(), settings);
  showLesson();
  const slider = $('time');
  slider.max = Math.max(1, Math.ceil(sim.horizon_ms()));
  // While the learner holds the thumb, it is theirs: the seek happens when they let go.
  if (!view.scrubbing) {
    slider.value = Math.round(now);
    setText($('time-out'), (now / 1000).toFixed(3) + ' s');
  }
  setText($('digest'), 'trace ' + sim.trace_digest().slice(0, 16));
  // A violation ends the run (the simulator goes no further); rewinding before it plays again.
  const stopped = sim.violation() !== null;
  setText($('play'), stopped ? 'Stopped: safety violated' : run.playing ? 'Pause' : 'Play');
  $('play').disabled = stopped;
  $('step').disabled = stopped;
  // The speed label says what the clock achieves when the machine cannot keep up.
  const label = formatSpeed(run.speed);
  const behind = run.playing && run.achieved !== null && run.achieved < run.speed * 0.97;
  setText($('speed-out'), behind ? `${label} (achieving ${formatSpeed(run.achieved)})` : label);
  $('speed-out').classList.toggle('behind', behind);
}

const formatSpeed = (s) => (s >= 1 ? s.toFixed(1) : s >= 0.1 ? s.toFixed(2) : s.toFixed(3)) + '×';

function frame(ts) {
  const workStart = performance.now();
  if (run.lastFrame === undefined) run.lastFrame = ts;
  const dt = Math.min(100, ts - run.lastFrame);
  run.lastFrame = ts;
  const simMs = tick(dt);
  if (run.playing) {
    run.simWork.push(simMs);
    if (run.simWork.length > 600) run.simWork.shift();
  }
  drainEvents();
  render(false);
  run.frames += 1;
  run.frameWork.push(performance.now() - workStart);
  if (run.frameWork.length > 600) run.frameWork.shift();
  if (window.hotstuffFirstFrameMs === undefined) window.hotstuffFirstFrameMs = performance.now();
  requestAnimationFrame(frame);
}

/// The setup form shows the run's settings, as the core reports them.
function syncSetup() {
  const s = run.sim.settings();
  $('seed').value = s.seed;
  $('nodes').value = String(s.nodes);
  $('rule').value = s.commit_rule;
  $('scenario').value = catalogue.presets.some((p) => p.key === s.preset) ? s.preset : '';
  $('drop').value = s.drop_ppm;
  setText($('drop-out'), (s.drop_ppm / 10000).toFixed(0) + '%');
  const rule = catalogue.commit_rules.find((r) => r.name === s.commit_rule);
  setText($('tagline'), `A whole HotStuff committee (${rule ? rule.title : s.commit_rule}), running in your browser.`);
}

function download(name, text, type) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function wire() {
  const nodes = $('nodes');
  for (let n = 4; n <= 16; n++) nodes.append(new Option(String(n), String(n)));
  $('rule').replaceChildren(...catalogue.commit_rules.map((r) => new Option(r.title, r.name)));
  $('scenario').replaceChildren(new Option('—', ''), ...catalogue.presets.map((p) => new Option(p.title, p.key)));
  buildSafety();
  $('setup').addEventListener('submit', (e) => {
    e.preventDefault();
    view.selected = null;
    // A new run starts playing, as a preset does (a paused one at 0 s looked like nothing happened).
    run.playing = true;
    if (open(() => WebSim.from_settings(+nodes.value, (+$('seed').value) >>> 0, $('rule').value))) writeUrl(false);
  });
  $('scenario').addEventListener('change', (e) => {
    if (!e.target.value) return;
    view.selected = null;
    run.playing = true;
    // A preset is something to watch happen: at least 0.3× (its fork or stall within seconds).
    if (run.speed < 0.3) { $('speed').value = Math.log10(0.3); run.speed = 0.3; }
    if (open(() => WebSim.from_preset(e.target.value))) writeUrl(false);
  });
  $('random-seed').addEventListener('click', () => { $('seed').value = random_seed(); $('setup').requestSubmit(); });
  $('share').addEventListener('click', async () => {
    const url = writeUrl(true);
    try { await navigator.clipboard.writeText(url); $('share').textContent = 'Link copied'; } catch { $('share').textContent = 'Link in address bar'; }
    setTimeout(() => ($('share').textContent = 'Share link'), 1500);
  });
  $('export').addEventListener('click', () => {
    const s = run.sim.settings();
    const stem = `page-seed-${s.seed}-t${Math.round(run.sim.now())}`;
    const json = run.sim.export_json();
    download(`${stem}.json`, json, 'application/json');
    $('export-test').textContent = run.sim.export_test(stem) +
      `\n// Or replay it natively: hotstuff sim --scenario ${stem}.json\n`;
    $('export-dialog').showModal();
  });
  $('export-close').addEventListener('click', () => $('export-dialog').close());
  const togglePlay = () => { run.playing = !run.playing; render(true); };
  $('play').addEventListener('click', togglePlay);
  $('step').addEventListener('click', step);
  document.addEventListener('keydown', (e) => {
    // Keys typed into a control are the control's: text in a field, the arrows on a slider
    // (speed, time) or in a list, Space on a button or a checkbox. The shortcuts act only
    // when nothing that takes keys has the focus.
    const target = e.target instanceof Element ? e.target : null;
    const typing = target?.closest('input, select, textarea');
    const pressable = target?.closest('button, a, summary, [role=button], [tabindex]');
    if (e.code === 'Space' && !typing && !pressable) { e.preventDefault(); togglePlay(); }
    if (e.code === 'ArrowRight' && !typing) { e.preventDefault(); step(); }
  });
  const speed = $('speed');
  const setSpeed = () => { run.speed = Math.pow(10, +speed.value); run.samples = []; render(true); };
  speed.addEventListener('input', setSpeed);
  run.speed = Math.pow(10, +speed.value);
  wireLessons((s) => { speed.value = Math.log10(s); setSpeed(); });
  const time = $('time');
  time.addEventListener('pointerdown', () => { view.scrubbing = true; run.playing = false; render(true); });
  time.addEventListener('input', (e) => {
    if (view.scrubbing) setText($('time-out'), (+e.target.value / 1000).toFixed(3) + ' s');
  });
  const letGo = () => { view.scrubbing = false; };
  window.addEventListener('pointerup', letGo);
  window.addEventListener('pointercancel', letGo);
  time.addEventListener('change', (e) => { view.scrubbing = false; run.playing = false; seekTime(+e.target.value); });
  $('drop').addEventListener('change', (e) => intervene({ kind: 'loss', ppm: +e.target.value }));
  $('split').addEventListener('click', () => {
    if (!view.splitting) {
      view.splitting = Array.from(run.sim.groups(), () => 0);
      $('split').textContent = 'Apply split'; $('split').classList.add('active'); $('split-help').hidden = false;
    } else {
      const sides = view.splitting;
      view.splitting = null;
      $('split').textContent = 'Split…'; $('split').classList.remove('active'); $('split-help').hidden = true;
      splitBy(sides);
    }
    render(true);
  });
  $('heal').addEventListener('click', () => intervene({ kind: 'heal' }));
  $('link-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const from = +$('link-from').value, to = +$('link-to').value;
    const ms = Math.max(0, Math.min(5000, Math.round(+$('link-ms').value || 0)));
    intervene({ kind: 'link_delay', from, to, extra_ms: ms, both_ways: $('link-both').checked });
  });
  wireCommittee();
  wireLog();
}

async function main() {
  await init();
  Object.assign(catalogue, coreCatalogue());
  on('opened', resetLog);
  on('opened', lessonOpened);
  on('stopped', () => { lessonStopped(); render(true); });
  on('rebuilt', forgetSignatures);
  on('changed', () => { drainEvents(); syncSetup(); render(true); });
  onRedraw(() => render(true));
  wire();
  // The link in the address bar is read by the core; one it cannot read is explained, and the
  // default run starts instead.
  const hash = location.hash.slice(1);
  if (!open(() => WebSim.from_link(hash))) open(() => WebSim.from_link(''));
  if (run.sim.opened_at_point()) run.playing = false;  // a shared point: show it, paused
  // A handle for tests and for curious learners in the console.
  window.hotstuff = {
    get sim() { return run.sim; },
    run,
    pause() { run.playing = false; },
    redraw() { render(true); },
    play() { run.playing = true; },
    seek,
    seekTime,
    intervene,
    notice,
  };
  requestAnimationFrame(frame);
}

main();
