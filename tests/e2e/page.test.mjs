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
  await page.evaluate(() => { window.hotstuff.state.speed = 0.5; });
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
  assert.deepEqual(errors, []);
  await page.close();
});

test('a crashed node is shown and the other three keep committing', async () => {
  const { page, errors } = await open('seed=3&n=4');
  await page.evaluate(() => { window.hotstuff.state.speed = 0.5; });
  await page.waitForFunction(() => Math.min(...window.hotstuff.sim.views().map((v) => v.committed_height)) >= 2, null, { timeout: 30_000 });
  await page.click('g.node[data-node="2"]');
  await page.click('#crash');
  await page.waitForSelector('g.node.down[data-node="2"]');
  const before = await minHeight(page);
  await page.evaluate(() => { window.hotstuff.state.speed = 2; });
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
  await page.evaluate(() => { window.hotstuff.state.speed = 0.5; });
  await page.click('g.node[data-node="1"]');
  await page.selectOption('#behaviour', '2'); // equivocator
  await page.waitForFunction(() => [...document.querySelectorAll('#log li.fault')].some((li) => li.textContent.includes('turns Byzantine')));
  const before = await page.evaluate(() => Math.min(...window.hotstuff.sim.views().filter((v) => v.id !== 1).map((v) => v.committed_height)));
  await page.evaluate(() => { window.hotstuff.state.speed = 2; });
  await page.waitForFunction((h) => Math.min(...window.hotstuff.sim.views().filter((v) => v.id !== 1).map((v) => v.committed_height)) >= h + 8, before, { timeout: 60_000 });
  assert.equal(await page.locator('#safety-state').textContent(), 'holding');
  assert.match(page.url(), /iv=/, 'the switch is an intervention in the shared link');
  await page.screenshot({ path: SHOTS + 'page-byzantine.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('inside a node: its actors and the depth of their channels, following the selected node', async () => {
  const { page, errors } = await open('seed=8&n=4');
  await page.evaluate(() => { window.hotstuff.state.speed = 0.3; });
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
  await page.evaluate(() => { window.hotstuff.state.speed = 0.3; });
  await page.waitForFunction(() => window.hotstuff.sim.now() > 300);
  await page.selectOption('#link-from', '0');
  await page.selectOption('#link-to', '1');
  await page.fill('#link-ms', '400');
  await page.click('#link-set');
  assert.match(page.url(), /iv=/, 'the latency change is an intervention in the shared link');
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
  await page.evaluate(() => { window.hotstuff.state.speed = 0.3; });
  await page.waitForFunction(() => window.hotstuff.sim.now() > 300);
  await page.evaluate(() => window.hotstuff.pause());
  await drag(page, await grabPoint(page, 2), await centre(page.locator('#split-zone rect')));
  await page.evaluate(() => window.hotstuff.play());
  await page.waitForSelector('g.node.side2[data-node="2"]');
  assert.deepEqual(await page.evaluate(() => Array.from(window.hotstuff.sim.groups())), [0, 0, 1, 0]);
  assert.match(await page.locator('#split-zone text.members').textContent(), /^n2$/);
  const ivs = () => page.evaluate(() => JSON.parse(atob(new URLSearchParams(location.hash.slice(1)).get('iv'))).map((iv) => [iv.op, iv.arg]));
  assert.deepEqual(await ivs(), [['partition', [0, 0, 1, 0]]], 'the drag is a partition intervention in the share link');
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
  assert.deepEqual((await ivs()).map(([op]) => op), ['partition', 'heal']);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the message inspector shows the core verification: a forger\'s vote fails, an honest one is valid', async () => {
  const { page, errors } = await open('seed=11&n=4');
  await page.evaluate(() => { window.hotstuff.state.speed = 0.3; });
  await page.waitForFunction(() => window.hotstuff.sim.now() > 200);
  await page.click('g.node[data-node="1"]');
  await page.selectOption('#behaviour', '5'); // forger
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
    await page.locator(`circle.msg[data-message="${id}"]`).dispatchEvent('click');
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
  await page.evaluate(() => { window.hotstuff.state.speed = 1; });
  await page.waitForFunction(() => document.querySelector('#safety-state').textContent === 'VIOLATED', null, { timeout: 60_000 });
  assert.ok(await page.locator('#safety.broken').count() === 1, 'the panel turns red');
  assert.match(await page.locator('#violation').textContent(), /agreement: at height 1 n\d committed .* but n\d committed/);
  assert.equal(await page.locator('#safety li.violated').getAttribute('data-inv'), 'agreement');
  const forkedAt = await page.evaluate(() => window.hotstuff.sim.now());
  assert.ok(forkedAt < 5000, `the fork comes within seconds (${forkedAt} ms)`);
  assert.match(page.url(), /twins=0%2C1|twins=0,1/);
  await page.screenshot({ path: SHOTS + 'page-f-plus-one.png' });

  await page.selectOption('#scenario', 'f-twin');
  await page.waitForFunction(() => document.querySelectorAll('g.node').length === 5 && window.hotstuff.sim.now() < 1000);
  await page.evaluate(() => { window.hotstuff.state.speed = 3; });
  await page.waitForFunction(() => window.hotstuff.sim.now() >= 10_000, null, { timeout: 60_000 });
  assert.equal(await page.locator('#safety-state').textContent(), 'holding', 'f Byzantine: safety holds for 10 simulated seconds');
  assert.equal(await page.locator('#safety.broken').count(), 0);
  const heights = await page.evaluate(() => window.hotstuff.sim.views().map((v) => v.committed_height));
  assert.ok(heights[2] >= 3 && heights[3] === 0, `the quorum side commits, the other stalls (${heights})`);
  await page.screenshot({ path: SHOTS + 'page-f-byzantine.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

test('a shared link replays the exact run (same trace digest)', async () => {
  const { page, errors } = await open('seed=7&n=5');
  await page.evaluate(() => {
    const h = window.hotstuff;
    h.pause();
    h.sim.advance_to(1500, 1e9);
    h.intervene('crash', 1);
    h.sim.advance_to(4000, 1e9);
    h.intervene('partition', [0, 0, 0, 1, 1]);
    h.sim.advance_to(6000, 1e9);
    h.intervene('heal', null);
    h.sim.advance_to(9000, 1e9);
  });
  await page.click('#share');
  const url = page.url();
  const digest = await page.evaluate(() => window.hotstuff.sim.trace_digest());
  assert.match(url, /iv=/);
  const other = await browser.newPage();
  await other.goto(url);
  await other.waitForFunction(() => window.hotstuff && window.hotstuff.sim);
  const replayed = await other.evaluate(() => [window.hotstuff.sim.trace_digest(), window.hotstuff.sim.now()]);
  assert.deepEqual(replayed, [digest, 9000]);
  assert.deepEqual(errors, []);
  await other.close();
  await page.close();
});

test('scrubbing back and forward returns the same state', async () => {
  const { page, errors } = await open('seed=4&n=4');
  const snapshot = () => page.evaluate(() => [window.hotstuff.sim.trace_digest(), JSON.stringify(window.hotstuff.sim.views())]);
  await page.evaluate(() => { const h = window.hotstuff; h.pause(); h.sim.advance_to(3000, 1e9); h.intervene('crash', 0); h.sim.advance_to(6000, 1e9); });
  const at6000 = await snapshot();
  await page.evaluate(() => window.hotstuff.rebuild(2000));
  assert.notDeepEqual(await snapshot(), at6000, 'earlier state differs');
  await page.screenshot({ path: SHOTS + 'page-rewound.png' });
  await page.evaluate(() => window.hotstuff.rebuild(6000));
  assert.deepEqual(await snapshot(), at6000, 'scrubbing forward again reproduces the state');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the page (wasm) and `hotstuff sim` (native) make the same run', async () => {
  const { page, errors } = await open('seed=1&n=4');
  const digest = await page.evaluate(() => {
    window.hotstuff.pause();
    window.hotstuff.rebuild(0);
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
  await page.evaluate(() => { window.hotstuff.state.speed = 0.1; });
  await page.waitForTimeout(500);
  const before = await page.evaluate(() => [window.hotstuff.state.frames, window.hotstuff.sim.now(), performance.now()]);
  await page.waitForTimeout(4000);
  const figures = await page.evaluate(([frames0, sim0, t0]) => {
    const work = window.hotstuff.state.frameWork.slice(-200).sort((a, b) => a - b);
    const sim = window.hotstuff.state.simWork.slice(-200).sort((a, b) => a - b);
    const q = (p, w = work) => w[Math.min(w.length - 1, Math.floor(p * w.length))];
    const seconds = (performance.now() - t0) / 1000;
    return {
      fps: (window.hotstuff.state.frames - frames0) / seconds, p50: q(0.5), p95: q(0.95), max: work[work.length - 1],
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

test('wasm stays within its size budget', () => {
  const wasm = readFileSync(ROOT + 'www/pkg/hotstuff_web_bg.wasm');
  assert.ok(statSync(ROOT + 'www/pkg/hotstuff_web_bg.wasm').size > 0);
  assert.ok(gzipSync(wasm, { level: 9 }).length <= 400 * 1024, 'at most 400 KB gzipped');
});
