// gen_otel.js - produces OTLP with the OpenTelemetry JS SDK for the interop test: spans,
// log records and metrics that exercise every field the SDK can emit, each serialized by
// @opentelemetry/otlp-transformer both as JSON and as protobuf.
//
// Usage: node gen_otel.js OUTDIR
// Writes OUTDIR/{traces,logs,metrics}.{json,pb}. Traces and logs are deterministic (fixed
// ids and timestamps); metric timestamps come from the SDK's clock.
'use strict';

const fs = require('fs');
const path = require('path');

const api = require('@opentelemetry/api');
const { TraceState } = require('@opentelemetry/core');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const {
	BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, AlwaysOnSampler,
} = require('@opentelemetry/sdk-trace-base');
const {
	LoggerProvider, InMemoryLogRecordExporter, SimpleLogRecordProcessor,
} = require('@opentelemetry/sdk-logs');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const {
	MeterProvider, MetricReader, AggregationType, AggregationTemporality,
} = require('@opentelemetry/sdk-metrics');
const {
	JsonTraceSerializer, ProtobufTraceSerializer,
	JsonLogsSerializer, ProtobufLogsSerializer,
	JsonMetricsSerializer, ProtobufMetricsSerializer,
} = require('@opentelemetry/otlp-transformer');

const { SpanKind, SpanStatusCode, TraceFlags } = api;

// Deterministic ids: each call returns the next id from a fixed list, so a failure can
// be reproduced and ids with high bits and leading zeros are covered.
class ListIdGenerator {
	constructor(traceIds, spanIds) {
		this.traceIds = traceIds.slice();
		this.spanIds = spanIds.slice();
	}
	generateTraceId() {
		if (!this.traceIds.length)
			throw new Error('gen_otel: out of trace ids');
		return this.traceIds.shift();
	}
	generateSpanId() {
		if (!this.spanIds.length)
			throw new Error('gen_otel: out of span ids');
		return this.spanIds.shift();
	}
}

// Ids from a counter, for the bulk part: trace ids and span ids never repeat.
class CountingIdGenerator {
	constructor(prefix) {
		this.prefix = prefix;
		this.n = 0;
	}
	generateTraceId() {
		return this.prefix + (++this.n).toString(16).padStart(32 - this.prefix.length, '0');
	}
	generateSpanId() {
		return (++this.n).toString(16).padStart(16, '0');
	}
}

// Seconds and nanoseconds since the epoch: sub-millisecond precision survives only if
// every layer keeps all 19 digits of the 64-bit nanosecond count.
const T0 = 1700000000;
function at(sec, nanos) {
	return [T0 + sec, nanos];
}

// Attribute values of every type a span accepts: strings (empty, escapes, non-ASCII),
// ints (zero, negative, the largest safe integer), doubles, bools (false is a set value,
// not an absent one) and homogeneous arrays, one with an unset (null) element. Doubles
// must have a fraction: the SDK writes every integral number, even 1e300, as intValue.
const allTypes = {
	'str': 'plain',
	'str.empty': '',
	'str.escapes': 'quote " backslash \\ slash / newline \n tab \t nul-free \u0001 end',
	'str.unicode': 'h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c \ud83d\ude80',
	'int': 42,
	'int.zero': 0,
	'int.negative': -7,
	'int.max_safe': Number.MAX_SAFE_INTEGER,
	'int.min_safe': Number.MIN_SAFE_INTEGER,
	'double': 3.25,
	'double.negative': -0.1,
	'double.tiny': 5e-324,
	'double.small': 1.2345678901234567e-300,
	'double.third': 1 / 3,
	'bool.true': true,
	'bool.false': false,
	'array.str': ['a', '', 'c\u00e7'],
	'array.int': [1, -2, 3000000000],
	'array.double': [0.5, -1.25, 6.02214076e-23],
	'array.bool': [true, false, true],
	'array.empty': [],
	'array.with_null': ['x', null, 'z'],
};

function spanSet() {
	const exporter = new InMemorySpanExporter();

	const resA = resourceFromAttributes({
		'service.name': 'checkout',
		'service.version': '2.4.1',
		'deployment.environment': 'staging',
		'host.cpu.count': 16,
		'process.runtime.ok': true,
		'sonde.ratio': 0.75,
		'sonde.tags': ['a', 'b'],
	}, { schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' });
	const provA = new BasicTracerProvider({
		resource: resA,
		sampler: new AlwaysOnSampler(),
		spanProcessors: [new SimpleSpanProcessor(exporter)],
		idGenerator: new ListIdGenerator([
			'0af7651916cd43dd8448eb211c80319c',
			'ff000000000000000000000000000001',
			'00000000000000000000000000000abc',
		], [
			'b7ad6b7169203331', '00f067aa0ba902b7', '8000000000000000',
			'0000000000000001', 'fedcba9876543210', '53995c3f42cd8ad8',
			'1111111111111111', '2222222222222222',
		]),
	});
	const http = provA.getTracer('sonde.interop.http', '1.2.3',
		{ schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' });
	const db = provA.getTracer('sonde.interop.db');

	// Trace 1: SERVER root -> CLIENT child -> INTERNAL grandchild, plus a PRODUCER.
	const root = http.startSpan('GET /checkout', {
		kind: SpanKind.SERVER,
		startTime: at(0, 123456789),
		attributes: allTypes,
	});
	const ctxRoot = api.trace.setSpan(api.ROOT_CONTEXT, root);
	root.addEvent('cache.miss', { 'cache.key': 'cart:42', 'cache.size': 1024, 'cache.hit_ratio': 0.125 },
		at(0, 200000001));
	root.addEvent('no.attributes', at(0, 300000000));
	root.recordException(Object.assign(new Error('card declined: insufficient funds'),
		{ name: 'PaymentError' }), at(0, 900000999));
	root.setStatus({ code: SpanStatusCode.ERROR, message: 'payment declined \u2717' });

	const client = http.startSpan('POST /payment', {
		kind: SpanKind.CLIENT,
		startTime: at(0, 250000000),
		attributes: { 'http.request.method': 'POST', 'server.port': 8443, 'url.full': 'https://pay.example/v1' },
	}, ctxRoot);
	const ctxClient = api.trace.setSpan(ctxRoot, client);
	const compute = db.startSpan('compute', {
		kind: SpanKind.INTERNAL,
		startTime: at(0, 260000000),
	}, ctxClient);
	compute.setAttribute('db.rows', 12);
	compute.end(at(0, 260000001));
	client.setStatus({ code: SpanStatusCode.OK });
	client.end(at(0, 899999999));

	const producer = http.startSpan('orders publish', {
		kind: SpanKind.PRODUCER,
		startTime: at(0, 950000000),
		attributes: { 'messaging.system': 'kafka', 'messaging.batch.message_count': 3 },
	}, ctxRoot);
	producer.end(at(0, 950500000));
	root.end(at(1, 987654321));

	// Trace 2: a CONSUMER whose parent is remote and carries a trace state; its links
	// point into trace 1 (local, with attributes) and to a remote, unsampled context.
	const remoteParent = {
		traceId: '5b8efff798038103d269b633813fc60c',
		spanId: 'eee19b7ec3c1b174',
		traceFlags: TraceFlags.SAMPLED,
		isRemote: true,
		traceState: new TraceState('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'),
	};
	const ctxRemote = api.trace.setSpanContext(api.ROOT_CONTEXT, remoteParent);
	const consumer = db.startSpan('orders process', {
		kind: SpanKind.CONSUMER,
		startTime: at(2, 1),
		links: [{
			context: root.spanContext(),
			attributes: { 'link.reason': 'follows-from', 'link.index': 0, 'link.weight': 0.5, 'link.ok': true },
		}],
	}, ctxRemote);
	consumer.addLink({
		context: {
			traceId: 'ffffffffffffffffffffffffffffffff',
			spanId: 'ffffffffffffffff',
			traceFlags: TraceFlags.NONE,
			isRemote: true,
			traceState: new TraceState('vendor=v1'),
		},
	});
	consumer.addEvent('message.received', { 'messaging.message.id': 'm-1', 'messaging.message.body.size': 0 },
		at(2, 500));
	consumer.end(at(3, 999999999));

	// Trace 3: an empty name, no attributes, default kind, unset status, zero duration.
	const bare = db.startSpan('', { startTime: at(4, 0) }, api.ROOT_CONTEXT);
	bare.end(at(4, 0));

	// Second resource, with span limits low enough that the SDK drops attributes, events
	// and links and reports how many it dropped.
	const resB = resourceFromAttributes({ 'service.name': 'billing', 'service.instance.id': 'b-7' });
	const provB = new BasicTracerProvider({
		resource: resB,
		sampler: new AlwaysOnSampler(),
		spanProcessors: [new SimpleSpanProcessor(exporter)],
		spanLimits: {
			attributeCountLimit: 3,
			eventCountLimit: 2,
			linkCountLimit: 1,
			attributePerEventCountLimit: 1,
			attributePerLinkCountLimit: 1,
			attributeValueLengthLimit: 8,
		},
		idGenerator: new ListIdGenerator(['4bf92f3577b34da6a3ce929d0e0e4736'],
			['00f067aa0ba902b8', '0102030405060708']),
	});
	const billing = provB.getTracer('sonde.interop.billing', '0.0.1-alpha+build.5');
	const limited = billing.startSpan('invoice render', {
		kind: SpanKind.SERVER,
		startTime: at(10, 111111111),
		attributes: { a1: 'truncated to eight', a2: 2, a3: true, a4: 'dropped', a5: 5.5 },
		links: [
			{ context: remoteParent, attributes: { kept: 1, dropped: 2 } },
			{ context: root.spanContext(), attributes: { x: 'y' } },
		],
	}, api.ROOT_CONTEXT);
	for (let i = 0; i < 3; i++)
		limited.addEvent('tick ' + i, { n: i, extra: 'dropped' }, at(10, 200000000 + i));
	limited.setStatus({ code: SpanStatusCode.ERROR });
	const child = billing.startSpan('pdf', { startTime: at(10, 300000000) },
		api.trace.setSpan(api.ROOT_CONTEXT, limited));
	child.end(at(10, 400000000));
	limited.end(at(11, 0));

	// Third resource: volume (hundreds of spans in one scope, with long and multi-byte
	// strings) so that readers and writers grow their buffers and arrays.
	const provC = new BasicTracerProvider({
		resource: resourceFromAttributes({ 'service.name': 'bulk', 'blob': 'x\u00e9\u4e2d'.repeat(20000) }),
		sampler: new AlwaysOnSampler(),
		spanProcessors: [new SimpleSpanProcessor(exporter)],
		idGenerator: new CountingIdGenerator('c0ffee'),
	});
	const bulk = provC.getTracer('sonde.interop.bulk', '9');
	for (let t = 0; t < 25; t++) {
		const top = bulk.startSpan(`batch ${t}`, { startTime: at(20 + t, 1) }, api.ROOT_CONTEXT);
		const ctxTop = api.trace.setSpan(api.ROOT_CONTEXT, top);
		for (let k = 0; k < 15; k++) {
			const s = bulk.startSpan(`item ${t}.${k}`, {
				kind: k % 5, // SpanKind.INTERNAL (0) to CONSUMER (4)
				startTime: at(20 + t, 1000 * k + 7),
				attributes: { 'item.index': k, 'item.weight': k + 0.5, 'item.label': `\u00ab${t}/${k}\u00bb` },
			}, ctxTop);
			if (k % 4 === 0)
				s.addEvent('checkpoint', { 'k': k }, at(20 + t, 1000 * k + 8));
			s.end(at(20 + t, 1000 * k + 9));
		}
		top.end(at(21 + t, 0));
	}

	return exporter.getFinishedSpans();
}

function logSet() {
	const exporter = new InMemoryLogRecordExporter();
	const resA = resourceFromAttributes({ 'service.name': 'checkout', 'host.name': 'web-1' },
		{ schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' });
	const provA = new LoggerProvider({
		resource: resA,
		processors: [new SimpleLogRecordProcessor(exporter)],
	});
	const resB = resourceFromAttributes({ 'service.name': 'billing' });
	const provB = new LoggerProvider({
		resource: resB,
		logRecordLimits: { attributeCountLimit: 2 },
		processors: [new SimpleLogRecordProcessor(exporter)],
	});

	const app = provA.getLogger('sonde.interop.app', '3.1.4',
		{ schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' });
	const audit = provA.getLogger('sonde.interop.audit');
	const spanCtx = api.trace.setSpanContext(api.ROOT_CONTEXT, {
		traceId: '0af7651916cd43dd8448eb211c80319c',
		spanId: 'b7ad6b7169203331',
		traceFlags: TraceFlags.SAMPLED,
	});

	app.emit({
		timestamp: at(0, 123456789),
		observedTimestamp: at(0, 123999999),
		severityNumber: SeverityNumber.INFO,
		severityText: 'INFO',
		body: 'user 42 logged in \u2713',
		attributes: allTypes,
		context: spanCtx,
	});
	app.emit({
		timestamp: at(1, 1),
		observedTimestamp: at(1, 2),
		severityNumber: SeverityNumber.ERROR3,
		severityText: 'E3',
		eventName: 'payment.failed',
		body: {
			'order': { 'id': 'o-1', 'total': 99.5, 'items': 3, 'gift': false },
			'tags': ['x', 7, 2.5, true, null, { 'k': 'v' }, ['nested']],
			'raw': new Uint8Array([0, 1, 2, 0xfe, 0xff]),
			'empty.map': {},
			'empty.list': [],
		},
		attributes: {
			'bytes': new Uint8Array([0xde, 0xad, 0xbe, 0xef]),
			'map': { 'a': 1, 'b': 'two', 'c': [true] },
			'hetero': ['s', 1, 1.5, false],
		},
		exception: Object.assign(new Error('boom'), { name: 'TypeError' }),
	});
	audit.emit({
		timestamp: at(2, 0),
		observedTimestamp: at(2, 0),
		severityNumber: SeverityNumber.FATAL4,
		body: 42,
	});
	audit.emit({ timestamp: at(3, 999999999), observedTimestamp: at(3, 999999999), body: 6.25 });
	audit.emit({ timestamp: at(4, 5), observedTimestamp: at(4, 6), body: true });
	audit.emit({ timestamp: at(5, 5), observedTimestamp: at(5, 6), body: new Uint8Array([9, 8, 7]) });
	audit.emit({ timestamp: at(6, 5), observedTimestamp: at(6, 6) }); // no body at all
	audit.emit({ timestamp: at(7, 5), observedTimestamp: at(7, 6), body: '' });
	// A body nested 25 AnyValues deep (maps inside lists), and a long one. Deeper would
	// pass 100 nested messages, protobufjs's (and protoc's) decoding limit.
	let deep = 'bottom';
	for (let d = 0; d < 12; d++)
		deep = [{ ['level' + d]: deep }];
	audit.emit({ timestamp: at(8, 5), observedTimestamp: at(8, 6), body: { 'deep': deep } });
	audit.emit({ timestamp: at(9, 5), observedTimestamp: at(9, 6), body: 'line\n'.repeat(20000) });

	const other = provB.getLogger('sonde.interop.billing', '0.0.1');
	other.emit({
		timestamp: at(10, 10),
		observedTimestamp: at(10, 11),
		severityNumber: SeverityNumber.WARN,
		severityText: 'warning',
		body: 'three attributes, one dropped',
		attributes: { a: 1, b: 2, c: 3 },
		context: api.trace.setSpanContext(api.ROOT_CONTEXT, {
			traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
			spanId: '00f067aa0ba902b8',
			traceFlags: TraceFlags.NONE,
		}),
	});
	return exporter.getFinishedLogRecords();
}

// A reader that only collects on demand.
class PullReader extends MetricReader {
	async onForceFlush() {}
	async onShutdown() {}
}

async function metricSets() {
	const readerA = new PullReader();
	const provA = new MeterProvider({
		resource: resourceFromAttributes({ 'service.name': 'checkout', 'sonde.shard': 3 },
			{ schemaUrl: 'https://opentelemetry.io/schemas/1.24.0' }),
		readers: [readerA],
		views: [
			{ instrumentName: 'rpc.latency.exp', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } },
			{
				instrumentName: 'queue.wait',
				aggregation: {
					type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM,
					options: { boundaries: [0.5, 1, 2.5], recordMinMax: false },
				},
			},
		],
	});
	const m = provA.getMeter('sonde.interop.meter', '1.0.0',
		{ schemaUrl: 'https://opentelemetry.io/schemas/1.21.0' });
	const m2 = provA.getMeter('sonde.interop.meter2');

	const reqs = m.createCounter('http.requests', { description: 'Requests served', unit: '{request}',
		valueType: api.ValueType.INT });
	reqs.add(5, { 'http.route': '/checkout', 'http.status': 200, 'ok': true });
	reqs.add(2, { 'http.route': '/checkout', 'http.status': 500, 'ok': false });
	reqs.add(9007199254740000, { 'http.route': '/big' });
	const bytes = m.createCounter('net.bytes', { unit: 'By' }); // double counter, no description
	bytes.add(1.5);
	bytes.add(0.25);
	const inflight = m.createUpDownCounter('http.inflight', { valueType: api.ValueType.INT });
	inflight.add(3);
	inflight.add(-5);
	const lat = m.createHistogram('http.latency', { description: 'Latency', unit: 's',
		advice: { explicitBucketBoundaries: [0.001, 0.01, 0.1, 1] } });
	for (const v of [0.0005, 0.002, 0.002, 0.05, 0.7, 3.5])
		lat.record(v, { 'region': 'eu' });
	const wait = m2.createHistogram('queue.wait', { unit: 'ms' });
	wait.record(0.25);
	wait.record(7);
	const exp = m2.createHistogram('rpc.latency.exp', { unit: 'ms' });
	for (const v of [0, 0.5, 1, 2, 3, 1000, 12345.678])
		exp.record(v, { 'rpc.method': 'Get' });
	exp.record(0, { 'rpc.method': 'zeros' });
	const temp = m2.createObservableGauge('room.temperature', { description: 'Temperature', unit: 'Cel' });
	temp.addCallback(r => {
		r.observe(21.5, { 'room': 'a' });
		r.observe(-3.25, { 'room': 'b' });
	});
	const ints = m2.createObservableGauge('cpu.count', { valueType: api.ValueType.INT });
	ints.addCallback(r => r.observe(16));

	// A second resource whose reader asks for delta temporality.
	const readerB = new PullReader({
		aggregationTemporalitySelector: () => AggregationTemporality.DELTA,
	});
	const provB = new MeterProvider({
		resource: resourceFromAttributes({ 'service.name': 'billing' }),
		readers: [readerB],
	});
	const mb = provB.getMeter('sonde.interop.billing');
	const invoices = mb.createCounter('invoices', { valueType: api.ValueType.INT });
	invoices.add(4, { 'currency': 'EUR' });
	const amounts = mb.createHistogram('invoice.amount', { unit: 'EUR' });
	amounts.record(12.5);
	amounts.record(-3); // negative values count, but the SDK keeps no bucket for them
	const dudown = mb.createObservableUpDownCounter('ledger.balance');
	dudown.addCallback(r => r.observe(-17.75));

	const a = await readerA.collect();
	const b = await readerB.collect();
	for (const r of [a, b]) {
		if (r.errors.length)
			throw new Error('gen_otel: metric collection failed: ' + r.errors.join('; '));
	}
	return [a.resourceMetrics, b.resourceMetrics];
}

function write(dir, name, bytes) {
	fs.writeFileSync(path.join(dir, name), bytes);
}

async function main() {
	const dir = process.argv[2];
	if (!dir || process.argv.length !== 3) {
		process.stderr.write('usage: node gen_otel.js OUTDIR\n');
		process.exit(2);
	}
	fs.mkdirSync(dir, { recursive: true });

	const spans = spanSet();
	write(dir, 'traces.json', JsonTraceSerializer.serializeRequest(spans));
	write(dir, 'traces.pb', ProtobufTraceSerializer.serializeRequest(spans));

	const logs = logSet();
	write(dir, 'logs.json', JsonLogsSerializer.serializeRequest(logs));
	write(dir, 'logs.pb', ProtobufLogsSerializer.serializeRequest(logs));

	// The metrics serializers take one sdk-metrics ResourceMetrics each; the two
	// resources are merged into one request here so that it holds two ResourceMetrics.
	const sets = await metricSets();
	const jsonReq = { resourceMetrics: [] };
	for (const rm of sets)
		jsonReq.resourceMetrics.push(...JSON.parse(Buffer.from(JsonMetricsSerializer.serializeRequest(rm))).resourceMetrics);
	write(dir, 'metrics.json', JSON.stringify(jsonReq));
	write(dir, 'metrics.pb', Buffer.concat(sets.map(rm => Buffer.from(ProtobufMetricsSerializer.serializeRequest(rm)))));

	process.stdout.write(`gen_otel: ${spans.length} spans, ${logs.length} log records, ` +
		`${sets.reduce((n, rm) => n + rm.scopeMetrics.reduce((k, sm) => k + sm.metrics.length, 0), 0)} metrics\n`);
}

main().catch(err => {
	process.stderr.write(`gen_otel: ${err.stack || err}\n`);
	process.exit(1);
});
