// Small DOM helpers and the page's view state (what is selected, what is being dragged). Nothing
// here knows about the protocol or the run: that lives in Rust (WebSim).

export const SVG = 'http://www.w3.org/2000/svg';

export const $ = (id) => document.getElementById(id);

export function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}

export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/// What the learner is looking at: a selected node instance or message, a split being drawn,
/// the time slider held (its thumb follows the pointer, not the clock, until let go).
/// `focus`: what a lesson's text points at, `{nodes: [id…], digest}` (null: nothing).
export const view = { selected: null, splitting: null, scrubbing: false, focus: null };

/// The menus and names the core defines (WebSim's `catalogue()`), filled in at start.
export const catalogue = { behaviours: [], commit_rules: [], invariants: [], presets: [], lessons: [], challenges: [] };

/// Enter or Space on a focused element that acts like a button (a node, a message, a narration
/// line): its own action, and the page's Space-to-play shortcut does not see the key.
export function onKeyActivate(e, action) {
  if (e.key !== 'Enter' && e.key !== ' ') return;
  e.preventDefault();
  e.stopPropagation();
  action();
}
