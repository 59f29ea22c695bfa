// speedscope_check.js - validates a speedscope file that sonde wrote against
// speedscope's own file-format schema (from the pinned npm speedscope package, with
// ajv), checks what the schema cannot say (indexes in range, one weight per sample,
// endValue), and that its stacks, folded with each profile's name as the root when the
// file holds threads, are what sonde folded from the same input.
//
// usage: node speedscope_check.js FILE.json EXPECTED.folded [LABEL]
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');

const [file, expectedFile, label = file] = process.argv.slice(2);
function fail(why) {
  console.log(`FAIL ${label}: ${why}`);
  process.exit(1);
}
const schemaFile = path.join(path.dirname(require.resolve('speedscope/package.json')), 'dist/release/file-format-schema.json');
const schema = JSON.parse(fs.readFileSync(schemaFile, 'utf8'));
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
if (!validate(doc)) fail('schema: ' + ajv.errorsText(validate.errors));

const frames = doc.shared.frames;
const threaded = doc.profiles.length > 1 || (doc.profiles[0] && doc.profiles[0].name !== doc.name);
if (doc.activeProfileIndex !== undefined && !(doc.activeProfileIndex < doc.profiles.length)) fail('activeProfileIndex out of range');
const folded = new Map();
for (const p of doc.profiles) {
  if (p.samples.length !== p.weights.length) fail(`profile ${p.name}: ${p.samples.length} samples, ${p.weights.length} weights`);
  const sum = p.weights.reduce((a, b) => a + b, 0);
  if (p.endValue - p.startValue !== sum) fail(`profile ${p.name}: endValue ${p.endValue} but weights sum to ${sum}`);
  p.samples.forEach((stack, i) => {
    const names = stack.map((ix) => {
      if (!Number.isInteger(ix) || ix < 0 || ix >= frames.length) fail(`frame index ${ix} out of range`);
      const f = frames[ix];
      const kind = (f.file || '').startsWith('[kernel') ? '_[k]' : f.file === '[jit]' ? '_[j]' : '';
      return f.name + kind;
    });
    if (threaded) names.unshift(p.name);
    const key = names.join(';');
    folded.set(key, (folded.get(key) || 0) + p.weights[i]);
  });
}
// Inlined frames have no marker in speedscope: compare without sonde's _[i].
const want = fs.readFileSync(expectedFile, 'utf8').replace(/_\[i\]/g, '').trim().split('\n').filter(Boolean).sort();
const got = [...folded].map(([k, n]) => `${k} ${n}`).sort();
if (JSON.stringify(got) !== JSON.stringify(want)) {
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  fail(`stacks differ at ${i}:\n  want: ${want[i]}\n  got:  ${got[i]}`);
}
console.log(`ok ${label} (${doc.profiles.length} profiles, ${frames.length} frames)`);
