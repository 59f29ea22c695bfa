// otlp_selftest.js - checks the interop test's own comparison before it judges sonde:
// every mutation of the SDK's JSON that loses or changes data must be reported, and
// every rewrite that proto3 JSON treats as equivalent must be accepted.
//
// Usage: node otlp_selftest.js TRACES.json LOGS.json METRICS.json
// Prints one line per failed case and a summary; exits 1 if any case failed.
'use strict';

const fs = require('fs');
const { parseJson, normRequest, compareRequests, JsonNum } = require('./otlp_norm');

// Finds the first object (depth first) for which pred holds and returns it.
function find(v, pred) {
	if (v && typeof v === 'object' && !(v instanceof JsonNum)) {
		if (!Array.isArray(v) && pred(v))
			return v;
		for (const x of Object.values(v)) {
			const r = find(x, pred);
			if (r)
				return r;
		}
	}
	return null;
}

function forEachObject(v, fn) {
	if (v && typeof v === 'object' && !(v instanceof JsonNum)) {
		if (!Array.isArray(v))
			fn(v);
		for (const x of Object.values(v))
			forEachObject(x, fn);
	}
}

function clone(v) {
	if (Array.isArray(v))
		return v.map(clone);
	if (v && typeof v === 'object' && !(v instanceof JsonNum)) {
		const out = Object.create(null);
		for (const [k, x] of Object.entries(v))
			out[k] = clone(x);
		return out;
	}
	return v;
}

const num = n => new JsonNum(String(n));
const has = k => o => k in o;
const attr = key => o => o.key === key;
function must(x, what) {
	if (!x)
		throw new Error('fixture lacks ' + what);
	return x;
}

// Mutations that must be detected: [signal, description, function(request)].
const MUTATIONS = [
	['traces', 'drop a span', r => r.resourceSpans[0].scopeSpans[0].spans.pop()],
	['traces', 'drop an event', r => must(find(r, o => o.events && o.events.length), 'events').events.pop()],
	['traces', 'drop an attribute', r => must(find(r, o => o.attributes && o.attributes.length > 1), 'attrs').attributes.splice(1, 1)],
	['traces', 'swap two attributes', r => {
		const a = must(find(r, o => o.attributes && o.attributes.length > 1), 'attrs').attributes;
		[a[0], a[1]] = [a[1], a[0]];
	}],
	['traces', 'drop a link attribute', r => must(find(r, o => o.links && o.links.length && o.links[0].attributes.length), 'link').links[0].attributes.pop()],
	['traces', 'drop the trace state', r => delete must(find(r, o => o.traceState && o.spanId && o.events), 'traceState').traceState],
	['traces', 'drop a parent span id', r => delete must(find(r, has('parentSpanId')), 'parent').parentSpanId],
	['traces', 'change a span id', r => { must(find(r, has('spanId')), 'span').spanId = '0000000000000002'; }],
	['traces', 'lose sub-microsecond precision', r => {
		const s = must(find(r, o => o.startTimeUnixNano && !o.startTimeUnixNano.endsWith('000')), 'fine time');
		s.startTimeUnixNano = s.startTimeUnixNano.slice(0, -3) + '000';
	}],
	['traces', 'round a time through a double', r => {
		const s = must(find(r, o => o.endTimeUnixNano), 'time');
		s.endTimeUnixNano = num(Number(s.endTimeUnixNano));
	}],
	['traces', 'change the kind', r => { must(find(r, o => o.kind === undefined ? false : Number(o.kind.raw) === 3), 'client').kind = num(1); }],
	['traces', 'drop the status message', r => delete must(find(r, o => o.message && o.code), 'status').message],
	['traces', 'status code as 0', r => { must(find(r, o => o.code && Number(o.code.raw) === 2), 'error').code = num(0); }],
	['traces', 'drop span flags', r => delete must(find(r, o => o.flags && o.spanId && o.events), 'flags').flags],
	['traces', 'drop link flags', r => delete must(find(r, o => o.flags && o.spanId && !o.events), 'link flags').flags],
	['traces', 'zero a dropped count', r => { must(find(r, o => o.droppedEventsCount && Number(o.droppedEventsCount.raw) > 0), 'dropped').droppedEventsCount = num(0); }],
	['traces', 'drop the scope version', r => delete must(find(r, o => o.version && o.name), 'version').version],
	['traces', 'drop the scope schema URL', r => delete must(find(r, o => o.scope && o.schemaUrl), 'scope schema').schemaUrl],
	['traces', 'drop the resource schema URL', r => {
		delete r.resourceSpans[0].schemaUrl;
		delete r.resourceSpans[0].resource.schemaUrl;
	}],
	['traces', 'merge two resources', r => {
		const [a, b] = r.resourceSpans;
		a.scopeSpans.push(...b.scopeSpans);
		r.resourceSpans.pop();
	}],
	['traces', 'an int attribute as a double', r => {
		const v = must(find(r, attr('int')), 'int').value;
		v.doubleValue = v.intValue;
		delete v.intValue;
	}],
	['traces', 'a double attribute as an int', r => {
		const v = must(find(r, attr('sonde.ratio')), 'double').value;
		v.intValue = num(1);
		delete v.doubleValue;
	}],
	['traces', 'a double rounded', r => { must(find(r, attr('double.third')), 'third').value.doubleValue = num('0.333333333333333'); }],
	['traces', 'the smallest double flushed to zero', r => { must(find(r, attr('double.tiny')), 'tiny').value.doubleValue = num(0); }],
	['traces', 'an empty string value dropped', r => { must(find(r, attr('str.empty')), 'empty').value = {}; }],
	['traces', 'false dropped', r => { must(find(r, attr('bool.false')), 'false').value = {}; }],
	['traces', 'int zero dropped', r => { must(find(r, attr('int.zero')), 'zero').value = {}; }],
	['traces', 'a string attribute changed', r => { must(find(r, attr('str.unicode')), 'unicode').value.stringValue = 'hello world'; }],
	['traces', 'an array element dropped', r => must(find(r, attr('array.bool')), 'array').value.arrayValue.values.pop()],
	['traces', 'an unset array element dropped', r => must(find(r, attr('array.with_null')), 'null elem').value.arrayValue.values.splice(1, 1)],
	['traces', 'an unset array element filled', r => { must(find(r, attr('array.with_null')), 'null elem').value.arrayValue.values[1] = { stringValue: '' }; }],
	['traces', 'a large int off by one', r => { must(find(r, attr('int.max_safe')), 'max').value.intValue = '9007199254740992'; }],
	['traces', 'a misspelt field', r => {
		const s = must(find(r, o => o.droppedAttributesCount && o.spanId), 'span');
		s.droppedAttributeCount = s.droppedAttributesCount;
		delete s.droppedAttributesCount;
		s.droppedAttributeCount = num(1);
	}],
	['traces', 'a snake_case field', r => {
		const s = must(find(r, o => o.startTimeUnixNano), 'span');
		s.start_time_unix_nano = s.startTimeUnixNano;
		delete s.startTimeUnixNano;
	}],
	['traces', 'an id in base64', r => {
		const s = must(find(r, has('traceId')), 'span');
		s.traceId = Buffer.from(s.traceId, 'hex').toString('base64');
	}],
	['logs', 'drop the body', r => delete must(find(r, has('body')), 'body').body],
	['logs', 'a kvlist body entry dropped', r => must(find(r, o => o.body && o.body.kvlistValue), 'kvlist').body.kvlistValue.values.pop()],
	['logs', 'bytes changed', r => { must(find(r, attr('bytes')), 'bytes').value.bytesValue = Buffer.from([0xde, 0xad]).toString('base64'); }],
	['logs', 'drop the event name', r => delete must(find(r, has('eventName')), 'eventName').eventName],
	['logs', 'drop the observed time', r => delete must(find(r, has('observedTimeUnixNano')), 'observed').observedTimeUnixNano],
	['logs', 'drop the severity text', r => delete must(find(r, has('severityText')), 'sevtext').severityText],
	['logs', 'change the severity', r => { must(find(r, o => o.severityNumber && Number(o.severityNumber.raw) === 19), 'sev').severityNumber = num(17); }],
	['logs', 'drop a trace id', r => delete must(find(r, o => o.traceId && o.logRecords === undefined), 'traceId').traceId],
	['logs', 'a double body as a string', r => {
		const b = must(find(r, o => o.body && o.body.doubleValue), 'double body').body;
		b.stringValue = '6.25';
		delete b.doubleValue;
	}],
	['metrics', 'drop a data point', r => must(find(r, o => o.dataPoints && o.dataPoints.length > 1), 'points').dataPoints.pop()],
	['metrics', 'a gauge turned into a sum', r => {
		const m = must(find(r, has('gauge')), 'gauge');
		m.sum = m.gauge;
		delete m.gauge;
	}],
	['metrics', 'monotonic flag dropped', r => delete must(find(r, o => o.isMonotonic === true), 'monotonic').isMonotonic],
	['metrics', 'temporality changed', r => { must(find(r, has('aggregationTemporality')), 'temporality').aggregationTemporality = num(1); }],
	['metrics', 'asInt as asDouble', r => {
		const p = must(find(r, has('asInt')), 'asInt');
		p.asDouble = p.asInt;
		delete p.asInt;
	}],
	['metrics', 'a bucket count changed', r => { must(find(r, has('bucketCounts')), 'buckets').bucketCounts[0] = num(99); }],
	['metrics', 'a bound dropped', r => must(find(r, has('explicitBounds')), 'bounds').explicitBounds.pop()],
	['metrics', 'an absent min made 0', r => { must(find(r, o => 'explicitBounds' in o && !('min' in o)), 'no min').min = num(0); }],
	['metrics', 'a present zero min dropped', r => delete must(find(r, o => 'zeroCount' in o && o.min && Number(o.min.raw) === 0), 'zero min').min],
	['metrics', 'the exp. histogram scale changed', r => { must(find(r, has('scale')), 'scale').scale = num(2); }],
	['metrics', 'the positive offset changed', r => { must(find(r, o => o.positive && o.positive.bucketCounts.length), 'positive').positive.offset = num(0); }],
	['metrics', 'the unit dropped', r => delete must(find(r, o => o.unit && o.unit.length), 'unit').unit],
	['metrics', 'the description dropped', r => delete must(find(r, o => o.description && o.description.length), 'desc').description],
];

// Rewrites that must compare equal: the same data in another valid encoding.
const EQUIVALENTS = [
	['traces', 'ints and enums as strings, numbers as strings', r => forEachObject(r, o => {
		for (const k of ['intValue', 'droppedAttributesCount', 'flags'])
			if (o[k] instanceof JsonNum)
				o[k] = o[k].raw;
	})],
	['traces', 'times as numbers', r => forEachObject(r, o => {
		for (const k of ['startTimeUnixNano', 'endTimeUnixNano', 'timeUnixNano'])
			if (typeof o[k] === 'string')
				o[k] = num(o[k]);
	})],
	['traces', 'enums by name', r => forEachObject(r, o => {
		if (o.kind instanceof JsonNum)
			o.kind = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT',
				'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'][Number(o.kind.raw)];
	})],
	['traces', 'upper-case ids', r => forEachObject(r, o => {
		for (const k of ['traceId', 'spanId', 'parentSpanId'])
			if (typeof o[k] === 'string')
				o[k] = o[k].toUpperCase();
	})],
	['traces', 'defaults written out', r => forEachObject(r, o => {
		if ('spanId' in o && 'events' in o) {
			o.parentSpanId = o.parentSpanId ?? '';
			o.traceState = o.traceState ?? '';
			o.status.message = o.status.message ?? '';
		}
		if ('scope' in o)
			o.scope.version = o.scope.version ?? '';
	})],
	['traces', 'defaults left out', r => forEachObject(r, o => {
		for (const k of Object.keys(o)) {
			const v = o[k];
			if ((v instanceof JsonNum && Number(v.raw) === 0 && k !== 'intValue') ||
			    (Array.isArray(v) && v.length === 0 && k !== 'values'))
				delete o[k];
		}
	})],
	['traces', 'doubles written with exponents', r => forEachObject(r, o => {
		if (o.doubleValue instanceof JsonNum)
			o.doubleValue = num(Number(o.doubleValue.raw).toExponential());
	})],
	['logs', 'bytes in URL-safe base64', r => forEachObject(r, o => {
		if (typeof o.bytesValue === 'string')
			o.bytesValue = o.bytesValue.replace(/\+/g, '-').replace(/\//g, '_');
	})],
	['metrics', 'uint64 counts as strings', r => forEachObject(r, o => {
		if (Array.isArray(o.bucketCounts))
			o.bucketCounts = o.bucketCounts.map(c => (c instanceof JsonNum ? c.raw : c));
		if (o.count instanceof JsonNum)
			o.count = o.count.raw;
	})],
];

function main(argv) {
	if (argv.length !== 3) {
		process.stderr.write('usage: node otlp_selftest.js TRACES.json LOGS.json METRICS.json\n');
		return 2;
	}
	const parsed = {}, norm = {};
	for (const [k, sig] of ['traces', 'logs', 'metrics'].entries()) {
		parsed[sig] = parseJson(fs.readFileSync(argv[k], 'utf8'));
		norm[sig] = normRequest(sig, parsed[sig], { sdkQuirks: true });
	}
	let failed = 0, passed = 0;
	for (const [signal, what, fn] of MUTATIONS) {
		const orig = parsed[signal];
		const changed = clone(orig);
		try {
			fn(changed);
		} catch (err) {
			process.stdout.write(`selftest: cannot apply "${what}" to ${signal}: ${err.message}\n`);
			failed++;
			continue;
		}
		const { diffs } = compareRequests(signal, orig, changed,
			{ expectedNorm: norm[signal], actualIsSdk: true });
		if (diffs.length === 0) {
			process.stdout.write(`selftest: ${signal}: "${what}" was NOT detected\n`);
			failed++;
		} else {
			passed++;
		}
	}
	for (const [signal, what, fn] of EQUIVALENTS) {
		const orig = parsed[signal];
		const changed = clone(orig);
		fn(changed);
		const { diffs } = compareRequests(signal, orig, changed,
			{ expectedNorm: norm[signal], actualIsSdk: true });
		if (diffs.length) {
			process.stdout.write(`selftest: ${signal}: "${what}" should compare equal: ${diffs[0]}\n`);
			failed++;
		} else {
			passed++;
		}
	}
	process.stdout.write(`selftest: ${MUTATIONS.length} mutations detected and ${EQUIVALENTS.length} ` +
		`equivalent encodings accepted: ${passed} passed, ${failed} failed\n`);
	return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
