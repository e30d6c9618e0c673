// Run control: the one WebSim (a Rust `Run`: a scenario being played), the page's clock, and the
// doors through which the learner changes the run (intervene, seek, reset, presets, links).
//
// The run itself (settings, recorded interventions, rewind and fork, the share link) is Rust's;
// this module keeps only what a player keeps: play or pause, the speed, and the wall clock.

import { WebSim } from '../pkg/hotstuff_web.js';
import { $ } from './dom.js';

const FRAME_BUDGET_MS = 4;       // simulator work per animation frame, at most (the label shows when it cannot keep up)
const STEPS_PER_SLICE = 1;       // steps between two clock checks (a step can verify a QC, ~1 ms at 16 nodes)
const ACHIEVED_WINDOW_MS = 1500; // wall time over which the achieved speed is measured

export const run = {
  sim: null,
  playing: true,
  speed: 0.0316,                 // virtual ms per wall ms (10^-1.5: a round lasts about 1.3 s)
  virtualMs: 0,                  // the page's virtual clock, fractional: whole ms go to the simulator
  samples: [],                   // [wall ms, virtual ms advanced, wanted] over the last ACHIEVED_WINDOW_MS
  achieved: null,                // measured virtual ms per wall ms while playing, or null
  frames: 0,
  frameWork: [],                 // ms of work in each of the last frames (simulate + draw)
  simWork: [],                   // ms of simulation in each of the last frames
  listeners: { opened: [], rebuilt: [], changed: [], stopped: [] },
};

/// `opened`: a new run (the narration starts over); `rebuilt`: the run was rebuilt to rewind
/// (the drawings start over; the narration keeps its lines, the recorded future included);
/// `changed`: anything else the page must redraw at once; `stopped`: the run reached the stop a
/// lesson set (and was paused there).
export function on(event, fn) { run.listeners[event].push(fn); }
function emit(event) { for (const fn of run.listeners[event]) fn(); }

/// Shows an error the core returned (a refused intervention, a link it cannot read).
export function notice(error) {
  const box = $('notice');
  box.textContent = error ? String(error.message || error) : '';
  box.hidden = !error;
  if (error) setTimeout(() => { if (box.textContent === String(error.message || error)) box.hidden = true; }, 6000);
}

/// Replaces the run. `make` builds a WebSim (from a link, settings, a preset, a file); on error
/// the current run stays and the error is shown.
export function open(make) {
  let sim;
  try { sim = make(); } catch (e) { notice(e); return false; }
  if (run.sim) run.sim.free();
  run.sim = sim;
  run.virtualMs = sim.now();
  run.samples = [];
  emit('opened');
  emit('rebuilt');
  emit('changed');
  return true;
}

function afterSeek(result) {
  run.virtualMs = run.sim.now();
  run.samples = [];
  if (run.sim.take_rebuilt()) emit('rebuilt');
  emit('changed');
  return result;
}

/// Goes to a narration line's moment, `(step, time)`: any line, in any order.
export function seek(step, time) {
  run.sim.clear_stop();
  try { run.sim.seek(step, time); } catch (e) { notice(e); }
  return afterSeek();
}

/// Goes to a virtual time (the time slider).
export function seekTime(time) {
  run.sim.clear_stop();
  try { run.sim.seek_time(time); } catch (e) { notice(e); }
  return afterSeek();
}

/// Makes an intervention (`{kind: 'crash', node: 2}`, the scenario format): the run forks here.
export function intervene(intervention) {
  run.sim.clear_stop();
  try {
    run.sim.intervene(JSON.stringify(intervention));
  } catch (e) {
    notice(e);
    emit('changed');
    return false;
  }
  writeUrl(false);
  emit('changed');
  return true;
}

/// Puts the run in the address bar; with `atPoint`, also the point it shows.
export function writeUrl(atPoint) {
  history.replaceState(null, '', '#' + run.sim.link(atPoint));
  return location.href;
}

export function step() {
  run.playing = false;
  try { run.sim.step(); } catch (e) { notice(e); }
  run.virtualMs = run.sim.now();
  emit('changed');
}

/// Advances virtual time by `dt` wall milliseconds × speed. The fraction of a millisecond that
/// the simulator's whole-ms clock cannot take is carried to the next frame (at 0.03× and 60 fps a
/// frame is half a virtual millisecond). If the simulator cannot keep up within the frame's
/// budget, the clock falls behind and `achieved` says by how much.
export function tick(dt) {
  const sim = run.sim;
  if (!run.playing || sim.violation() !== null) { run.samples = []; run.achieved = null; return 0; }
  // Anything that moved the simulator's clock (a seek, a step) resets the page's.
  if (Math.floor(run.virtualMs) !== sim.now()) run.virtualMs = sim.now();
  const before = run.virtualMs;
  const target = run.virtualMs + dt * run.speed;
  const start = performance.now();
  let reached = false;
  try {
    while (!reached && performance.now() - start < FRAME_BUDGET_MS) reached = sim.advance_to(Math.floor(target), STEPS_PER_SLICE);
  } catch (e) { notice(e); run.playing = false; }
  // A lesson's stop: the run stopped there by itself; pause on it.
  if (sim.take_stopped()) { run.playing = false; run.virtualMs = sim.now(); emit('stopped'); return performance.now() - start; }
  run.virtualMs = reached ? target : sim.now();
  const work = performance.now() - start;
  const wall = performance.now();
  run.samples.push([wall, dt, run.virtualMs - before]);
  while (run.samples.length && run.samples[0][0] < wall - ACHIEVED_WINDOW_MS) run.samples.shift();
  const [wallSum, virtualSum] = run.samples.reduce(([w, v], [, dw, dv]) => [w + dw, v + dv], [0, 0]);
  run.achieved = wallSum > 500 ? virtualSum / wallSum : null;
  return work;
}
