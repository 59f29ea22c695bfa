// pprof_check.js - reads a pprof profile that sonde wrote with the npm pprof-format
// package (DataDog's reader), checks that every reference in it resolves, and that its
// stacks, folded, are what sonde folded from the same input.
//
// usage: node pprof_check.js PROFILE.pb[.gz] EXPECTED.folded [LABEL]
// Prints "ok LABEL" or "FAIL LABEL: why" and exits 0 or 1.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const { Profile } = require('pprof-format');

const [file, expectedFile, label = file] = process.argv.slice(2);
function fail(why) {
  console.log(`FAIL ${label}: ${why}`);
  process.exit(1);
}

let bytes = fs.readFileSync(file);
if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = zlib.gunzipSync(bytes);
const p = Profile.decode(bytes);
const strings = p.stringTable.strings;
const str = (i) => {
  const n = Number(i);
  if (!(n >= 0 && n < strings.length)) fail(`string index ${n} out of range`);
  return strings[n];
};
if (strings[0] !== '') fail('string_table[0] is not ""');

const byId = (list, what) => {
  const m = new Map();
  for (const x of list) {
    const id = Number(x.id);
    if (!id) fail(`${what} with id 0`);
    if (m.has(id)) fail(`duplicate ${what} id ${id}`);
    m.set(id, x);
  }
  return m;
};
const mappings = byId(p.mapping, 'mapping');
const functions = byId(p.function, 'function');
const locations = byId(p.location, 'location');
if (p.sampleType.length === 0) fail('no sample types');
for (const st of p.sampleType) str(st.type), str(st.unit);
if (str(p.sampleType[0].type) !== 'samples' || str(p.sampleType[0].unit) !== 'count')
  fail(`first sample type is ${str(p.sampleType[0].type)}/${str(p.sampleType[0].unit)}`);
for (const m of mappings.values()) str(m.filename);

// A frame's folded name, as sonde names frames (sonde_profile_frame_name + annotations).
function frames(loc) {
  let module = '';
  if (Number(loc.mappingId)) {
    const m = mappings.get(Number(loc.mappingId));
    if (!m) fail(`location ${loc.id} names missing mapping ${loc.mappingId}`);
    module = str(m.filename);
  }
  const kind = module.startsWith('[kernel') ? '_[k]' : module === '[jit]' ? '_[j]' : '';
  if (loc.line.length === 0) {
    const base = module.split('/').pop() || module;
    const addr = BigInt(loc.address).toString(16);
    return [module ? `${base}+0x${addr}` : Number(loc.address) ? `0x${addr}` : ''];
  }
  return loc.line.map((ln, i) => {
    const f = functions.get(Number(ln.functionId));
    if (!f) fail(`location ${loc.id} names missing function ${ln.functionId}`);
    str(f.filename);
    return str(f.name) + (i < loc.line.length - 1 ? '_[i]' : kind);
  });
}

const folded = new Map();
for (const s of p.sample) {
  if (s.value.length !== p.sampleType.length) fail('a sample with the wrong number of values');
  const stack = [];
  for (const id of s.locationId) {
    const loc = locations.get(Number(id));
    if (!loc) fail(`sample names missing location ${id}`);
    stack.push(...frames(loc));
  }
  for (const l of s.label) if (str(l.key) === 'thread') stack.push(str(l.str));
  const key = stack.reverse().join(';');
  folded.set(key, (folded.get(key) || 0) + Number(s.value[0]));
}
const lines = [...folded].filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`);
lines.sort((a, b) => Buffer.compare(Buffer.from(a.slice(0, a.lastIndexOf(' '))), Buffer.from(b.slice(0, b.lastIndexOf(' ')))));
const got = lines.length ? lines.join('\n') + '\n' : '';
const want = fs.readFileSync(expectedFile, 'utf8');
if (got !== want) {
  const g = got.split('\n'), w = want.split('\n');
  let i = 0;
  while (i < g.length && g[i] === w[i]) i++;
  fail(`stacks differ at line ${i + 1}:\n  want: ${w[i]}\n  got:  ${g[i]}`);
}
console.log(`ok ${label} (${p.sample.length} samples, ${locations.size} locations, ${functions.size} functions)`);
