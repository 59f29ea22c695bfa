// otel_js_export.js - the OpenTelemetry JS SDK exporting to `sonde serve` over OTLP/HTTP:
// a tracer, a logger and a meter provider with the SDK's batch processors and periodic
// reader, each feeding an exporter that does what the SDK's OTLP/HTTP exporters do (the
// SDK's own serializers from @opentelemetry/otlp-transformer, a POST with node's http,
// gzip when asked, and the response decoded with the serializer's deserializeResponse).
//
// Usage: node otel_js_export.js URL protobuf|json [gzip]
// Prints one JSON line: the trace ids and counts it sent, the HTTP statuses it got, and
// anything the server rejected. Exits 1 when an export failed.
'use strict';

const http = require('http');
const zlib = require('zlib');

const { ExportResultCode } = require('@opentelemetry/core');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, BatchSpanProcessor, AlwaysOnSampler } = require('@opentelemetry/sdk-trace-base');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { MeterProvider, PeriodicExportingMetricReader, AggregationTemporality } = require('@opentelemetry/sdk-metrics');
const api = require('@opentelemetry/api');
const {
	JsonTraceSerializer, ProtobufTraceSerializer,
	JsonLogsSerializer, ProtobufLogsSerializer,
	JsonMetricsSerializer, ProtobufMetricsSerializer,
} = require('@opentelemetry/otlp-transformer');

const [url, protocol, compression] = process.argv.slice(2);
if (!url || !['protobuf', 'json'].includes(protocol)) {
	console.error('usage: node otel_js_export.js URL protobuf|json [gzip]');
	process.exit(2);
}
const json = protocol === 'json';
const gzip = compression === 'gzip';
const report = { protocol, gzip, statuses: [], rejected: [], errors: [], traceIds: [], spans: 0, logs: 0, points: 0 };

function post(path, body) {
	return new Promise((resolve, reject) => {
		const payload = gzip ? zlib.gzipSync(Buffer.from(body)) : Buffer.from(body);
		const headers = {
			'Content-Type': json ? 'application/json' : 'application/x-protobuf',
			'Content-Length': payload.length,
		};
		if (gzip)
			headers['Content-Encoding'] = 'gzip';
		const req = http.request(url + path, { method: 'POST', headers }, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
		});
		req.on('error', reject);
		req.end(payload);
	});
}

// An exporter of one signal, as the SDK's OTLP/HTTP exporters are built.
class HttpExporter {
	constructor(path, serializer, signal) {
		this.path = path;
		this.serializer = serializer;
		this.signal = signal;
		this.pending = [];
	}
	export(items, done) {
		const p = post(this.path, this.serializer.serializeRequest(items)).then((r) => {
			report.statuses.push(r.status);
			if (r.status !== 200) {
				report.errors.push(`${this.signal}: HTTP ${r.status}: ${r.body.toString()}`);
				return done({ code: ExportResultCode.FAILED });
			}
			const want = json ? 'application/json' : 'application/x-protobuf';
			if (!String(r.headers['content-type']).startsWith(want))
				report.errors.push(`${this.signal}: response Content-Type ${r.headers['content-type']}, expected ${want}`);
			// The response must decode with the SDK's own code.
			const resp = this.serializer.deserializeResponse(new Uint8Array(r.body));
			if (resp && resp.partialSuccess && Object.keys(resp.partialSuccess).length)
				report.rejected.push({ signal: this.signal, partialSuccess: resp.partialSuccess });
			done({ code: ExportResultCode.SUCCESS });
		}, (e) => {
			report.errors.push(`${this.signal}: ${e.message}`);
			done({ code: ExportResultCode.FAILED, error: e });
		});
		this.pending.push(p);
	}
	selectAggregationTemporality() {
		return AggregationTemporality.CUMULATIVE;
	}
	forceFlush() {
		return Promise.all(this.pending);
	}
	shutdown() {
		return this.forceFlush();
	}
}

async function main() {
	const resource = resourceFromAttributes({ 'service.name': `js-${protocol}${gzip ? '-gzip' : ''}`, 'host.name': 'web-1' });

	// Traces: 30 traces of a server span with two children, one of them failing.
	const spanExp = new HttpExporter('/v1/traces', json ? JsonTraceSerializer : ProtobufTraceSerializer, 'traces');
	const tp = new BasicTracerProvider({
		resource,
		sampler: new AlwaysOnSampler(),
		spanProcessors: [new BatchSpanProcessor(spanExp, { maxExportBatchSize: 16, scheduledDelayMillis: 50 })],
	});
	const tracer = tp.getTracer('sonde.interop', '1.0.0');
	for (let i = 0; i < 30; i++) {
		const root = tracer.startSpan(`GET /orders/${i % 3}`, { kind: api.SpanKind.SERVER, attributes: { 'http.route': '/orders/:id' } });
		const ctx = api.trace.setSpan(api.context.active(), root);
		const db = tracer.startSpan('SELECT orders', { kind: api.SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.statement': 'SELECT * FROM orders WHERE id = ?' } }, ctx);
		db.addEvent('rows', { 'db.rows': i });
		db.end();
		const pay = tracer.startSpan('charge', { kind: api.SpanKind.CLIENT }, ctx);
		if (i % 5 === 0)
			pay.setStatus({ code: api.SpanStatusCode.ERROR, message: 'card declined' });
		pay.end();
		root.end();
		report.traceIds.push(root.spanContext().traceId);
		report.spans += 3;
	}
	await tp.forceFlush();
	await tp.shutdown();

	// Logs: 25 records, some inside a span.
	const logExp = new HttpExporter('/v1/logs', json ? JsonLogsSerializer : ProtobufLogsSerializer, 'logs');
	const lp = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor(logExp, { maxExportBatchSize: 10, scheduledDelayMillis: 50 })] });
	const logger = lp.getLogger('sonde.interop.logs', '1.0.0');
	for (let i = 0; i < 25; i++) {
		logger.emit({
			severityNumber: i % 4 === 0 ? SeverityNumber.ERROR : SeverityNumber.INFO,
			severityText: i % 4 === 0 ? 'ERROR' : 'INFO',
			body: `order ${i} processed`,
			attributes: { 'order.id': i },
		});
		report.logs++;
	}
	await lp.forceFlush();
	await lp.shutdown();

	// Metrics: a counter with 3 series, a histogram with 2, a gauge with 1.
	const metricExp = new HttpExporter('/v1/metrics', json ? JsonMetricsSerializer : ProtobufMetricsSerializer, 'metrics');
	const reader = new PeriodicExportingMetricReader({ exporter: metricExp, exportIntervalMillis: 3600000 });
	const mp = new MeterProvider({ resource, readers: [reader] });
	const meter = mp.getMeter('sonde.interop.metrics', '1.0.0');
	const requests = meter.createCounter('http.server.requests', { unit: '{request}' });
	const latency = meter.createHistogram('http.server.duration', { unit: 'ms' });
	const gauge = meter.createObservableGauge('queue.depth');
	gauge.addCallback((r) => r.observe(7, { queue: 'orders' }));
	for (let i = 0; i < 30; i++) {
		requests.add(1, { route: `/orders/${i % 3}` });
		latency.record(5 + i, { route: i % 2 ? 'a' : 'b' });
	}
	report.points = 3 + 2 + 1;
	await reader.forceFlush();
	await metricExp.forceFlush();
	await mp.shutdown();

	console.log(JSON.stringify(report));
	process.exit(report.errors.length ? 1 : 0);
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
