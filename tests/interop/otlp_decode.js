// otlp_decode.js - decodes a binary OTLP export request (as sonde writes it) with the
// protobuf code shipped in @opentelemetry/otlp-transformer and compares it field by field
// with the JS SDK's own request in OTLP/JSON, for the interop test.
//
// Usage: node otlp_decode.js [--signal traces|logs|metrics] [--label TEXT]
//                            [--dump OUT.json] INPUT.pb EXPECTED.json
// Exits 0 when equal, 1 on a decode error or any difference, 2 on bad usage. --dump
// writes the decoded request in OTLP/JSON shape.
//
// Traces and metrics are decoded by the generated static root of otlp-transformer
// (build/src/generated/root.js: ExportTraceServiceRequest, ExportMetricsServiceRequest).
// That root has no logs messages (the package writes logs with a hand-written encoder),
// so logs are decoded by protobufjs reflection from the descriptor below, written from
// opentelemetry-proto's logs.proto, common.proto and resource.proto field numbers.
'use strict';

const fs = require('fs');
const protobuf = require('protobufjs');
const root = require('@opentelemetry/otlp-transformer/build/src/generated/root');
const { parseJson, compareRequests, detectSignal, SIGNALS } = require('./otlp_norm');

const MAX_SHOWN = 25;

function logsRequestType() {
	const f = (type, id, rule) => (rule ? { type, id, rule } : { type, id });
	const descriptor = {
		nested: {
			otlp: {
				nested: {
					AnyValue: {
						oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue',
							'arrayValue', 'kvlistValue', 'bytesValue'] } },
						fields: {
							stringValue: f('string', 1), boolValue: f('bool', 2), intValue: f('int64', 3),
							doubleValue: f('double', 4), arrayValue: f('ArrayValue', 5),
							kvlistValue: f('KeyValueList', 6), bytesValue: f('bytes', 7),
						},
					},
					ArrayValue: { fields: { values: f('AnyValue', 1, 'repeated') } },
					KeyValueList: { fields: { values: f('KeyValue', 1, 'repeated') } },
					KeyValue: { fields: { key: f('string', 1), value: f('AnyValue', 2) } },
					InstrumentationScope: {
						fields: {
							name: f('string', 1), version: f('string', 2), attributes: f('KeyValue', 3, 'repeated'),
							droppedAttributesCount: f('uint32', 4),
						},
					},
					EntityRef: {
						fields: {
							schemaUrl: f('string', 1), type: f('string', 2), idKeys: f('string', 3, 'repeated'),
							descriptionKeys: f('string', 4, 'repeated'),
						},
					},
					Resource: {
						fields: {
							attributes: f('KeyValue', 1, 'repeated'), droppedAttributesCount: f('uint32', 2),
							entityRefs: f('EntityRef', 3, 'repeated'),
						},
					},
					ExportLogsServiceRequest: { fields: { resourceLogs: f('ResourceLogs', 1, 'repeated') } },
					ResourceLogs: {
						fields: {
							resource: f('Resource', 1), scopeLogs: f('ScopeLogs', 2, 'repeated'),
							schemaUrl: f('string', 3),
						},
					},
					ScopeLogs: {
						fields: {
							scope: f('InstrumentationScope', 1), logRecords: f('LogRecord', 2, 'repeated'),
							schemaUrl: f('string', 3),
						},
					},
					LogRecord: {
						fields: {
							timeUnixNano: f('fixed64', 1), observedTimeUnixNano: f('fixed64', 11),
							severityNumber: f('int32', 2), severityText: f('string', 3), body: f('AnyValue', 5),
							attributes: f('KeyValue', 6, 'repeated'), droppedAttributesCount: f('uint32', 7),
							flags: f('fixed32', 8), traceId: f('bytes', 9), spanId: f('bytes', 10),
							eventName: f('string', 12),
						},
					},
				},
			},
		},
	};
	return protobuf.Root.fromJSON(descriptor).lookupType('otlp.ExportLogsServiceRequest');
}

function requestType(signal) {
	const c = root.opentelemetry.proto.collector;
	switch (signal) {
	case 'traces': return c.trace.v1.ExportTraceServiceRequest;
	case 'metrics': return c.metrics.v1.ExportMetricsServiceRequest;
	case 'logs': return logsRequestType();
	}
	throw new Error('unknown signal ' + signal);
}

// toObject gives bytes as base64, the OTLP/JSON form of bytesValue; ids are hex there.
const ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);

function idsToHex(v) {
	if (Array.isArray(v))
		return v.map(idsToHex);
	if (v && typeof v === 'object') {
		const out = {};
		for (const [k, x] of Object.entries(v))
			out[k] = ID_FIELDS.has(k) && typeof x === 'string' ? Buffer.from(x, 'base64').toString('hex') : idsToHex(x);
		return out;
	}
	return v;
}

function decode(signal, bytes) {
	const type = requestType(signal);
	const msg = type.decode(bytes);
	const obj = type.toObject(msg, { longs: String, enums: Number, bytes: String, defaults: false });
	return idsToHex(obj);
}

function usage(msg) {
	if (msg)
		process.stderr.write(`otlp_decode: ${msg}\n`);
	process.stderr.write('usage: node otlp_decode.js [--signal traces|logs|metrics] [--label TEXT] ' +
		'[--dump OUT.json] INPUT.pb EXPECTED.json\n');
	process.exit(2);
}

function main(argv) {
	let signal = null, label = null, dump = null;
	const files = [];
	for (let k = 0; k < argv.length; k++) {
		const a = argv[k];
		if (a === '--signal')
			signal = argv[++k];
		else if (a === '--label')
			label = argv[++k];
		else if (a === '--dump')
			dump = argv[++k];
		else if (a.startsWith('--'))
			usage(`unknown option ${a}`);
		else
			files.push(a);
	}
	if (files.length !== 2)
		usage('need INPUT.pb and EXPECTED.json');
	if (signal !== null && !SIGNALS[signal])
		usage(`unknown signal ${signal}`);
	const [pbFile, expFile] = files;
	label = label || `${pbFile} (decoded) vs ${expFile}`;

	let expected, decoded;
	try {
		expected = parseJson(fs.readFileSync(expFile, 'utf8'));
	} catch (err) {
		process.stdout.write(`FAIL ${label}: expected ${expFile}: ${err.message}\n`);
		return 1;
	}
	signal = signal || detectSignal(expected);
	if (!signal) {
		process.stdout.write(`FAIL ${label}: expected file has none of resourceSpans, resourceLogs, resourceMetrics\n`);
		return 1;
	}
	try {
		decoded = decode(signal, fs.readFileSync(pbFile));
	} catch (err) {
		process.stdout.write(`FAIL ${label}: protobuf decode of ${pbFile} failed: ${err.message}\n`);
		return 1;
	}
	if (dump) {
		fs.writeFileSync(dump, JSON.stringify(decoded, (k, v) =>
			(typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 1));
	}
	const { diffs, summary } = compareRequests(signal, expected, decoded, { expectedIsSdk: true });
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

if (require.main === module)
	process.exitCode = main(process.argv.slice(2));
else
	module.exports = { requestType };
