// flame_js.js - runs the script embedded in a sonde flame graph SVG against a small
// stand-in for the browser DOM, and checks what a user would see: search shading and the
// matched share (nested matches counted once), click to zoom (ancestors kept full width
// and faded, descendants stretched, the rest hidden), search while zoomed, reset, and
// labels refitted to the new widths.
//
// usage: node flame_js.js tests/golden/flame-basic.svg
'use strict';
const fs = require('fs');
const vm = require('vm');

const svgText = fs.readFileSync(process.argv[2], 'utf8');
let failures = 0;
function check(what, cond, detail) {
  if (cond) console.log(`ok ${what}`);
  else {
    console.log(`FAIL ${what}${detail !== undefined ? ': ' + detail : ''}`);
    failures++;
  }
}

const unxml = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');

class TextNode {
  constructor(v) { this.nodeValue = v; }
}
class Element {
  constructor(tag, attrs = {}, text = '') {
    this.tag = tag;
    this.attrs = { ...attrs };
    this.children = [];
    this.parentNode = null;
    this.firstChild = new TextNode(text);
    this.listeners = {};
    const cls = new Set((attrs.class || '').split(/\s+/).filter(Boolean));
    this.classList = {
      add: (...c) => c.forEach((x) => cls.add(x)),
      remove: (...c) => c.forEach((x) => cls.delete(x)),
      toggle: (c, on) => (on ? cls.add(c) : cls.delete(c)),
      contains: (c) => cls.has(c),
    };
  }
  get textContent() { return this.firstChild.nodeValue; }
  set textContent(v) { this.firstChild.nodeValue = v; }
  getAttribute(k) { return this.attrs[k] === undefined ? null : String(this.attrs[k]); }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  append(c) { c.parentNode = this; this.children.push(c); }
  querySelector(tag) { return this.children.find((c) => c.tag === tag) || null; }
  get firstElementChild() { return this.children[0] || null; }
  get nextElementSibling() {
    const s = this.parentNode.children;
    return s[s.indexOf(this) + 1] || null;
  }
  addEventListener(type, fn) { this.listeners[type] = fn; }
}

const attrsOf = (s) => Object.fromEntries([...s.matchAll(/([\w:-]+)="([^"]*)"/g)].map((m) => [m[1], unxml(m[2])]));
const svg = new Element('svg', attrsOf(svgText.match(/<svg ([^>]*)>/)[1]));
const byId = {};
for (const m of svgText.matchAll(/<text id="(\w+)"([^>]*)>([^<]*)<\/text>/g)) {
  byId[m[1]] = new Element('text', { id: m[1], ...attrsOf(m[2]) }, unxml(m[3]));
  svg.append(byId[m[1]]);
}
const frames = new Element('g', { id: 'frames' });
svg.append(frames);
byId.frames = frames;
for (const m of svgText.matchAll(/<g><title>([^<]*)<\/title><rect ([^>]*)\/><text ([^>]*)>([^<]*)<\/text><\/g>/g)) {
  const g = new Element('g');
  g.append(new Element('title', {}, unxml(m[1])));
  g.append(new Element('rect', attrsOf(m[2])));
  g.append(new Element('text', attrsOf(m[3]), unxml(m[4])));
  frames.append(g);
}
const windowListeners = {};
const ctx = {
  document: { documentElement: svg, getElementById: (id) => byId[id] || null },
  window: { addEventListener: (t, f) => (windowListeners[t] = f) },
  prompt: () => null,
  alert: (m) => { throw new Error('alert: ' + m); },
  Array, Math, RegExp, Infinity,
};
vm.createContext(ctx);
vm.runInContext(svgText.match(/<!\[CDATA\[([\s\S]*?)\]\]>/)[1], ctx);
vm.runInContext('init(null)', ctx);

const all = frames.children;
const find = (name, nth = 0) => all.filter((g) => ctx.name_of(g) === name)[nth];
const rect = (g) => g.querySelector('rect');
const x = (g) => +rect(g).getAttribute('x');
const w = (g) => +rect(g).getAttribute('width');
const hidden = (g) => g.classList.contains('hide');
const matched = () => byId.matched.firstChild.nodeValue;
const near = (a, b) => Math.abs(a - b) < 0.02;

check('frames parsed', all.length > 10, all.length);
// Hover.
frames.listeners.mouseover({ target: rect(find('main')) });
check('hover shows the title', byId.details.firstChild.nodeValue.startsWith('main ('), byId.details.firstChild.nodeValue);
frames.listeners.mouseout({});

// Search: sqrt_loop runs under app's compute (3100) and worker's compute (2600) of 10035.
ctx.search('sqrt_loop');
check('search share', matched() === 'Matched: 56.8%', matched());
check('search paints matches', rect(find('sqrt_loop')).getAttribute('fill') === 'rgb(230,0,230)');
check('search leaves others', rect(find('main')).getAttribute('fill') !== 'rgb(230,0,230)');
// fib recurses 40 deep under 37 samples: counted once, not 40 times.
ctx.search('^fib$');
check('nested matches count once', matched() === 'Matched: 0.4%', matched());
// compute contains sqrt_loop: 4400 + 2600 of 10035.
ctx.search('^(compute|sqrt_loop)$');
check('parent and child matches count once', matched() === 'Matched: 69.8%', matched());
ctx.reset_search();
check('reset search restores colours', rect(find('sqrt_loop')).getAttribute('fill') === find('sqrt_loop').ofill);
check('reset search clears the share', matched() === ' ');

// Zoom into app's compute (the first compute, 4400 samples).
const compute = find('compute');
const sqrt = find('sqrt_loop'), worker = find('worker-17'), run = find('run'), tiny = find('tiny');
const sqrtW = w(sqrt);
frames.listeners.click({ target: compute.querySelector('text') });
check('zoomed frame fills the width', near(x(compute), 10) && near(w(compute), 1180), `${x(compute)} ${w(compute)}`);
check('child stretched', near(w(sqrt), (1180 * 3100) / 4400), w(sqrt));
check('child keeps its place', x(sqrt) >= 10 && x(sqrt) + w(sqrt) <= 1190.01);
check('ancestor kept, faded', !hidden(run) && run.classList.contains('parent') && near(w(run), 1180));
check('other branches hidden', hidden(worker) && hidden(tiny));
check('reset zoom shown', !byId.unzoom.classList.contains('hide'));
check('labels refitted', sqrt.querySelector('text').textContent === 'sqrt_loop');
ctx.search('sqrt_loop');
check('search share within the zoom', matched() === 'Matched: 70.5%', matched());
ctx.reset_search();
ctx.unzoom();
check('unzoom restores widths', near(w(sqrt), sqrtW) && !hidden(worker) && !run.classList.contains('parent'));
check('reset zoom hidden again', byId.unzoom.classList.contains('hide'));
// Escape resets both.
ctx.search('main');
windowListeners.keydown({ keyCode: 27, key: 'Escape', preventDefault() {} });
check('escape resets the search', matched() === ' ');
// A narrow frame's label is cut with "..".
ctx.fit(sqrt, 60);
check('fit cuts long labels', /\.\.$/.test(sqrt.querySelector('text').textContent) || sqrt.querySelector('text').textContent === '', sqrt.querySelector('text').textContent);
ctx.fit(sqrt, 10);
check('fit drops labels with no room', sqrt.querySelector('text').textContent === '');

console.log(failures ? `${failures} failed` : 'all passed');
process.exit(failures ? 1 : 0);
