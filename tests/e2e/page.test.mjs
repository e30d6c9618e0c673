// End-to-end tests of the page in real headless Chromium (Debian's package, driven by
// playwright-core). Run from scripts/test.sh after scripts/build-web.sh.
//
// They check what a learner relies on: the page loads cleanly, the committee makes progress,
// pause / step / crash / share / rewind behave, and the wasm run is the very run `hotstuff sim`
// makes natively (same trace digest). Screenshots land in test-results/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { serve } from './server.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const SHOTS = ROOT + 'test-results/';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-quic'];

let server, browser, base;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await serve(ROOT + 'www');
  base = `http://127.0.0.1:${server.address().port}/`;
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/// Opens the page; returns it with the console errors it collects.
async function open(hash = '') {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + (hash ? '#' + hash : ''));
  await page.waitForFunction(() => window.hotstuff && window.hotstuff.sim && window.hotstuffFirstFrameMs);
  return { page, errors };
}

const minHeight = (page) => page.evaluate(() => {
  const views = window.hotstuff.sim.views().filter((v) => v.up);
  return Math.min(...views.map((v) => v.committed_height));
});

test('the page loads without console errors, rounds advance and blocks commit', async () => {
  const { page, errors } = await open('seed=1&n=4');
  const firstFrame = await page.evaluate(() => window.hotstuffFirstFrameMs);
  const wasm = readFileSync(ROOT + 'www/pkg/hotstuff_web_bg.wasm');
  console.log(`# wasm ${wasm.length} bytes raw, ${gzipSync(wasm, { level: 9 }).length} bytes gzip; first animated frame ${firstFrame.toFixed(0)} ms after navigation`);
  await page.screenshot({ path: SHOTS + 'page-start.png' });
  await page.evaluate(() => { window.hotstuff.run.speed = 0.5; });
  await page.waitForFunction(() => Math.min(...window.hotstuff.sim.views().map((v) => v.committed_height)) >= 5, null, { timeout: 30_000 });
  const round = await page.evaluate(() => Math.max(...window.hotstuff.sim.views().map((v) => v.round)));
  assert.ok(round >= 6, `rounds advance (round ${round})`);
  const lines = await page.locator('#log li.commit').count();
  assert.ok(lines >= 1, 'commits are narrated');
  assert.match(await page.locator('#log li.commit').first().textContent(), /2-chain/);
  assert.equal(await page.locator('#safety-state').textContent(), 'holding');
  await page.screenshot({ path: SHOTS + 'page-running.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('pause stops time and step advances exactly one event', async () => {
  const { page, errors } = await open('seed=2&n=4');
  await page.keyboard.press('Space');
  const t0 = await page.evaluate(() => window.hotstuff.sim.now());
  await page.waitForTimeout(400);
  const t1 = await page.evaluate(() => window.hotstuff.sim.now());
  assert.equal(t1, t0, 'paused time does not move');
  const s0 = await page.evaluate(() => window.hotstuff.sim.steps());
  await page.click('#step');
  const s1 = await page.evaluate(() => window.hotstuff.sim.steps());
  assert.equal(s1, s0 + 1, 'one step is one event');
  // Reset (and Random) while paused start a new run that plays: a learner sees it begin.
  await page.click('#reset');
  await page.waitForFunction(() => window.hotstuff.sim.now() > 0);
  assert.equal(await page.locator('#play').textContent(), 'Pause');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a crashed node is shown and the other three keep committing', async () => {
  const { page, errors } = await open('seed=3&n=4');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.5; });
  await page.waitForFunction(() => Math.min(...window.hotstuff.sim.views().map((v) => v.committed_height)) >= 2, null, { timeout: 30_000 });
  await page.click('g.node[data-node="2"]');
  await page.click('#crash');
  await page.waitForSelector('g.node.down[data-node="2"]');
  const before = await minHeight(page);
  await page.evaluate(() => { window.hotstuff.run.speed = 2; });
  await page.waitForFunction((h) => {
    const live = window.hotstuff.sim.views().filter((v) => v.up);
    return live.length === 3 && Math.min(...live.map((v) => v.committed_height)) >= h + 5;
  }, before, { timeout: 60_000 });
  assert.equal(await page.locator('#safety-state').textContent(), 'holding');
  await page.screenshot({ path: SHOTS + 'page-crash.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a node switched to Byzantine (f = 1) leaves the others safe and committing', async () => {
  const { page, errors } = await open('seed=6&n=4');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.5; });
  await page.click('g.node[data-node="1"]');
  await page.selectOption('#behaviour', 'equivocator');
  await page.waitForFunction(() => [...document.querySelectorAll('#log li.fault')].some((li) => li.textContent.includes('turns Byzantine')));
  const before = await page.evaluate(() => Math.min(...window.hotstuff.sim.views().filter((v) => v.id !== 1).map((v) => v.committed_height)));
  await page.evaluate(() => { window.hotstuff.run.speed = 2; });
  await page.waitForFunction((h) => Math.min(...window.hotstuff.sim.views().filter((v) => v.id !== 1).map((v) => v.committed_height)) >= h + 8, before, { timeout: 60_000 });
  assert.equal(await page.locator('#safety-state').textContent(), 'holding');
  assert.match(page.url(), /#run=1\./, 'the switch is an intervention in the shared link');
  assert.deepEqual(await page.evaluate(() => JSON.parse(window.hotstuff.sim.scenario_json()).interventions.map((iv) => [iv.kind, iv.node, iv.behaviour])), [['behaviour', 1, 'equivocator']]);
  await page.screenshot({ path: SHOTS + 'page-byzantine.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('inside a node: its actors and the depth of their channels, following the selected node', async () => {
  const { page, errors } = await open('seed=8&n=4');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.3; });
  await page.click('g.node[data-node="2"]');
  await page.waitForFunction(() => document.querySelector('#inside-title').textContent.startsWith('n2'));
  const actors = await page.locator('#inside g.actor text').allTextContents();
  for (const name of ['mempool', 'consensus', 'network', 'store', 'timer']) assert.ok(actors.includes(name), `${name} is drawn (${actors})`);
  // Traffic flows: the counters of the channels between actors move, and each shows a number.
  await page.waitForFunction(() => +document.querySelector('#inside [data-channel="network_to_consensus"]').dataset.total > 20, null, { timeout: 30_000 });
  const labels = await page.evaluate(() => [...document.querySelectorAll('#inside text.depth')].map((t) => [t.dataset.channel, t.textContent, t.dataset.depth]));
  assert.ok(labels.length >= 12, `one label per channel (${labels.length})`);
  for (const [channel, text, depth] of labels) {
    assert.match(text, /\d/, `${channel} shows a number`);
    if (!['client_to_mempool', 'host_to_network', 'network_to_host'].includes(channel)) assert.match(depth, /^\d+$/, `${channel} has a depth`);
  }
  await page.locator('#inside-panel').screenshot({ path: SHOTS + 'page-inside-node.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a link latency set in the page slows that link, and the shared link replays it', async () => {
  const { page, errors } = await open('seed=9&n=4');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.3; });
  await page.waitForFunction(() => window.hotstuff.sim.now() > 300);
  await page.selectOption('#link-from', '0');
  await page.selectOption('#link-to', '1');
  await page.fill('#link-ms', '400');
  await page.click('#link-set');
  assert.match(page.url(), /#run=1\./, 'the latency change is an intervention in the shared link');
  const setAt = await page.evaluate(() => window.hotstuff.sim.now());
  assert.ok(await page.locator('line.link.slow').count() === 1, 'the slowed link is drawn');
  assert.match(await page.locator('text.link-label').allTextContents().then((t) => t.join(' ')), /\+400 ms/);
  // Messages sent on the link (both ways) from now on take at least 400 ms; the others do not.
  await page.waitForFunction((t0) => window.hotstuff.sim.recent_messages(t0).filter((m) => m.arrives !== null).length > 40, setAt, { timeout: 30_000 });
  const { slow, fast } = await page.evaluate((t0) => {
    const sent = window.hotstuff.sim.recent_messages(t0).filter((m) => m.arrives !== null && m.sent >= t0);
    const onLink = (m) => (m.from === 0 && m.to === 1) || (m.from === 1 && m.to === 0);
    return { slow: sent.filter(onLink).map((m) => m.arrives - m.sent), fast: sent.filter((m) => !onLink(m)).map((m) => m.arrives - m.sent) };
  }, setAt);
  assert.ok(slow.length >= 2 && slow.every((ms) => ms >= 410 && ms <= 440), `slow link: ${slow}`);
  assert.ok(fast.length >= 10 && fast.every((ms) => ms <= 40), `other links: ${fast}`);
  await page.screenshot({ path: SHOTS + 'page-link-delay.png' });
  // Replay from the shared link: same digest at the same time.
  const digest = await page.evaluate(() => { const h = window.hotstuff; h.pause(); h.sim.advance_to(h.sim.now() + 2000, 1e9); return h.sim.trace_digest(); });
  await page.click('#share');
  const other = await browser.newPage();
  await other.goto(page.url());
  await other.waitForFunction(() => window.hotstuff && window.hotstuff.sim);
  const [replayed, now] = await other.evaluate(() => [window.hotstuff.sim.trace_digest(), window.hotstuff.sim.now()]);
  assert.equal(replayed, digest, `replayed to ${now} ms`);
  assert.equal(await other.locator('line.link.slow').count(), 1, 'the replayed page shows the slowed link');
  await other.close();
  assert.deepEqual(errors, []);
  await page.close();
});

/// Drags with the mouse, as a learner does: press on `from`, move in steps, release on `to`.
async function drag(page, from, to) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) await page.mouse.move(from.x + ((to.x - from.x) * i) / 8, from.y + ((to.y - from.y) * i) / 8);
  await page.mouse.up();
}

const centre = async (locator) => {
  const box = await locator.boundingBox();
  return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
};

// A point on node `id` where the node itself is on top: a message dot in flight can sit over
// the node's centre and would take the pointer instead. Call it with the simulation paused, so
// the dots stay where they are until the drag is done.
const grabPoint = async (page, id) => {
  const box = await page.locator(`g.node[data-node="${id}"] circle.body`).boundingBox();
  const point = await page.evaluate(({ id, box }) => {
    const r = box.width / 2;
    for (const [dx, dy] of [[0, 0], [0.5, 0], [-0.5, 0], [0, 0.5], [0, -0.5], [0.35, 0.35], [-0.35, -0.35], [0.35, -0.35], [-0.35, 0.35]]) {
      const x = box.x + r + dx * r;
      const y = box.y + r + dy * r;
      if (document.elementFromPoint(x, y)?.closest(`g.node[data-node="${id}"]`)) return { x, y };
    }
    return null;
  }, { id, box });
  assert.ok(point, `some point of node ${id} is not covered by a message`);
  return point;
};

test('dragging a node into the split zone partitions the network; dragging it back heals', async () => {
  const { page, errors } = await open('seed=10&n=4');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.3; });
  await page.waitForFunction(() => window.hotstuff.sim.now() > 300);
  await page.evaluate(() => window.hotstuff.pause());
  await drag(page, await grabPoint(page, 2), await centre(page.locator('#split-zone rect')));
  await page.evaluate(() => window.hotstuff.play());
  await page.waitForSelector('g.node.side2[data-node="2"]');
  assert.deepEqual(await page.evaluate(() => Array.from(window.hotstuff.sim.groups())), [0, 0, 1, 0]);
  assert.match(await page.locator('#split-zone text.members').textContent(), /^n2$/);
  const ivs = () => page.evaluate(() => JSON.parse(window.hotstuff.sim.scenario_json()).interventions.map((iv) => [iv.kind, iv.groups]));
  assert.deepEqual(await ivs(), [['partition', [[0, 1, 3], [2]]]], 'the drag is a partition intervention in the run');
  assert.match(page.url(), /#run=1\./, 'and in the share link');
  assert.match(await page.locator('#log').textContent(), /The network splits into \{0,1,3\} \| \{2\}/);
  // Messages across the split are lost; the three others still reach each other.
  const splitAt = await page.evaluate(() => window.hotstuff.sim.now());
  await page.waitForFunction((t0) => window.hotstuff.sim.recent_messages(t0).filter((m) => m.sent > t0).length > 30, splitAt, { timeout: 30_000 });
  const { across, within } = await page.evaluate((t0) => {
    const sent = window.hotstuff.sim.recent_messages(t0).filter((m) => m.sent > t0 && m.from !== m.to);
    const crosses = (m) => (m.from === 2) !== (m.to === 2);
    return { across: sent.filter(crosses).map((m) => m.arrives), within: sent.filter((m) => !crosses(m)).map((m) => m.arrives) };
  }, splitAt);
  assert.ok(across.length >= 3 && across.every((a) => a === null), `messages across the split are lost: ${across}`);
  assert.ok(within.length >= 10 && within.every((a) => a !== null), 'messages within a side arrive');
  await page.screenshot({ path: SHOTS + 'page-drag-split.png' });
  // A click (no drag) still selects a node.
  await page.click('g.node[data-node="1"]');
  await page.waitForFunction(() => document.querySelector('#inspector-body dd')?.textContent.startsWith('n1'));
  // Dragging n2 back out of the zone (to the middle of the circle) heals the network.
  await page.evaluate(() => window.hotstuff.pause());
  await drag(page, await grabPoint(page, 2), await centre(page.locator('#committee text.clock')));
  await page.evaluate(() => window.hotstuff.play());
  await page.waitForFunction(() => Array.from(window.hotstuff.sim.groups()).every((g) => g === 0));
  assert.equal(await page.locator('g.node.side2').count(), 0);
  assert.deepEqual((await ivs()).map(([kind]) => kind), ['partition', 'heal']);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the message inspector shows the core verification: a forger\'s vote fails, an honest one is valid', async () => {
  const { page, errors } = await open('seed=11&n=4');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.3; });
  await page.waitForFunction(() => window.hotstuff.sim.now() > 200);
  await page.click('g.node[data-node="1"]');
  await page.selectOption('#behaviour', 'forger');
  // Pause, then step until a vote the forger sent after the switch is on the wire.
  const inspect = async (from) => {
    const id = await page.evaluate((from) => {
      const h = window.hotstuff;
      h.pause();
      const after = h.sim.stats().messages_sent;
      for (let i = 0; i < 100_000; i++) {
        const m = h.sim.in_flight().find((x) => x.id >= after && x.from === from && x.kind === 'vote');
        if (m) return m.id;
        h.sim.step();
      }
      return null;
    }, from);
    assert.notEqual(id, null, `a vote from n${from} is in flight`);
    await page.locator(`.msg[data-message="${id}"]`).dispatchEvent('click');
    await page.waitForFunction((id) => document.querySelector('#inspector-body dd')?.textContent === '#' + id, id);
    return page.evaluate(() => {
      const dt = [...document.querySelectorAll('#inspector-body dt')].find((d) => d.textContent === 'Signature');
      return dt.nextElementSibling.textContent;
    });
  };
  const forged = await inspect(1);
  assert.match(forged, /✗ bad signature from n1/);
  await page.screenshot({ path: SHOTS + 'page-forged-message.png' });
  const honest = await inspect(3);
  assert.match(honest, /✓ valid/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('scenario f + 1 Byzantine (two twins, split) turns the safety panel red; f Byzantine stays green', async () => {
  const { page, errors } = await open('seed=1&n=4');
  await page.selectOption('#scenario', 'f1-twins');
  await page.waitForSelector('g.node.twin[data-node="5"]');
  assert.match(await page.locator('#scenario-note').textContent(), /f \+ 1 = 2 Byzantine/);
  await page.evaluate(() => { window.hotstuff.run.speed = 1; });
  await page.waitForFunction(() => document.querySelector('#safety-state').textContent === 'VIOLATED', null, { timeout: 60_000 });
  assert.ok(await page.locator('#safety.broken').count() === 1, 'the panel turns red');
  assert.match(await page.locator('#violation').textContent(), /certified_extends_committed: n\d committed .* at height 1, but .* was certified in round \d+ without extending it/);
  assert.equal(await page.locator('#safety li.violated').getAttribute('data-inv'), 'certified_extends_committed');
  const forkedAt = await page.evaluate(() => window.hotstuff.sim.now());
  assert.ok(forkedAt < 5000, `the fork comes within seconds (${forkedAt} ms)`);
  assert.deepEqual(await page.evaluate(() => window.hotstuff.sim.settings().twins), [0, 1]);
  assert.match(page.url(), /#run=1\./);
  await page.screenshot({ path: SHOTS + 'page-f-plus-one.png' });

  await page.selectOption('#scenario', 'f-twin');
  await page.waitForFunction(() => document.querySelectorAll('g.node').length === 5 && window.hotstuff.sim.now() < 1000);
  await page.evaluate(() => { window.hotstuff.run.speed = 3; });
  await page.waitForFunction(() => window.hotstuff.sim.now() >= 10_000, null, { timeout: 60_000 });
  assert.equal(await page.locator('#safety-state').textContent(), 'holding', 'f Byzantine: safety holds for 10 simulated seconds');
  assert.equal(await page.locator('#safety.broken').count(), 0);
  const heights = await page.evaluate(() => window.hotstuff.sim.views().map((v) => v.committed_height));
  assert.ok(heights[2] >= 3 && heights[3] === 0, `the quorum side commits, the other stalls (${heights})`);
  await page.screenshot({ path: SHOTS + 'page-f-byzantine.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('scenario f + 1 Byzantine forkers (no twins) forks the committee: the safety panel turns red', async () => {
  const { page, errors } = await open('seed=1&n=4');
  await page.selectOption('#scenario', 'f1-forkers');
  assert.match(await page.locator('#scenario-note').textContent(), /forker behaviour/);
  assert.deepEqual(await page.evaluate(() => window.hotstuff.sim.settings().behaviours), ['forker', 'forker', null, null]);
  await page.evaluate(() => { window.hotstuff.run.speed = 1; });
  await page.waitForFunction(() => document.querySelector('#safety-state').textContent === 'VIOLATED', null, { timeout: 60_000 });
  assert.equal(await page.locator('#safety li.violated').getAttribute('data-inv'), 'certified_extends_committed');
  const forkedAt = await page.evaluate(() => window.hotstuff.sim.now());
  assert.ok(forkedAt < 5000, `the fork comes within seconds (${forkedAt} ms)`);
  // The other checks judged nothing after the stop: no tick on them.
  const checks = await page.locator('#safety li').count();
  assert.equal(await page.locator('#safety li.unchecked').count(), checks - 1);
  // The run ends at the violation, and the controls say so (not "Pause" on a stopped clock).
  await page.waitForFunction(() => document.getElementById('play').textContent.startsWith('Stopped'));
  assert.ok(await page.locator('#play').isDisabled());
  // Rewinding before the fork makes the run playable again.
  await page.evaluate((t) => window.hotstuff.seekTime(t - 200), forkedAt);
  await page.evaluate(() => window.hotstuff.pause());
  await page.waitForFunction(() => document.getElementById('play').textContent === 'Play' && !document.getElementById('play').disabled);
  await page.screenshot({ path: SHOTS + 'page-f-plus-one-forkers.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a shared link with interventions replays the exact run, in the page and natively (`hotstuff sim --link`)', async () => {
  const { page, errors } = await open('seed=7&n=5');
  await page.evaluate(() => {
    const h = window.hotstuff;
    h.pause();
    h.sim.advance_to(1500, 1e9);
    h.intervene({ kind: 'crash', node: 1 });
    h.sim.advance_to(4000, 1e9);
    h.intervene({ kind: 'partition', groups: [[0, 1, 2], [3, 4]] });
    h.sim.advance_to(6000, 1e9);
    h.intervene({ kind: 'heal' });
    h.sim.advance_to(9000, 1e9);
    h.intervene({ kind: 'link_delay', from: 0, to: 2, extra_ms: 250, both_ways: true });
    h.sim.advance_to(11000, 777);            // stop mid-way: the link names the exact step
  });
  await page.click('#share');
  const url = page.url();
  const [digest, point] = await page.evaluate(() => [window.hotstuff.sim.trace_digest(), [window.hotstuff.sim.steps(), window.hotstuff.sim.now()]]);
  assert.match(url, /#run=1\.[A-Za-z0-9_-]+&at=\d+\.\d+$/);
  const other = await browser.newPage();
  await other.goto(url);
  await other.waitForFunction(() => window.hotstuff && window.hotstuff.sim);
  const replayed = await other.evaluate(() => [window.hotstuff.sim.trace_digest(), [window.hotstuff.sim.steps(), window.hotstuff.sim.now()], window.hotstuff.run.playing]);
  assert.deepEqual(replayed, [digest, point, false], 'the same run, at the same point, paused');
  await other.close();
  // The native simulator decodes the same link (in Rust, the same code) and makes the same run.
  const native = JSON.parse(execFileSync(ROOT + 'target/release/hotstuff', ['sim', '--link', url, '--json']).toString());
  assert.equal(native.trace_digest, digest, 'native replay of the page link');
  assert.equal(native.steps, point[0]);
  // A link of a format this build does not read says so, and the page still runs.
  const future = await browser.newPage();
  const futureErrors = [];
  future.on('pageerror', (e) => futureErrors.push(String(e)));
  await future.goto(base + '#run=2.AAAA');
  await future.waitForFunction(() => window.hotstuff && window.hotstuff.sim);
  assert.match(await future.locator('#notice').textContent(), /link is format 2; this build reads format 1/);
  assert.deepEqual(futureErrors, []);
  await future.close();
  assert.deepEqual(errors, []);
  await page.close();
});

test('scrubbing back and forward returns the same state', async () => {
  const { page, errors } = await open('seed=4&n=4');
  const snapshot = () => page.evaluate(() => [window.hotstuff.sim.trace_digest(), JSON.stringify(window.hotstuff.sim.views())]);
  await page.evaluate(() => { const h = window.hotstuff; h.pause(); h.sim.advance_to(3000, 1e9); h.intervene({ kind: 'crash', node: 0 }); h.sim.advance_to(6000, 1e9); });
  const at6000 = await snapshot();
  await page.evaluate(() => window.hotstuff.seekTime(2000));
  assert.notDeepEqual(await snapshot(), at6000, 'earlier state differs');
  await page.screenshot({ path: SHOTS + 'page-rewound.png' });
  await page.evaluate(() => window.hotstuff.seekTime(6000));
  assert.deepEqual(await snapshot(), at6000, 'scrubbing forward again reproduces the state');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the time slider can be dragged with the mouse, playing or paused, and arrows move the speed slider', async () => {
  const { page, errors } = await open('seed=4&n=4');
  await page.evaluate(() => { const h = window.hotstuff; h.pause(); h.sim.advance_to(4000, 1e9); h.play(); });
  const box = await page.locator('#time').boundingBox();
  const y = box.y + box.height / 2;
  const xAt = (ms, max) => box.x + 8 + (box.width - 16) * (ms / max);
  const max = await page.evaluate(() => +document.getElementById('time').max);
  // Grab the thumb where the clock is, drag it to a quarter of the run, hold, let go: the run
  // follows the pointer, not the clock that was playing.
  const now = await page.evaluate(() => window.hotstuff.sim.now());
  await page.mouse.move(xAt(now, max), y);
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) await page.mouse.move(xAt(now - (now - max / 4) * i / 10, max), y);
  await page.waitForTimeout(300);
  const held = await page.evaluate(() => +document.getElementById('time').value);
  assert.ok(Math.abs(held - max / 4) < max / 20, `the thumb stays under the pointer: ${held} of ${max}`);
  await page.mouse.up();
  const after = await page.evaluate(() => [window.hotstuff.sim.now(), window.hotstuff.run.playing]);
  assert.ok(Math.abs(after[0] - max / 4) < max / 20, `the run went where the thumb was let go: ${after[0]} of ${max}`);
  assert.equal(after[1], false, 'a drag pauses the run');
  // Arrow keys on the speed slider change the speed, and do not step the run.
  const before = await page.evaluate(() => [window.hotstuff.run.speed, window.hotstuff.sim.stats().steps]);
  await page.focus('#speed');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  const later = await page.evaluate(() => [window.hotstuff.run.speed, window.hotstuff.sim.stats().steps]);
  assert.ok(later[0] > before[0] * 1.2, `the speed went up: ${before[0]} → ${later[0]}`);
  assert.equal(later[1], before[1], 'no step was taken');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the page (wasm) and `hotstuff sim` (native) make the same run', async () => {
  const { page, errors } = await open('seed=1&n=4');
  const digest = await page.evaluate(() => {
    window.hotstuff.pause();
    window.hotstuff.seekTime(0);
    window.hotstuff.sim.run_until_height(200, 10_000_000);
    return window.hotstuff.sim.trace_digest();
  });
  const native = JSON.parse(execFileSync(ROOT + 'target/release/hotstuff', ['sim', '--nodes', '4', '--seed', '1', '--blocks', '200', '--json']).toString());
  assert.equal(digest, native.trace_digest);
  assert.deepEqual(errors, []);
  await page.close();
});

test('16 nodes animate and keep committing (frame figures printed)', async () => {
  const { page, errors } = await open('seed=5&n=16');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.1; });
  await page.waitForTimeout(500);
  const before = await page.evaluate(() => [window.hotstuff.run.frames, window.hotstuff.sim.now(), performance.now()]);
  await page.waitForTimeout(4000);
  const figures = await page.evaluate(([frames0, sim0, t0]) => {
    const work = window.hotstuff.run.frameWork.slice(-200).sort((a, b) => a - b);
    const sim = window.hotstuff.run.simWork.slice(-200).sort((a, b) => a - b);
    const q = (p, w = work) => w[Math.min(w.length - 1, Math.floor(p * w.length))];
    const seconds = (performance.now() - t0) / 1000;
    return {
      fps: (window.hotstuff.run.frames - frames0) / seconds, p50: q(0.5), p95: q(0.95), max: work[work.length - 1],
      sim50: q(0.5, sim), sim95: q(0.95, sim), simMax: sim[sim.length - 1],
      simulated_ms_per_s: (window.hotstuff.sim.now() - sim0) / seconds,
      height: Math.min(...window.hotstuff.sim.views().map((v) => v.committed_height)),
    };
  }, before);
  console.log(`# n=16: ${figures.fps.toFixed(0)} fps (headless, no GPU); frame work p50 ${figures.p50.toFixed(1)} ms, p95 ${figures.p95.toFixed(1)} ms, max ${figures.max.toFixed(1)} ms (of which simulation p50 ${figures.sim50.toFixed(1)} ms, p95 ${figures.sim95.toFixed(1)} ms, max ${figures.simMax.toFixed(1)} ms); ${figures.simulated_ms_per_s.toFixed(0)} simulated ms per second`);
  assert.ok(figures.height >= 1, 'sixteen nodes commit');
  await page.screenshot({ path: SHOTS + 'page-16-nodes.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

/// A small seeded PRNG (mulberry32): the learner's random walk is the same on every run.
function prng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('a learner clicks narration lines, scrubs, toggles detail, intervenes and steps in random order: every click lands where it says, nothing breaks', async () => {
  const { page, errors } = await open('seed=12&n=4');
  const random = prng(20261201);
  const pick = (n) => Math.floor(random() * n);
  await page.evaluate(() => { window.hotstuff.run.speed = 1; });
  await page.waitForFunction(() => window.hotstuff.sim.now() > 5000, null, { timeout: 60_000 });
  await page.evaluate(() => window.hotstuff.pause());
  const actions = [];
  for (let i = 0; i < 40; i++) {
    const action = ['line', 'line', 'line', 'scrub', 'detail', 'crash', 'step', 'play'][pick(8)];
    actions.push(action);
    if (action === 'line') {
      const count = await page.locator('#log li').count();
      if (!count) continue;
      const li = page.locator('#log li').nth(pick(count));
      const [step, time] = await li.evaluate((e) => [+e.dataset.step, +e.dataset.time]);
      await li.scrollIntoViewIfNeeded();
      await li.click();
      const at = await page.evaluate(() => [window.hotstuff.sim.steps(), window.hotstuff.sim.now()]);
      assert.deepEqual(at, [step, time], `action ${i}: a narration line rewinds to its own moment`);
    } else if (action === 'scrub') {
      const max = +(await page.locator('#time').getAttribute('max'));
      const to = pick(max + 1);
      await page.locator('#time').evaluate((e, v) => { e.value = v; e.dispatchEvent(new Event('change')); }, to);
      assert.equal(await page.evaluate(() => window.hotstuff.sim.now()), to, `action ${i}: the slider lands on ${to} ms`);
    } else if (action === 'detail') {
      await page.click('#all-events');
    } else if (action === 'crash') {
      const node = pick(4);
      // Where the node itself is on top (a message dot may cover its centre); paused, so the
      // dots stay put.
      const at = await grabPoint(page, node);
      await page.mouse.click(at.x, at.y);
      await page.locator('#crash, #restart').click();
    } else if (action === 'step') {
      const before = await page.evaluate(() => window.hotstuff.sim.steps());
      await page.click('#step');
      assert.equal(await page.evaluate(() => window.hotstuff.sim.steps()), before + 1, `action ${i}: one step`);
    } else {
      await page.evaluate(() => window.hotstuff.play());
      const t0 = await page.evaluate(() => window.hotstuff.sim.now());
      await page.waitForFunction((t) => window.hotstuff.sim.now() > t + 300, t0, { timeout: 30_000 });
      await page.evaluate(() => window.hotstuff.pause());
    }
    assert.deepEqual(errors, [], `after action ${i} (${action})`);
    assert.equal(await page.locator('#notice').isHidden(), true, `no refused input after action ${i} (${action}): ${await page.locator('#notice').textContent()}`);
  }
  console.log(`# learner walk: ${actions.join(' ')}`);
  await page.screenshot({ path: SHOTS + 'page-learner-walk.png' });
  // Whatever the walk did, the run is a value: its link replays natively to the same digest.
  await page.click('#share');
  const digest = await page.evaluate(() => window.hotstuff.sim.trace_digest());
  const native = JSON.parse(execFileSync(ROOT + 'target/release/hotstuff', ['sim', '--link', page.url(), '--json']).toString());
  assert.equal(native.trace_digest, digest);
  // Play and Reset still work.
  await page.evaluate(() => window.hotstuff.play());
  const t0 = await page.evaluate(() => window.hotstuff.sim.now());
  await page.waitForFunction((t) => window.hotstuff.sim.now() > t + 200, t0, { timeout: 30_000 });
  await page.click('#reset');
  assert.ok(await page.evaluate(() => window.hotstuff.sim.now()) < 1000, 'reset starts again');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a click on an earlier narration line keeps the later lines as the recorded future; playing on tells none twice; an intervention there drops them', async () => {
  const { page, errors } = await open('seed=12&n=4');
  await page.evaluate(() => { window.hotstuff.run.speed = 1; });
  await page.waitForFunction(() => window.hotstuff.sim.now() > 3000, null, { timeout: 60_000 });
  await page.evaluate(() => window.hotstuff.pause());
  const lines = () => page.$$eval('#log li', (lis) => lis.map((li) => [+li.dataset.step, li.textContent, li.classList.contains('future'), +li.dataset.time]));
  const before = await lines();
  assert.ok(before.length > 30, `a narration to click in: ${before.length} lines`);
  const target = page.locator('#log li').nth(Math.floor(before.length / 3));
  await target.scrollIntoViewIfNeeded();
  await target.click();
  const [point, now] = await page.evaluate(() => [window.hotstuff.sim.steps(), window.hotstuff.sim.now()]);
  const after = await lines();
  assert.deepEqual(after.map(([s, t]) => [s, t]), before.map(([s, t]) => [s, t]), 'the narration keeps every line');
  assert.ok(after.some(([s]) => s > point), 'lines after the point');
  for (const [s, , dim, t] of after) {
    assert.equal(dim, s > point || (s === point && t > now), `line at (${s}, ${t}) with the run at (${point}, ${now}): dimmed exactly when after it`);
  }
  await page.screenshot({ path: SHOTS + 'page-recorded-future.png' });
  // Play on past the furthest point: the lines come back to full, none told twice.
  const furthest = before[before.length - 1][0];
  await page.evaluate(() => window.hotstuff.play());
  await page.waitForFunction((s) => window.hotstuff.sim.steps() > s + 200, furthest, { timeout: 60_000 });
  await page.evaluate(() => window.hotstuff.pause());
  const played = await lines();
  assert.deepEqual(played.slice(0, before.length).map(([s, t]) => [s, t]), before.map(([s, t]) => [s, t]), 'the same lines first');
  assert.ok(played.length > before.length && played.slice(before.length).every(([s]) => s > furthest), 'then only new ones');
  assert.ok(played.every(([, , dim]) => !dim), 'nothing dimmed at the furthest point');
  // Back again, and an intervention there: the run forks, and the lines after it go.
  const again = page.locator('#log li').nth(Math.floor(before.length / 3));
  await again.scrollIntoViewIfNeeded();
  await again.click();
  const fork = await page.evaluate(() => window.hotstuff.sim.steps());
  await page.evaluate(() => window.hotstuff.intervene({ kind: 'crash', node: 2 }));
  await page.waitForFunction(() => document.querySelector('#log li:last-child')?.textContent.includes('crash'), null, { timeout: 10_000 });
  const forked = await lines();
  assert.ok(forked.every(([s]) => s <= fork), `no line after the fork at step ${fork}: ${JSON.stringify(forked.filter(([s]) => s > fork).slice(0, 3))}`);
  assert.ok(forked.every(([, , dim]) => !dim), 'no recorded future left to dim');
  assert.deepEqual(errors, []);
  await page.close();
});

test('Export gives a scenario file and a ready test; the file replays natively and meets its expectation', async () => {
  const { page, errors } = await open('seed=15&n=4');
  await page.evaluate(() => {
    const h = window.hotstuff;
    h.pause();
    h.sim.advance_to(1200, 1e9);
    h.intervene({ kind: 'crash', node: 3 });
    h.sim.advance_to(2500, 1e9);
    h.intervene({ kind: 'partition', groups: [[0, 1, 3], [2]] });
    h.sim.advance_to(4000, 1e9);
    h.intervene({ kind: 'heal' });
    h.intervene({ kind: 'restart', node: 3 });
    h.sim.advance_to(9000, 1e9);
  });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const file = SHOTS + download.suggestedFilename();
  await download.saveAs(file);
  const scenario = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(scenario.format, 2); // SCENARIO_FORMAT: leaders by reputation unless the file says otherwise
  assert.deepEqual(scenario.interventions.map((iv) => iv.kind), ['crash', 'partition', 'heal', 'restart']);
  assert.equal(scenario.expect.outcome.kind, 'safe');
  assert.equal(scenario.expect.digest, await page.evaluate(() => window.hotstuff.sim.trace_digest()));
  const test = await page.locator('#export-test').textContent();
  assert.match(test, /#\[test\]\nfn scenario_page_seed_15_t9000\(\)/);
  assert.match(test, /Scenario::from_json/);
  await page.screenshot({ path: SHOTS + 'page-export.png' });
  // The native simulator runs the file to its expectation, pinned digest included.
  const out = execFileSync(ROOT + 'target/release/hotstuff', ['sim', '--scenario', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out.toString(), /trace digest\s+[0-9a-f]+/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the clock runs at the speed its label shows (fractional milliseconds carried), and a round lasts 1–2 s at the default speed', async () => {
  const { page, errors } = await open('seed=13&n=4');
  // `rate` is over the whole measurement; `recent` over its last 1.5 s, the window the page's
  // "achieving" figure averages over (www/js/run.js), so the two compare like with like: on a
  // noisy machine the simulator's pace moves by more than 15% between 1.5 s windows.
  const measure = (ms) => page.evaluate((ms) => new Promise((done) => {
    const h = window.hotstuff;
    const [v0, t0] = [h.sim.now(), performance.now()];
    let mid;
    setTimeout(() => { mid = [h.sim.now(), performance.now()]; }, ms - 1500);
    setTimeout(() => {
      const [v1, t1] = [h.sim.now(), performance.now()];
      done({
        rate: (v1 - v0) / (t1 - t0),
        recent: (v1 - mid[0]) / (t1 - mid[1]),
        label: document.querySelector('#speed-out').textContent,
        speed: h.run.speed,
      });
    }, ms);
  }), ms);
  await page.waitForTimeout(500);
  const slow = await measure(6000);
  // A round's simulated length, from 20 s of the same run played at once (counting rounds in a
  // few seconds of watching would be off by a whole round).
  const simPerRound = await page.evaluate(() => {
    const h = window.hotstuff;
    h.pause();
    const round = () => Math.max(...h.sim.views().map((v) => v.round));
    const [r0, t0] = [round(), h.sim.now()];
    h.sim.advance_to(t0 + 20_000, 1e9);
    const perRound = 20_000 / (round() - r0);
    h.seekTime(t0);
    h.play();
    return perRound;
  });
  const roundWallMs = simPerRound / slow.speed;
  console.log(`# default speed: label ${slow.label}, measured ${slow.rate.toFixed(4)}×; a round is ${simPerRound.toFixed(0)} simulated ms, ${(roundWallMs / 1000).toFixed(2)} s of wall time`);
  assert.ok(Math.abs(slow.rate / slow.speed - 1) < 0.05, `default speed: ${slow.rate} against ${slow.speed}`);
  assert.ok(roundWallMs >= 1000 && roundWallMs <= 2000, `a round lasts ${roundWallMs} ms of wall time`);
  for (const log of [-3, -2, -0.5, 0, 1]) {
    await page.locator('#speed').evaluate((e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }, log);
    await page.waitForTimeout(300);
    const m = await measure(log <= -2 ? 4000 : 2500);
    const behind = /achieving/.test(m.label);
    console.log(`# speed ${m.speed.toFixed(3)}×: measured ${m.rate.toFixed(4)}× (last 1.5 s ${m.recent.toFixed(4)}×), label "${m.label}"`);
    if (behind) {
      const achieved = parseFloat(m.label.match(/achieving ([\d.]+)/)[1]);
      assert.ok(Math.abs(m.recent / achieved - 1) < 0.15, `the label's achieved rate ${achieved} is what the clock did in the last 1.5 s (${m.recent})`);
      assert.ok(m.rate < m.speed, `behind: ${m.rate} below ${m.speed}`);
    } else {
      assert.ok(Math.abs(m.rate / m.speed - 1) < 0.05, `speed ${m.speed}: measured ${m.rate}`);
    }
  }
  assert.deepEqual(errors, []);
  await page.close();
});

test('a newcomer opens the basics and walks every lesson: Next plays to each stop and stops exactly there, the text points at its nodes, Back returns, and the question is judged from the run', async () => {
  const { page, errors } = await open('');
  assert.equal(await page.locator('#welcome').isVisible(), true, 'a first visit is offered the introduction');
  await page.click('#welcome-learn');
  assert.equal(await page.locator('#intro-dialog').isVisible(), true);
  assert.match(await page.locator('#intro-dialog').textContent(), /3f \+ 1[\s\S]*Quorum[\s\S]*QC[\s\S]*TC/);
  await page.screenshot({ path: SHOTS + 'page-intro.png' });
  const keys = await page.evaluate(() => [...document.querySelectorAll('#lesson-list button')].map((b) => b.dataset.lesson));
  assert.ok(keys.length >= 6, `the lessons are listed (${keys})`);
  const at = () => page.evaluate(() => [window.hotstuff.sim.steps(), window.hotstuff.sim.now()]);
  for (const [index, key] of keys.entries()) {
    if (index > 0) await page.click('#learn');
    await page.click(`#lesson-list button[data-lesson="${key}"]`);
    const lesson = await page.evaluate(() => window.hotstuff.sim.lesson());
    assert.equal(lesson.key, key);
    for (const [i, step] of lesson.steps.entries()) {
      if (i > 0) {
        // N, as a learner would; then faster than a learner would watch (the stop does not depend on it).
        await page.keyboard.press('n');
        await page.evaluate(() => { window.hotstuff.run.speed = Math.max(window.hotstuff.run.speed, 0.5); });
      }
      await page.waitForFunction(([s, t]) => window.hotstuff.sim.steps() === s && window.hotstuff.sim.now() === t && !window.hotstuff.run.playing,
        [step.at.point.step, step.at.point.time], { timeout: 60_000 });
      await page.waitForTimeout(50);
      assert.deepEqual(await at(), [step.at.point.step, step.at.point.time], `${key} stop ${i}: stays there, paused`);
      assert.equal(await page.locator('#lesson-step-title').textContent(), step.title);
      assert.equal(await page.locator('#lesson-text').textContent(), step.text);
      const ringed = await page.evaluate(() => [...document.querySelectorAll('#committee .node.focus')].map((g) => +g.dataset.node));
      assert.deepEqual(ringed.sort(), [...step.focus].sort(), `${key} stop ${i}: the nodes the text names are ringed`);
      if (step.at.digest) {
        await page.evaluate(() => window.hotstuff.redraw());
        const inTree = await page.evaluate((d) => window.hotstuff.sim.blocks().some((b) => b.digest === d), step.at.digest);
        assert.equal(await page.locator('#tree .tree-block.focus').count(), inTree ? 1 : 0, `${key} stop ${i}: the block the text names is marked in the tree`);
      }
      if (key === 'equivocation' && i >= 2) {
        // The liar is marked by the proof, once an honest replica holds it, not before.
        await page.evaluate(() => window.hotstuff.redraw());
        const caught = await page.evaluate(() => [...document.querySelectorAll('#committee .node.caught')].map((g) => +g.dataset.node));
        assert.deepEqual(caught, i === 2 ? [] : [0, 4], `${key} stop ${i}: both instances of n0 marked once caught`);
        assert.equal(await page.locator('#log li.caught').count() > 0, i > 2, `${key} stop ${i}: the catch is narrated`);
        if (i === 3) await page.screenshot({ path: SHOTS + 'page-caught.png' });
      }
    }
    if (key === keys[0]) {
      await page.screenshot({ path: SHOTS + 'page-lesson.png' });
      // Back returns to the stop before at once.
      await page.keyboard.press('b');
      const before = lesson.steps[lesson.steps.length - 2].at.point;
      assert.deepEqual(await at(), [before.step, before.time], 'Back: the stop before');
      await page.keyboard.press('n');
      await page.waitForFunction(() => !window.hotstuff.run.playing && !document.querySelector('#lesson-question').hidden, null, { timeout: 60_000 });
    }
    // The question: exactly one choice is right, and the verdict explains it.
    assert.equal(await page.locator('#lesson-question').isVisible(), true, `${key}: the question at the end`);
    const choices = await page.locator('#lesson-choices button').count();
    let right = 0;
    for (let c = 0; c < choices; c++) {
      await page.locator('#lesson-choices button').nth(c).click();
      const verdict = await page.locator('#lesson-verdict').textContent();
      if (verdict.startsWith('Right.')) right += 1; else assert.match(verdict, /^Not quite/);
    }
    assert.equal(right, 1, `${key}: one right answer of ${choices}`);
  }
  // Crash a node in the middle of a lesson: the run forks off the lesson, and Next returns to it.
  await page.click('#learn');
  await page.click(`#lesson-list button[data-lesson="${keys[0]}"]`);
  const lesson = await page.evaluate(() => window.hotstuff.sim.lesson());
  await page.keyboard.press('n');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.5; });
  await page.waitForFunction((s) => window.hotstuff.sim.steps() === s && !window.hotstuff.run.playing, lesson.steps[1].at.point.step, { timeout: 60_000 });
  await page.evaluate(() => window.hotstuff.intervene({ kind: 'crash', node: 2 }));
  assert.match(await page.locator('#lesson-status').textContent(), /You changed the run/);
  await page.keyboard.press('n');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.5; });
  const third = lesson.steps[2].at.point;
  await page.waitForFunction(([s, t]) => window.hotstuff.sim.steps() === s && window.hotstuff.sim.now() === t, [third.step, third.time], { timeout: 60_000 });
  assert.equal(await page.evaluate(() => window.hotstuff.sim.lesson_intact()), true, 'back on the lesson\'s own run');
  await page.click('#lesson-leave');
  assert.equal(await page.locator('#lesson').isHidden(), true);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a stalled round is visible: each live node\'s timer arc fills while it waits, and the narration says what it waits for and why', async () => {
  const { page, errors } = await open('');
  await page.selectOption('#scenario', 'leader-crash');
  await page.evaluate(() => window.hotstuff.pause());
  // n2 crashes at 2 s; the round before its turn starts about 2.1 s and times out about 3.1 s.
  const arcs = (t) => page.evaluate((t) => {
    window.hotstuff.seekTime(t);
    window.hotstuff.redraw();
    return [...document.querySelectorAll('#committee .node')].map((g) => {
      const arc = g.querySelector('path.timer');
      return { node: +g.dataset.node, length: arc.getAttribute('d') ? arc.getTotalLength() : 0, late: arc.classList.contains('late') };
    });
  }, t);
  const early = await arcs(2_500), late = await arcs(3_000);
  for (const node of [0, 1, 3]) {
    assert.ok(late[node].length > early[node].length + 20, `n${node}'s arc grows while its round waits: ${early[node].length} → ${late[node].length}`);
    assert.ok(late[node].late && !early[node].late, `n${node}'s arc turns to the timeout colour near its end`);
  }
  assert.equal(late[2].length, 0, 'a crashed node has no timer');
  await page.screenshot({ path: SHOTS + 'page-timer-arcs.png' });
  await page.evaluate(() => window.hotstuff.seekTime(3_300));
  await page.click('#all-events');
  const stall = await page.locator('#log li.stall').first().textContent();
  assert.match(stall, /brings no progress: it voted, and its vote went to node 2[\s\S]*\(Node 2 is down\.\)/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a learner solves every challenge: the judge says not yet, then solved; a hint at a time; the shared solution reopens the challenge, solved', async () => {
  const { page, errors } = await open('');
  const verdict = () => page.locator('#challenge-verdict').textContent();
  // Stall seven with one split, made with the Split… tool as a learner would.
  await page.click('#learn');
  await page.click('#challenge-list button[data-challenge="stall-seven"]');
  assert.equal(await page.locator('#challenge').isVisible(), true);
  await page.evaluate(() => { window.hotstuff.pause(); window.hotstuff.seekTime(2_000); window.hotstuff.redraw(); });
  assert.match(await verdict(), /^Not yet/);
  assert.equal(await page.locator('#challenge-hints li').count(), 0);
  await page.click('#challenge-hint');
  assert.equal(await page.locator('#challenge-hints li').count(), 1, 'one hint at a time');
  await page.click('#split');
  for (const node of [3, 4, 5, 6]) {
    // The side column is long (the challenge panel on top): the page may have scrolled.
    await page.locator(`g.node[data-node="${node}"]`).scrollIntoViewIfNeeded();
    const at = await grabPoint(page, node);
    await page.mouse.click(at.x, at.y);
  }
  await page.click('#split');
  assert.deepEqual(await page.evaluate(() => [...window.hotstuff.sim.groups()]), [0, 0, 0, 1, 1, 1, 1]);
  await page.evaluate(() => { window.hotstuff.run.speed = 5; window.hotstuff.play(); });
  await page.waitForFunction(() => window.hotstuff.sim.now() >= 13_000, null, { timeout: 60_000 });
  await page.evaluate(() => { window.hotstuff.pause(); window.hotstuff.redraw(); });
  assert.match(await verdict(), /^Solved: nothing committed for 1\d\.\d s, with 1 intervention/);
  await page.screenshot({ path: SHOTS + 'page-challenge.png' });
  await page.click('#challenge-share');
  const link = page.url();
  const { page: shared, errors: sharedErrors } = await open(link.slice(link.indexOf('#') + 1));
  assert.equal(await shared.locator('#challenge').isVisible(), true, 'the link opens the challenge');
  await shared.evaluate(() => { window.hotstuff.seekTime(13_000); window.hotstuff.redraw(); });
  assert.match(await shared.locator('#challenge-verdict').textContent(), /^Solved/);
  assert.deepEqual(sharedErrors, []);
  await shared.close();

  // Fork 1-chain: cut off the node that forms a QC at that very step, and drop what it sent.
  await page.click('#learn');
  await page.click('#challenge-list button[data-challenge="fork-one-chain"]');
  await page.evaluate(() => window.hotstuff.pause());
  await page.evaluate(() => window.hotstuff.seekTime(500));
  const leader = await page.evaluate(() => {
    const sim = window.hotstuff.sim;
    const qcs = sim.stats().qcs;
    while (sim.stats().qcs === qcs) sim.step();
    const views = sim.views();
    return views.reduce((a, v) => (v.high_qc_round > a.high_qc_round ? v : a)).id;
  });
  await page.evaluate((leader) => {
    const others = [0, 1, 2, 3].filter((n) => n !== leader);
    window.hotstuff.intervene({ kind: 'partition', groups: [others, [leader]] });
    for (const m of window.hotstuff.sim.in_flight()) if (m.from === leader) window.hotstuff.intervene({ kind: 'drop_message', id: m.id });
  }, leader);
  assert.match(await verdict(), /^Not yet/);
  await page.evaluate(() => { window.hotstuff.run.speed = 5; window.hotstuff.play(); });
  await page.waitForFunction(() => window.hotstuff.sim.violation() !== null, null, { timeout: 60_000 });
  await page.evaluate(() => window.hotstuff.redraw());
  assert.match(await verdict(), /^Solved: “.*” broke at .* with 0 Byzantine replica/);

  // f + 1: two forkers chosen in the inspector, one after the other.
  await page.click('#learn');
  await page.click('#challenge-list button[data-challenge="f-plus-one"]');
  await page.evaluate(() => window.hotstuff.pause());
  for (const node of [0, 1]) {
    await page.locator(`g.node[data-node="${node}"]`).scrollIntoViewIfNeeded();
    const at = await grabPoint(page, node);
    await page.mouse.click(at.x, at.y);
    await page.selectOption('#behaviour', 'forker');
  }
  assert.match(await verdict(), /^Not yet/);
  await page.evaluate(() => { window.hotstuff.run.speed = 2; window.hotstuff.play(); });
  await page.waitForFunction(() => window.hotstuff.sim.violation() !== null, null, { timeout: 60_000 });
  await page.evaluate(() => window.hotstuff.redraw());
  assert.match(await verdict(), /^Solved: .* with 2 Byzantine replica/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the page fits the window: on a phone in portrait (390 px) and at 800 px nothing is cut off, no text is below 11 px, and in a lesson at 1400×1000 the block tree stays above the footer', async () => {
  for (const [width, height] of [[390, 844], [800, 900], [1400, 1000]]) {
    const page = await browser.newPage({ viewport: { width, height } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(base);
    await page.waitForFunction(() => window.hotstuff && window.hotstuff.sim);
    await page.click('#learn');
    await page.click('#lesson-list button[data-lesson="life-of-a-block"]');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= width, `${width} px: no sideways scrolling`);
    const lesson = await page.locator('#lesson').boundingBox();
    assert.ok(lesson.x >= 0 && lesson.x + lesson.width <= width, `${width} px: the lesson panel is inside the window`);
    // Every visible piece of text, as rendered: CSS size times the drawing's scale for SVG.
    await page.waitForTimeout(300);
    const small = await page.evaluate(() => {
      const found = [];
      for (const el of document.querySelectorAll('body *')) {
        if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0) continue;
        let px = parseFloat(getComputedStyle(el).fontSize);
        if (el instanceof SVGElement) px *= el.getScreenCTM().a;
        if (px < 10.5) found.push(`${el.tagName} "${el.textContent.trim().slice(0, 24)}" ${px.toFixed(1)} px`);
      }
      return found;
    });
    assert.deepEqual(small, [], `${width} px: no text below 11 px`);
    if (width === 1400) {
      const tree = await page.locator('#tree').boundingBox();
      const footer = await page.locator('footer').boundingBox();
      assert.ok(tree.y + 60 <= footer.y, `the block tree's first row (${tree.y}) is above the footer (${footer.y})`);
    }
    await page.screenshot({ path: SHOTS + `page-lesson-${width}.png` });
    assert.deepEqual(errors, []);
    await page.close();
  }
});

test('a message dot never hides a node from the pointer: at the instant a leader broadcasts, a click on its centre selects the leader', async () => {
  const { page, errors } = await open('');
  await page.click('#learn');
  await page.click('#lesson-list button[data-lesson="life-of-a-block"]');
  const lesson = await page.evaluate(() => window.hotstuff.sim.lesson());
  const stop = lesson.steps[1].at;   // "A leader proposes": its proposals sit on it, just sent
  await page.keyboard.press('n');
  await page.evaluate(() => { window.hotstuff.run.speed = 0.5; });
  await page.waitForFunction(([s, t]) => window.hotstuff.sim.steps() === s && window.hotstuff.sim.now() === t, [stop.point.step, stop.point.time], { timeout: 60_000 });
  await page.evaluate(() => window.hotstuff.redraw());
  const onIt = await page.evaluate((node) => window.hotstuff.sim.in_flight().filter((m) => m.from === node && m.sent === window.hotstuff.sim.now()).length, stop.node);
  assert.ok(onIt > 0, 'messages just sent sit on the leader');
  const box = await page.locator(`g.node[data-node="${stop.node}"] circle.body`).boundingBox();
  await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
  assert.match(await page.locator('#inspector-body').textContent(), new RegExp(`^Node\\s*n${stop.node}(?!\\d)`), 'the click selected the node, not a message');
  assert.doesNotMatch(await page.locator('#inspector-body').textContent(), /Message \d|signature/i);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the keyboard reaches nodes, messages and narration lines with a visible focus, and keys typed into a control act on that control, not on the run', async () => {
  const { page, errors } = await open('seed=2&n=4');
  await page.waitForFunction(() => window.hotstuff.sim.now() > 400 && window.hotstuff.sim.in_flight().length > 0, null, { timeout: 30_000 });
  await page.evaluate(() => { window.hotstuff.pause(); window.hotstuff.redraw(); });
  const at = () => page.evaluate(() => [window.hotstuff.sim.steps(), window.hotstuff.sim.now()]);
  const paused = await at();
  // A node: Tab moves from one to the next; Enter selects; the focus is drawn.
  await page.focus('#committee g.node[data-node="0"]');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.node), '1', 'Tab goes on to the next node');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#inspector-body dd')?.textContent.startsWith('n1'));
  const ring = await page.evaluate(() => getComputedStyle(document.activeElement.querySelector('circle.body')).stroke);
  assert.equal(ring, 'rgb(255, 255, 255)', 'the focused node is drawn with a white ring');
  // Space on a focused node selects it too, and does not start the run.
  await page.focus('#committee g.node[data-node="2"]');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => document.querySelector('#inspector-body dd')?.textContent.startsWith('n2'));
  assert.deepEqual(await at(), paused, 'Space on a node is not play');
  // A message in flight: reachable and selectable.
  assert.ok(await page.locator('#committee .msg[tabindex="0"]').count() > 0, 'messages take the focus');
  await page.focus('#committee .msg');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelector('#inspector-body dd')?.textContent.startsWith('#'));
  // The speed slider: Right moves the slider, not the run.
  const speed = await page.evaluate(() => +document.querySelector('#speed').value);
  await page.focus('#speed');
  await page.keyboard.press('ArrowRight');
  assert.ok(await page.evaluate(() => +document.querySelector('#speed').value) > speed, 'the slider moved');
  assert.deepEqual(await at(), paused, 'Right on the slider is not a step');
  // A button: Space presses it (Learn opens its dialog) and does not start the run.
  await page.focus('#learn');
  await page.keyboard.press('Space');
  await page.waitForFunction(() => document.querySelector('#intro-dialog').open);
  assert.equal(await page.evaluate(() => window.hotstuff.run.playing), false, 'Space on a button is not play');
  await page.keyboard.press('Escape');
  // With nothing focused, the shortcuts work: Right steps once.
  await page.evaluate(() => document.activeElement.blur());
  await page.keyboard.press('ArrowRight');
  assert.equal((await at())[0], paused[0] + 1, 'Right steps the run when no control has the focus');
  // A narration line: Enter goes to its moment.
  const li = page.locator('#log li').first();
  const [step, time] = await li.evaluate((l) => [+l.dataset.step, +l.dataset.time]);
  await li.focus();
  await page.keyboard.press('Enter');
  await page.waitForFunction(([s, t]) => window.hotstuff.sim.steps() === s && window.hotstuff.sim.now() === t, [step, time]);
  assert.deepEqual(errors, []);
  await page.close();
});

test('message kinds differ by shape as well as colour, and the legend shows each shape', async () => {
  const { page, errors } = await open('seed=3&n=4');
  // Play until proposals, votes and batches have all been in flight, noting each kind's shape.
  const shapes = await page.evaluate(async () => {
    const seen = {};
    for (let i = 0; i < 400 && Object.keys(seen).length < 3; i++) {
      await new Promise((r) => requestAnimationFrame(r));
      for (const dot of document.querySelectorAll('#committee .msg')) {
        const kind = [...dot.classList].find((c) => c !== 'msg' && c !== 'selected');
        if (['proposal', 'vote', 'batch'].includes(kind)) seen[kind] = dot.getAttribute('d');
      }
    }
    return seen;
  });
  assert.deepEqual(Object.keys(shapes).sort(), ['batch', 'proposal', 'vote']);
  assert.equal(new Set(Object.values(shapes)).size, 3, 'three kinds, three shapes');
  const marks = await page.evaluate(() => ['proposal', 'vote', 'timeout', 'tc'].map((k) => getComputedStyle(document.querySelector(`#legend .k.${k}`), '::before').content));
  assert.equal(new Set(marks).size, 4, `the legend's marks differ (${marks})`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('after a look back the narration says it has moved on below, and "latest" takes the learner to its newest line', async () => {
  const { page, errors } = await open('seed=2&n=4');
  await page.evaluate(() => { window.hotstuff.run.speed = 1; });
  await page.waitForFunction(() => document.querySelectorAll('#log li').length > 20, null, { timeout: 30_000 });
  assert.equal(await page.locator('#log-latest').isVisible(), false, 'following the run: no button');
  await page.locator('#log li').nth(2).click();
  await page.click('#play');
  await page.waitForFunction(() => !document.querySelector('#log-latest').hidden, null, { timeout: 30_000 });
  await page.click('#log-latest');
  const [top, height, full] = await page.evaluate(() => { const b = document.querySelector('#log-panel'); return [b.scrollTop, b.clientHeight, b.scrollHeight]; });
  assert.ok(top + height >= full - 30, 'at the newest line');
  assert.equal(await page.locator('#log-latest').isVisible(), false);
  assert.deepEqual(errors, []);
  await page.close();
});

test('wasm stays within its size budget', () => {
  const wasm = readFileSync(ROOT + 'www/pkg/hotstuff_web_bg.wasm');
  assert.ok(statSync(ROOT + 'www/pkg/hotstuff_web_bg.wasm').size > 0);
  // 400 KB until the scenario format came in (JSON and deflate for share links): 432 KB then;
  // 433 KB before the guided lessons (their texts, the cue resolver and its serialisation); 469
  // KB with them, the narration of stalled rounds and the challenges; 470 KB with the lesson
  // on an equivocating leader and the narration of caught lies. The core at opt-level "z"
  // would win 36 KB but simulates about 20% slower (README, Measured): the budget moved instead.
  assert.ok(gzipSync(wasm, { level: 9 }).length <= 490 * 1024, 'at most 490 KB gzipped');
});
