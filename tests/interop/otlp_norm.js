// otlp_norm.js - brings OTLP/JSON requests (or protobuf requests decoded to the same
// shape) into one canonical form and compares two of them field by field, for the
// interop test's comparison and decoder scripts.
//
// The canonical form follows proto3 semantics: every field of a message is present
// (absent fields take their default, so a missing field equals 0, "", false or []);
// 64-bit integers are decimal strings, enums are numbers, trace and span ids lower-case
// hex, bytes hex. Members of a oneof (AnyValue's value, a data point's value, a metric's
// data) and proto3 `optional` fields keep their presence: {"intValue": 0} is not {}.
// A oneof is stored as '@group': {kind: member name, v: value} or null.
// Field names must be the lowerCamelCase names of the OTLP/JSON encoding; any other
// field is reported, so a writer that misspells a field fails instead of losing it.
'use strict';

// ---- Schema: the messages of the OTLP request protos, with their JSON names -------
//
// Scalar types: string, bool, double, int32, uint32, int64 (signed 64-bit), uint64,
// bytes (base64 in JSON), id (hex in JSON, per the OTLP/JSON encoding), enum (number or
// enum value name). [T] is a repeated field. A field listed in `opt` has presence.

const SPAN_KIND = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER',
	'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_CODE = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
const TEMPORALITY = ['AGGREGATION_TEMPORALITY_UNSPECIFIED', 'AGGREGATION_TEMPORALITY_DELTA',
	'AGGREGATION_TEMPORALITY_CUMULATIVE'];
const SEVERITY = ['SEVERITY_NUMBER_UNSPECIFIED'];
for (const level of ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'])
	for (const n of ['', '2', '3', '4'])
		SEVERITY.push('SEVERITY_NUMBER_' + level + n);

const ENUMS = { SpanKind: SPAN_KIND, StatusCode: STATUS_CODE, Temporality: TEMPORALITY, Severity: SEVERITY };

const SCHEMA = {
	// common.proto, resource.proto
	AnyValue: {
		oneof: {
			value: {
				stringValue: 'string', boolValue: 'bool', intValue: 'int64', doubleValue: 'double',
				arrayValue: 'ArrayValue', kvlistValue: 'KeyValueList', bytesValue: 'bytes',
			},
		},
	},
	ArrayValue: { fields: { values: ['AnyValue'] } },
	KeyValueList: { fields: { values: ['KeyValue'] } },
	KeyValue: { fields: { key: 'string', value: 'AnyValue' }, label: 'key' },
	InstrumentationScope: {
		fields: { name: 'string', version: 'string', attributes: ['KeyValue'], droppedAttributesCount: 'uint32' },
	},
	EntityRef: { fields: { schemaUrl: 'string', type: 'string', idKeys: ['string'], descriptionKeys: ['string'] } },
	Resource: { fields: { attributes: ['KeyValue'], droppedAttributesCount: 'uint32', entityRefs: ['EntityRef'] } },

	// trace.proto
	TracesRequest: { fields: { resourceSpans: ['ResourceSpans'] } },
	ResourceSpans: { fields: { resource: 'Resource', scopeSpans: ['ScopeSpans'], schemaUrl: 'string' } },
	ScopeSpans: { fields: { scope: 'InstrumentationScope', spans: ['Span'], schemaUrl: 'string' } },
	Span: {
		fields: {
			traceId: 'id', spanId: 'id', traceState: 'string', parentSpanId: 'id', flags: 'uint32',
			name: 'string', kind: 'enum:SpanKind', startTimeUnixNano: 'uint64', endTimeUnixNano: 'uint64',
			attributes: ['KeyValue'], droppedAttributesCount: 'uint32', events: ['Event'],
			droppedEventsCount: 'uint32', links: ['Link'], droppedLinksCount: 'uint32', status: 'Status',
		},
		label: 'name',
	},
	Event: {
		fields: { timeUnixNano: 'uint64', name: 'string', attributes: ['KeyValue'], droppedAttributesCount: 'uint32' },
		label: 'name',
	},
	Link: {
		fields: {
			traceId: 'id', spanId: 'id', traceState: 'string', attributes: ['KeyValue'],
			droppedAttributesCount: 'uint32', flags: 'uint32',
		},
	},
	Status: { fields: { message: 'string', code: 'enum:StatusCode' } },

	// logs.proto
	LogsRequest: { fields: { resourceLogs: ['ResourceLogs'] } },
	ResourceLogs: { fields: { resource: 'Resource', scopeLogs: ['ScopeLogs'], schemaUrl: 'string' } },
	ScopeLogs: { fields: { scope: 'InstrumentationScope', logRecords: ['LogRecord'], schemaUrl: 'string' } },
	LogRecord: {
		fields: {
			timeUnixNano: 'uint64', observedTimeUnixNano: 'uint64', severityNumber: 'enum:Severity',
			severityText: 'string', body: 'AnyValue', attributes: ['KeyValue'], droppedAttributesCount: 'uint32',
			flags: 'uint32', traceId: 'id', spanId: 'id', eventName: 'string',
		},
	},

	// metrics.proto
	MetricsRequest: { fields: { resourceMetrics: ['ResourceMetrics'] } },
	ResourceMetrics: { fields: { resource: 'Resource', scopeMetrics: ['ScopeMetrics'], schemaUrl: 'string' } },
	ScopeMetrics: { fields: { scope: 'InstrumentationScope', metrics: ['Metric'], schemaUrl: 'string' } },
	Metric: {
		fields: { name: 'string', description: 'string', unit: 'string', metadata: ['KeyValue'] },
		oneof: {
			data: {
				gauge: 'Gauge', sum: 'Sum', histogram: 'Histogram',
				exponentialHistogram: 'ExponentialHistogram', summary: 'Summary',
			},
		},
		label: 'name',
	},
	Gauge: { fields: { dataPoints: ['NumberDataPoint'] } },
	Sum: { fields: { dataPoints: ['NumberDataPoint'], aggregationTemporality: 'enum:Temporality', isMonotonic: 'bool' } },
	Histogram: { fields: { dataPoints: ['HistogramDataPoint'], aggregationTemporality: 'enum:Temporality' } },
	ExponentialHistogram: {
		fields: { dataPoints: ['ExponentialHistogramDataPoint'], aggregationTemporality: 'enum:Temporality' },
	},
	Summary: { fields: { dataPoints: ['SummaryDataPoint'] } },
	NumberDataPoint: {
		fields: {
			attributes: ['KeyValue'], startTimeUnixNano: 'uint64', timeUnixNano: 'uint64',
			exemplars: ['Exemplar'], flags: 'uint32',
		},
		oneof: { value: { asDouble: 'double', asInt: 'int64' } },
	},
	HistogramDataPoint: {
		fields: {
			attributes: ['KeyValue'], startTimeUnixNano: 'uint64', timeUnixNano: 'uint64', count: 'uint64',
			sum: 'double', bucketCounts: ['uint64'], explicitBounds: ['double'], exemplars: ['Exemplar'],
			flags: 'uint32', min: 'double', max: 'double',
		},
		opt: ['sum', 'min', 'max'],
	},
	ExponentialHistogramDataPoint: {
		fields: {
			attributes: ['KeyValue'], startTimeUnixNano: 'uint64', timeUnixNano: 'uint64', count: 'uint64',
			sum: 'double', scale: 'int32', zeroCount: 'uint64', positive: 'Buckets', negative: 'Buckets',
			flags: 'uint32', exemplars: ['Exemplar'], min: 'double', max: 'double', zeroThreshold: 'double',
		},
		opt: ['sum', 'min', 'max'],
	},
	Buckets: { fields: { offset: 'int32', bucketCounts: ['uint64'] } },
	SummaryDataPoint: {
		fields: {
			attributes: ['KeyValue'], startTimeUnixNano: 'uint64', timeUnixNano: 'uint64', count: 'uint64',
			sum: 'double', quantileValues: ['ValueAtQuantile'], flags: 'uint32',
		},
	},
	ValueAtQuantile: { fields: { quantile: 'double', value: 'double' } },
	Exemplar: {
		fields: { filteredAttributes: ['KeyValue'], timeUnixNano: 'uint64', spanId: 'id', traceId: 'id' },
		oneof: { value: { asDouble: 'double', asInt: 'int64' } },
	},
};

// The top-level key of each signal's request.
const SIGNALS = {
	traces: { key: 'resourceSpans', type: 'TracesRequest' },
	logs: { key: 'resourceLogs', type: 'LogsRequest' },
	metrics: { key: 'resourceMetrics', type: 'MetricsRequest' },
};

// ---- A JSON parser that keeps number literals exact -------------------------------
//
// JSON.parse turns 9007199254740993 into ...992; a writer that prints 64-bit integers as
// JSON numbers must not be judged by what a double can hold. Numbers come back as
// JsonNum holding the literal; object keys keep their order; duplicate keys are errors.

class JsonNum {
	constructor(raw) {
		this.raw = raw;
	}
}

function parseJson(text) {
	let i = 0;
	const ws = /[ \t\n\r]*/y;
	const num = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
	const str = /"(?:[^"\\\u0000-\u001f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/y;
	function fail(what) {
		throw new SyntaxError(`invalid JSON at byte offset ${Buffer.byteLength(text.slice(0, i))}: ${what}`);
	}
	function skip() {
		ws.lastIndex = i;
		ws.exec(text);
		i = ws.lastIndex;
	}
	function token(re) {
		re.lastIndex = i;
		const m = re.exec(text);
		if (!m)
			return null;
		i = re.lastIndex;
		return m[0];
	}
	function value(depth) {
		if (depth > 200)
			fail('nesting too deep');
		skip();
		const c = text[i];
		if (c === '{') {
			i++;
			const obj = Object.create(null);
			skip();
			if (text[i] === '}') {
				i++;
				return obj;
			}
			for (;;) {
				skip();
				const k = token(str);
				if (k === null)
					fail('expected a string key');
				const key = JSON.parse(k);
				if (Object.prototype.hasOwnProperty.call(obj, key))
					fail(`duplicate key "${key}"`);
				skip();
				if (text[i++] !== ':')
					fail('expected ":"');
				obj[key] = value(depth + 1);
				skip();
				const d = text[i++];
				if (d === '}')
					return obj;
				if (d !== ',')
					fail('expected "," or "}"');
			}
		}
		if (c === '[') {
			i++;
			const arr = [];
			skip();
			if (text[i] === ']') {
				i++;
				return arr;
			}
			for (;;) {
				arr.push(value(depth + 1));
				skip();
				const d = text[i++];
				if (d === ']')
					return arr;
				if (d !== ',')
					fail('expected "," or "]"');
			}
		}
		if (c === '"')
			return JSON.parse(token(str) ?? fail('bad string'));
		for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
			if (text.startsWith(lit, i)) {
				i += lit.length;
				return v;
			}
		}
		const n = token(num);
		if (n === null)
			fail('unexpected character');
		return new JsonNum(n);
	}
	const v = value(0);
	skip();
	if (i !== text.length)
		fail('trailing data');
	return v;
}

// ---- Normalisation ------------------------------------------------------------------

const INT64_MIN = -(2n ** 63n), INT64_MAX = 2n ** 63n - 1n, UINT64_MAX = 2n ** 64n - 1n;

// Scalars are accepted as the proto3 JSON mapping allows (numbers or strings for
// integers and doubles); anything else is an error at that path.
function scalar(type, v, path, errs) {
	const bad = what => {
		errs.push(`${path}: ${what}, got ${show(v)}`);
		return undefined;
	};
	const text = v instanceof JsonNum ? v.raw : typeof v === 'number' ? String(v) : v;
	switch (type) {
	case 'string':
		return typeof v === 'string' ? v : bad('expected a string');
	case 'bool':
		return typeof v === 'boolean' ? v : bad('expected true or false');
	case 'int32': case 'uint32': case 'int64': case 'uint64': {
		if (typeof text !== 'string' || typeof v === 'string' && !/^-?[0-9]+$/.test(v))
			return bad(`expected an integer (${type})`);
		let n;
		if (/^-?[0-9]+$/.test(text)) {
			n = BigInt(text);
		} else {
			// 1e3 or 5.0: allowed by proto3 JSON when the value is integral.
			const d = Number(text);
			if (!Number.isInteger(d))
				return bad(`expected an integer (${type})`);
			n = BigInt(d);
		}
		const [lo, hi] = { int32: [-(2n ** 31n), 2n ** 31n - 1n], uint32: [0n, 2n ** 32n - 1n],
			int64: [INT64_MIN, INT64_MAX], uint64: [0n, UINT64_MAX] }[type];
		if (n < lo || n > hi)
			return bad(`${type} out of range`);
		return type.endsWith('64') ? n.toString() : Number(n);
	}
	case 'double':
		if (typeof v === 'number')
			return v;
		if (v instanceof JsonNum)
			return Number(v.raw);
		if (v === 'NaN' || v === 'Infinity' || v === '-Infinity')
			return Number(v);
		if (typeof v === 'string' && /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/.test(v))
			return Number(v);
		return bad('expected a double');
	case 'bytes':
		if (typeof v !== 'string' || !/^[A-Za-z0-9+/\-_]*={0,2}$/.test(v))
			return bad('expected base64 bytes');
		return Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('hex');
	case 'id':
		if (typeof v !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(v))
			return bad('expected a hex id');
		return v.toLowerCase();
	default:
		if (type.startsWith('enum:')) {
			const names = ENUMS[type.slice(5)];
			if (typeof v === 'string' && names.includes(v))
				return names.indexOf(v);
			return scalar('int32', v, path, errs);
		}
		throw new Error('otlp_norm: unknown type ' + type);
	}
}

function defaultOf(type) {
	if (Array.isArray(type))
		return [];
	switch (type) {
	case 'string': case 'bytes': case 'id': return '';
	case 'bool': return false;
	case 'int64': case 'uint64': return '0';
	case 'double': case 'int32': case 'uint32': return 0;
	default:
		if (type.startsWith('enum:'))
			return 0;
		return normMessage(type, {}, '', []);
	}
}

function normField(type, v, path, errs) {
	if (Array.isArray(type)) {
		if (!Array.isArray(v)) {
			errs.push(`${path}: expected an array, got ${show(v)}`);
			return [];
		}
		const label = SCHEMA[type[0]]?.label;
		return v.map((item, k) => {
			let p = `${path}[${k}]`;
			if (label && item && typeof item[label] === 'string')
				p += `(${JSON.stringify(item[label])})`;
			return normField(type[0], item, p, errs);
		});
	}
	if (SCHEMA[type])
		return normMessage(type, v, path, errs);
	return scalar(type, v, path, errs);
}

function normMessage(type, obj, path, errs) {
	const schema = SCHEMA[type];
	const out = {};
	if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || obj instanceof JsonNum) {
		errs.push(`${path || '(top)'}: expected an object (${type}), got ${show(obj)}`);
		obj = {};
	}
	const fields = schema.fields || {};
	const opt = schema.opt || [];
	const seen = new Set();
	for (const [name, ftype] of Object.entries(fields)) {
		const p = path ? `${path}.${name}` : name;
		const v = obj[name];
		seen.add(name);
		if (v === undefined || v === null) {
			out[name] = opt.includes(name) ? null : defaultOf(ftype);
			continue;
		}
		const n = normField(ftype, v, p, errs);
		out[name] = n === undefined ? defaultOf(ftype) : n;
	}
	for (const [group, members] of Object.entries(schema.oneof || {})) {
		let chosen = null;
		for (const [name, ftype] of Object.entries(members)) {
			seen.add(name);
			const v = obj[name];
			if (v === undefined || v === null)
				continue;
			const p = path ? `${path}.${name}` : name;
			if (chosen) {
				errs.push(`${p}: more than one member of oneof ${group} (also ${chosen.kind})`);
				continue;
			}
			chosen = { kind: name, v: normField(ftype, v, p, errs) };
		}
		out['@' + group] = chosen;
	}
	for (const key of Object.keys(obj)) {
		if (seen.has(key))
			continue;
		errs.push(`${path ? path + '.' : ''}${key}: unknown field of ${type}`);
	}
	return out;
}

// Normalises a whole request of the signal. With sdkQuirks, what the JS SDK's JSON
// serializer adds beyond the proto is accepted: it copies the resource's schema URL into
// the Resource object as well as into ResourceSpans/-Logs/-Metrics, where the proto has
// it. The copy must equal the real field, so skipping it cannot hide a difference.
function normRequest(signal, obj, opts = {}) {
	const errs = [];
	const sig = SIGNALS[signal];
	if (!sig)
		throw new Error('otlp_norm: unknown signal ' + signal);
	if (opts.sdkQuirks)
		obj = withoutResourceSchemaUrl(obj, sig.key, errs);
	return { value: normMessage(sig.type, obj, '', errs), errors: errs };
}

function withoutResourceSchemaUrl(obj, key, errs) {
	if (!obj || typeof obj !== 'object' || !Array.isArray(obj[key]))
		return obj;
	const copy = Object.assign(Object.create(null), obj);
	copy[key] = obj[key].map((r, k) => {
		if (!r || typeof r !== 'object' || !r.resource || typeof r.resource !== 'object' ||
		    !('schemaUrl' in r.resource))
			return r;
		const res = Object.assign(Object.create(null), r.resource);
		if (res.schemaUrl !== (r.schemaUrl ?? undefined))
			errs.push(`${key}[${k}].resource.schemaUrl: ${show(res.schemaUrl)} differs from ` +
				`${key}[${k}].schemaUrl ${show(r.schemaUrl)}`);
		delete res.schemaUrl;
		return Object.assign(Object.create(null), r, { resource: res });
	});
	return copy;
}

function detectSignal(obj) {
	if (obj && typeof obj === 'object') {
		for (const [name, sig] of Object.entries(SIGNALS))
			if (sig.key in obj)
				return name;
	}
	return null;
}

// ---- Comparison -----------------------------------------------------------------------

function show(v) {
	if (v instanceof JsonNum)
		return v.raw;
	if (typeof v === 'number' && !Number.isFinite(v))
		return String(v);
	if (typeof v === 'string' && v.length > 80)
		return JSON.stringify(v.slice(0, 77) + '...');
	const s = JSON.stringify(v, (k, x) => (x instanceof JsonNum ? x.raw : x));
	if (s === undefined)
		return String(v);
	return s.length > 120 ? s.slice(0, 117) + '...' : s;
}

function sameScalar(a, b) {
	if (typeof a === 'number' && typeof b === 'number')
		return a === b ? (a !== 0 || Object.is(a, b)) : (Number.isNaN(a) && Number.isNaN(b));
	return a === b;
}

// Walks two canonical values; pushes "path: expected X, got Y" for each difference.
// Array elements are labelled with the expected side's name or key.
function diff(exp, act, path, out) {
	if (Array.isArray(exp) || Array.isArray(act)) {
		if (!Array.isArray(exp) || !Array.isArray(act)) {
			out.push(`${path}: expected ${show(exp)}, got ${show(act)}`);
			return;
		}
		if (exp.length !== act.length)
			out.push(`${path}: expected ${exp.length} items, got ${act.length}`);
		const n = Math.min(exp.length, act.length);
		for (let k = 0; k < n; k++)
			diff(exp[k], act[k], `${path}[${k}]${labelOf(exp[k])}`, out);
		return;
	}
	if (exp && typeof exp === 'object' && act && typeof act === 'object') {
		if ('kind' in exp && 'v' in exp && Object.keys(exp).length === 2) {
			// A oneof: the member must match before its value is compared.
			if (exp.kind !== act.kind) {
				out.push(`${path}: expected ${exp.kind} ${show(exp.v)}, got ${act.kind} ${show(act.v)}`);
				return;
			}
			diff(exp.v, act.v, `${path}.${exp.kind}`, out);
			return;
		}
		// Oneof groups ('@value', '@data') add no path element: the member name does.
		for (const key of Object.keys(exp))
			diff(exp[key], act[key], key.startsWith('@') ? path : path ? `${path}.${key}` : key, out);
		return;
	}
	if (exp && typeof exp === 'object' || act && typeof act === 'object') {
		// A oneof set on one side only.
		const d = x => (x && typeof x === 'object' && 'kind' in x ? `${x.kind} ${show(x.v)}` : 'nothing');
		out.push(`${path}: expected ${d(exp)}, got ${d(act)}`);
		return;
	}
	if (!sameScalar(exp, act))
		out.push(`${path}: expected ${show(exp)}, got ${show(act)}`);
}

function labelOf(v) {
	if (v && typeof v === 'object') {
		if (typeof v.key === 'string' && 'value' in v)
			return `(${JSON.stringify(v.key)})`;
		if (typeof v.name === 'string')
			return `(${JSON.stringify(v.name)})`;
	}
	return '';
}

// Counts what a canonical request holds, for the test's log.
function summarize(signal, req) {
	const c = { resources: 0, scopes: 0, records: 0, attributes: 0, events: 0, links: 0, points: 0 };
	const key = SIGNALS[signal].key;
	const inner = { traces: ['scopeSpans', 'spans'], logs: ['scopeLogs', 'logRecords'],
		metrics: ['scopeMetrics', 'metrics'] }[signal];
	const walk = v => {
		if (Array.isArray(v)) {
			v.forEach(walk);
		} else if (v && typeof v === 'object') {
			for (const [k, x] of Object.entries(v)) {
				if ((k === 'attributes' || k === 'filteredAttributes' || k === 'values') && Array.isArray(x))
					c.attributes += x.filter(e => e && typeof e === 'object' && 'key' in e).length;
				walk(x);
			}
		}
	};
	for (const r of req[key]) {
		c.resources++;
		for (const s of r[inner[0]]) {
			c.scopes++;
			for (const rec of s[inner[1]]) {
				c.records++;
				c.events += (rec.events || []).length;
				c.links += (rec.links || []).length;
				if (rec['@data'])
					c.points += rec['@data'].v.dataPoints.length;
			}
		}
	}
	walk(req);
	const noun = { traces: 'spans', logs: 'log records', metrics: 'metrics' }[signal];
	let s = `${c.resources} resources, ${c.scopes} scopes, ${c.records} ${noun}`;
	if (signal === 'traces')
		s += `, ${c.events} events, ${c.links} links`;
	if (signal === 'metrics')
		s += `, ${c.points} data points`;
	return s + `, ${c.attributes} key/values`;
}

// Compares the canonical forms of expected and actual; returns the list of differences
// (normalisation errors of either side first). expectedIsSdk / actualIsSdk: that side
// is the JS SDK's JSON, whose quirks normRequest accepts.
// opts.expectedNorm: expected's normRequest() result, when already computed.
function compareRequests(signal, expected, actual, opts = {}) {
	const e = opts.expectedNorm || normRequest(signal, expected, { sdkQuirks: opts.expectedIsSdk });
	const a = normRequest(signal, actual, { sdkQuirks: opts.actualIsSdk });
	const out = [];
	for (const m of e.errors)
		out.push('expected side: ' + m);
	for (const m of a.errors)
		out.push('actual side: ' + m);
	diff(e.value, a.value, '', out);
	return { diffs: out, summary: summarize(signal, e.value) };
}

module.exports = { parseJson, JsonNum, normRequest, compareRequests, detectSignal, summarize, SIGNALS, SCHEMA };
