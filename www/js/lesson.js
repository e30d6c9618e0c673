// Guided lessons, challenges and the first-visit introduction. A lesson is Rust's (core/src/sim/lesson.rs):
// its run, its stops (found by playing the run), the texts (filled from what the run did) and
// the question (judged by `WebSim::lesson_answer`). This module shows the current stop, plays to
// the next one (`WebSim::lesson_go`: the run stops there by itself) and points at what the text
// talks about (`view.focus`: nodes ringed in the committee, the block in the tree). A challenge
// (core/src/sim/challenge.rs) is judged by `WebSim::challenge_verdict` on the run as it stands.

import { WebSim } from '../pkg/hotstuff_web.js';
import { $, setText, view, catalogue } from './dom.js';
import { run, open, writeUrl, notice } from './run.js';

const VISITED_KEY = 'hotstuff-scope-visited';
// Playing to a stop takes a few seconds of wall time at most, and never runs faster than 1×
// or slower than the page's default (a vote must still be seen flying).
const PLAY_WALL_MS = 5000, SPEED_MIN = 0.0316, SPEED_MAX = 1;

const lesson = { data: null, index: 0, answer: null, tries: 0 };
const challenge = { data: null, hints: 0 };
let setSpeed = () => {};

/// The run just opened: is it a lesson? (a lesson's share link reopens it).
export function onOpened() {
  challenge.data = run.sim.challenge();
  challenge.hints = 0;
  lesson.data = run.sim.lesson();
  lesson.index = 0;
  lesson.answer = null;
  lesson.tries = 0;
  view.focus = null;
  show();
}

function openLesson(key) {
  $('intro-dialog').close();
  $('welcome').hidden = true;
  localStorage.setItem(VISITED_KEY, '1');
  if (!open(() => WebSim.from_lesson(key))) return;
  writeUrl(false);
  go(0);
}

/// Goes to stop `index`: plays to it if it lies ahead, jumps back to it otherwise.
function go(index) {
  if (!lesson.data) return;
  index = Math.max(0, Math.min(lesson.data.steps.length - 1, index));
  // The learner intervened: the lesson's stops after the fork are not this run's. Start the
  // lesson's run again (the learner's run is gone; the notice says so).
  if (!run.sim.lesson_intact()) {
    const at = index;
    if (!open(() => WebSim.from_lesson(lesson.data.key))) return;
    notice('Back to the lesson\'s own run (your changes made a different run).');
    lesson.index = at;
  }
  let playing = false;
  try { playing = run.sim.lesson_go(index); } catch (e) { notice(e); return; }
  lesson.index = index;
  const target = lesson.data.steps[index].at.point;
  if (playing) {
    const speed = Math.min(SPEED_MAX, Math.max(SPEED_MIN, (target.time - run.sim.now()) / PLAY_WALL_MS));
    if (run.speed < speed || run.speed > 4 * speed) setSpeed(speed);
  }
  run.playing = playing;
  view.focus = null;   // pointed at once the run is there
  show();
}

/// The run reached the stop it was playing to (run.js pauses it).
export function onStopped() { show(); }

function openChallenge(key) {
  $('intro-dialog').close();
  $('welcome').hidden = true;
  localStorage.setItem(VISITED_KEY, '1');
  run.playing = true;
  if (open(() => WebSim.from_challenge(key))) writeUrl(false);
}

/// Draws the challenge panel: the goal, the judge's verdict on the run so far, the hints shown.
function showChallenge() {
  const data = challenge.data;
  $('challenge').hidden = !data;
  if (!data) return;
  setText($('challenge-title'), data.title);
  setText($('challenge-goal'), data.goal);
  const verdict = run.sim.challenge_verdict();
  setText($('challenge-verdict'), verdict.text);
  $('challenge-verdict').classList.toggle('solved', verdict.solved);
  const hints = $('challenge-hints');
  while (hints.children.length < challenge.hints) {
    const li = document.createElement('li');
    li.textContent = data.hints[hints.children.length];
    hints.append(li);
  }
  while (hints.children.length > challenge.hints) hints.lastElementChild.remove();
  $('challenge-hint').disabled = challenge.hints >= data.hints.length;
}

/// Draws the lesson panel for the current stop (and the challenge panel).
export function show() {
  showChallenge();
  const panel = $('lesson');
  const data = lesson.data;
  panel.hidden = !data;
  document.body.classList.toggle('in-lesson', !!data);
  if (!data) return;
  const step = data.steps[lesson.index];
  const last = lesson.index === data.steps.length - 1;
  const there = run.sim.steps() === step.at.point.step && run.sim.now() === step.at.point.time;
  view.focus = there ? { nodes: step.focus, digest: step.at.digest } : null;
  setText($('lesson-title'), data.title);
  setText($('lesson-count'), `${lesson.index + 1} / ${data.steps.length}`);
  setText($('lesson-step-title'), step.title);
  setText($('lesson-text'), step.text);
  const intact = run.sim.lesson_intact();
  setText($('lesson-status'), !intact
    ? 'You changed the run: Next or Back returns to the lesson\'s own run.'
    : there ? '' : run.playing ? 'Playing up to this moment…' : 'Paused before this moment: Next plays on to it.');
  $('lesson-back').disabled = lesson.index === 0;
  $('lesson-next').disabled = last && there && intact;
  const question = $('lesson-question');
  question.hidden = !(last && there);
  if (!question.hidden) {
    setText($('lesson-prompt'), data.question.prompt);
    const choices = $('lesson-choices');
    if (choices.dataset.lesson !== data.key) {
      choices.dataset.lesson = data.key;
      choices.replaceChildren(...data.question.choices.map((label, i) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = label;
        b.dataset.choice = String(i);
        b.addEventListener('click', () => answer(i));
        return b;
      }));
    }
    for (const b of choices.children) {
      b.classList.toggle('right', lesson.answer !== null && lesson.answer.choice === +b.dataset.choice && lesson.answer.right);
      b.classList.toggle('wrong', lesson.answer !== null && lesson.answer.choice === +b.dataset.choice && !lesson.answer.right);
    }
    const verdict = $('lesson-verdict');
    verdict.hidden = lesson.answer === null;
    if (lesson.answer) {
      // The explanation gives the answer away: it comes with a right answer, or after two tries.
      const explain = lesson.answer.right || lesson.tries >= 2;
      setText(verdict, (lesson.answer.right ? 'Right. ' : 'Not quite: look again at the stops before, and try another. ') + (explain ? data.question.explanation : ''));
      verdict.className = lesson.answer.right ? 'right' : 'wrong';
    }
  }
}

function answer(choice) {
  lesson.answer = { choice, right: run.sim.lesson_answer(choice) };
  if (!lesson.answer.right) lesson.tries = (lesson.tries || 0) + 1;
  show();
}

function leave() {
  lesson.data = null;
  view.focus = null;
  show();
}

/// A line of the Learn dialog's lists: a button (with `data` for tests and links) and a note.
function entry(title, note, data, onClick) {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = title;
  Object.assign(b.dataset, data);
  b.addEventListener('click', onClick);
  li.append(b);
  if (note) li.append(Object.assign(document.createElement('span'), { className: 'muted', textContent: ' ' + note }));
  return li;
}

/// Wires the panel, the introduction and the lesson list. `speed(s)` sets the page's speed.
export function wireLessons(speed) {
  setSpeed = speed;
  // Next goes on to the next stop, or first to the current one if the run is not there (paused
  // on the way, or played past it); after an intervention, on to the next stop of the lesson's
  // own run. Back likewise.
  $('lesson-next').addEventListener('click', () => go(lesson.index + (atStop() || !run.sim.lesson_intact() ? 1 : 0)));
  $('lesson-back').addEventListener('click', () => go(lesson.index - (atStop() ? 1 : 0)));
  $('lesson-leave').addEventListener('click', leave);
  $('lesson-list').replaceChildren(...catalogue.lessons.map((l) => entry(l.title, l.summary, { lesson: l.key }, () => openLesson(l.key))));
  $('challenge-list').replaceChildren(...catalogue.challenges.map((c) => entry(c.title, '', { challenge: c.key }, () => openChallenge(c.key))));
  $('challenge-hint').addEventListener('click', () => { challenge.hints += 1; show(); });
  $('challenge-leave').addEventListener('click', () => { challenge.data = null; show(); });
  $('challenge-share').addEventListener('click', async () => {
    const url = writeUrl(true);
    try { await navigator.clipboard.writeText(url); setText($('challenge-share'), 'Link copied'); } catch { setText($('challenge-share'), 'Link in address bar'); }
    setTimeout(() => setText($('challenge-share'), 'Share this run'), 1500);
  });
  // Opened at its top: the basics come first (the dialog would otherwise scroll to the first
  // lesson button, which takes the focus).
  const openIntro = () => { const d = $('intro-dialog'); d.showModal(); d.scrollTop = 0; d.focus(); };
  $('learn').addEventListener('click', openIntro);
  $('welcome-learn').addEventListener('click', () => { $('welcome').hidden = true; openIntro(); });
  $('welcome-close').addEventListener('click', () => { $('welcome').hidden = true; localStorage.setItem(VISITED_KEY, '1'); });
  $('intro-play').addEventListener('click', () => { $('intro-dialog').close(); localStorage.setItem(VISITED_KEY, '1'); });
  $('intro-first').addEventListener('click', () => openLesson(catalogue.lessons[0].key));
  // A first visit is offered the introduction (a banner: it blocks nothing).
  $('welcome').hidden = localStorage.getItem(VISITED_KEY) === '1';
  // N / B: next and back, unless a text field has the keys.
  document.addEventListener('keydown', (e) => {
    if (!lesson.data || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement) return;
    if (e.key === 'n' || e.key === 'N') { e.preventDefault(); $('lesson-next').click(); }
    if (e.key === 'b' || e.key === 'B') { e.preventDefault(); $('lesson-back').click(); }
  });
}

/// Whether the run stands at the current stop (else Next and Back first go to it).
function atStop() {
  const p = lesson.data.steps[lesson.index].at.point;
  return run.sim.steps() === p.step && run.sim.now() === p.time && run.sim.lesson_intact();
}
