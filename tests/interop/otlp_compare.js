// otlp_compare.js - compares two OTLP/JSON requests field by field after normalising
// both (see otlp_norm.js), for the interop test. EXPECTED is the OpenTelemetry JS SDK's
// own JSON, ACTUAL what sonde wrote. Exits 0 when equal, 1 on any difference (the first
// ones are printed with their paths), 2 on bad usage.
//
// Usage: node otlp_compare.js [--signal traces|logs|metrics] [--label TEXT]
//                             [--actual-is-sdk] EXPECTED.json ACTUAL.json
// --actual-is-sdk accepts the SDK's serializer quirks on the actual side too (for
// checking the scripts by comparing an SDK file with itself).
'use strict';

const fs = require('fs');
const { parseJson, compareRequests, detectSignal, SIGNALS } = require('./otlp_norm');

const MAX_SHOWN = 25;

function usage(msg) {
	if (msg)
		process.stderr.write(`otlp_compare: ${msg}\n`);
	process.stderr.write('usage: node otlp_compare.js [--signal traces|logs|metrics] [--label TEXT] ' +
		'[--actual-is-sdk] EXPECTED.json ACTUAL.json\n');
	process.exit(2);
}

function load(file, what) {
	let text;
	try {
		text = fs.readFileSync(file, 'utf8');
	} catch (err) {
		return { error: `cannot read ${what} ${file}: ${err.message}` };
	}
	try {
		return { value: parseJson(text) };
	} catch (err) {
		return { error: `${what} ${file}: ${err.message}` };
	}
}

function main(argv) {
	let signal = null, label = null, actualIsSdk = false;
	const files = [];
	for (let k = 0; k < argv.length; k++) {
		const a = argv[k];
		if (a === '--signal')
			signal = argv[++k];
		else if (a === '--label')
			label = argv[++k];
		else if (a === '--actual-is-sdk')
			actualIsSdk = true;
		else if (a.startsWith('--'))
			usage(`unknown option ${a}`);
		else
			files.push(a);
	}
	if (files.length !== 2)
		usage('need EXPECTED and ACTUAL');
	if (signal !== null && !SIGNALS[signal])
		usage(`unknown signal ${signal}`);
	label = label || `${files[1]} vs ${files[0]}`;

	const exp = load(files[0], 'expected');
	const act = load(files[1], 'actual');
	for (const r of [exp, act]) {
		if (r.error) {
			process.stdout.write(`FAIL ${label}: ${r.error}\n`);
			return 1;
		}
	}
	signal = signal || detectSignal(exp.value);
	if (!signal) {
		process.stdout.write(`FAIL ${label}: expected file has none of resourceSpans, resourceLogs, resourceMetrics\n`);
		return 1;
	}
	const { diffs, summary } = compareRequests(signal, exp.value, act.value, { expectedIsSdk: true, actualIsSdk });
	if (diffs.length === 0) {
		process.stdout.write(`ok   ${label}: ${summary}\n`);
		return 0;
	}
	process.stdout.write(`FAIL ${label}: ${diffs.length} difference(s) in ${signal} (${summary} expected)\n`);
	for (const d of diffs.slice(0, MAX_SHOWN))
		process.stdout.write(`       ${d}\n`);
	if (diffs.length > MAX_SHOWN)
		process.stdout.write(`       ... and ${diffs.length - MAX_SHOWN} more\n`);
	return 1;
}

process.exitCode = main(process.argv.slice(2));
