// receiver.js - an OTLP/HTTP and Zipkin receiver for libsonde's exporter tests, with modes
// that misbehave on purpose (throttling, failures, a slow or vanishing peer).
//
// Usage: node receiver.js OUT.jsonl [MODE [N]]
//
// Listens on 127.0.0.1 on an ephemeral port and prints the port as the first line of stdout.
// Accepts POST .../v1/traces, .../v1/metrics and .../v1/logs (application/x-protobuf or application/json, optionally
// Content-Encoding: gzip) and POST .../api/v2/spans (Zipkin v2 JSON), under any path
// prefix. For every request it appends one line to OUT.jsonl, before answering:
//
//   {"_meta":{"seq":1,"method":"POST","path":"/v1/traces","contentType":...,
//             "contentEncoding":...,"userAgent":...,"remotePort":...,
//             "headers":[[name,value],...],
//             "mode":"ok","status":200,"error":null[,"zipkinProblems":[...]]},
//    "body":<the request>}
//
// where body is the OTLP/JSON form of a trace, metrics or logs request (protobuf decoded with the generated
// root of @opentelemetry/otlp-transformer, as tests/interop/otlp_decode.js does: ids as hex,
// 64-bit integers as strings, bytes as base64), the parsed JSON of a JSON request, or null.
// "_meta" holds no object whose keys come from the request, so `,"body":` first occurs
// where the body starts. Zipkin requests also get "zipkinProblems": what in the body breaks
// the Zipkin v2 API's ListOfSpans schema (an empty list when nothing does).
//
// Modes (argv, or POST /control with {"mode":..,"n":..,"retryAfter":"..","delayMs":..},
// which also restarts the count N refers to and answers {"requests":<total so far>}):
//   ok               200 (OTLP, empty ExportTraceServiceResponse) / 202 (Zipkin)
//   partial          200 with partial_success {rejected_spans: 3, error_message}
//   503-retry-after  503 with Retry-After (default 1) for the first N requests (default 1),
//                    then ok
//   429              429 (Retry-After only when retryAfter is given) for the first N, then ok
//   slow             waits delayMs (default 3000) before answering ok
//   500              500 with a google.rpc.Status body, always
//   close            destroys the connection without answering, always
//
// Stop it with kill PID; it exits by itself after 60 s in any case.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const zlib = require('zlib');

const interop = path.join(__dirname, '..', 'interop', 'node_modules');
const root = require(path.join(interop, '@opentelemetry', 'otlp-transformer', 'build', 'src', 'generated', 'root'));
const traceTypes = root.opentelemetry.proto.collector.trace.v1;
// The generated root has no logs messages: otlp_decode.js builds their type by reflection.
const logsRequest = require(path.join(__dirname, '..', 'interop', 'otlp_decode.js')).requestType('logs');

const MAX_BODY = 64 << 20;
const LIFETIME_MS = 60000;

const outFile = process.argv[2];
if (!outFile) {
	process.stderr.write('usage: node receiver.js OUT.jsonl [MODE [N]]\n');
	process.exit(2);
}
fs.writeFileSync(outFile, '');

const state = {
	mode: process.argv[3] || 'ok',
	n: process.argv[4] !== undefined ? Number(process.argv[4]) : 1,
	retryAfter: null,
	delayMs: 3000,
	count: 0, // requests since the mode was last set
	total: 0,
};

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

function decodeProtobuf(bytes, url) {
	const T = url.endsWith('/v1/logs') ? logsRequest
		: url.endsWith('/v1/metrics') ? root.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest
			: traceTypes.ExportTraceServiceRequest;
	const msg = T.decode(bytes);
	return idsToHex(T.toObject(msg, { longs: String, enums: Number, bytes: String, defaults: false }));
}

// google.rpc.Status { int32 code = 1; string message = 2; } by hand: the generated root
// does not carry it.
function statusProtobuf(code, message) {
	const m = Buffer.from(message, 'utf8');
	if (m.length > 127)
		throw new Error('status message too long for this encoder');
	return Buffer.concat([Buffer.from([0x08, code, 0x12, m.length]), m]);
}

// The Zipkin v2 API's rules for a ListOfSpans (zipkin2-api.yaml): returns what breaks
// them, as "spans[i].field: problem" strings (empty when the body conforms). Stricter
// than the schema in one way: fields it does not define are reported too.
function zipkinProblems(body) {
	const problems = [];
	const bad = (where, what) => problems.push(where + ': ' + what);
	const isInt = (v) => typeof v === 'number' && Number.isSafeInteger(v);
	const hex = (n) => new RegExp('^[0-9a-f]{' + n + '}$');
	const endpoint = (where, e) => {
		if (!e || typeof e !== 'object' || Array.isArray(e))
			return bad(where, 'not an object');
		for (const [k, v] of Object.entries(e)) {
			if (k === 'serviceName' || k === 'ipv6') {
				if (typeof v !== 'string')
					bad(where + '.' + k, 'not a string');
			} else if (k === 'ipv4') {
				if (typeof v !== 'string' || !/^(\d{1,3})(\.\d{1,3}){3}$/.test(v))
					bad(where + '.ipv4', 'not a dotted quad');
			} else if (k === 'port') {
				if (!isInt(v) || v < 0 || v > 65535)
					bad(where + '.port', 'not a port');
			} else {
				bad(where + '.' + k, 'not an Endpoint field');
			}
		}
	};
	if (!Array.isArray(body))
		return ['body: not an array (ListOfSpans)'];
	body.forEach((sp, i) => {
		const at = 'spans[' + i + ']';
		if (!sp || typeof sp !== 'object' || Array.isArray(sp))
			return bad(at, 'not an object');
		if (typeof sp.traceId !== 'string' || !(hex(16).test(sp.traceId) || hex(32).test(sp.traceId)))
			bad(at + '.traceId', 'not 16 or 32 lower-case hex digits');
		if (typeof sp.id !== 'string' || !hex(16).test(sp.id))
			bad(at + '.id', 'not 16 lower-case hex digits');
		for (const [k, v] of Object.entries(sp)) {
			switch (k) {
			case 'traceId':
			case 'id':
				break;
			case 'parentId':
				if (typeof v !== 'string' || !hex(16).test(v))
					bad(at + '.parentId', 'not 16 lower-case hex digits');
				else if (v === sp.id)
					bad(at + '.parentId', 'equals id');
				break;
			case 'name':
				if (typeof v !== 'string')
					bad(at + '.name', 'not a string');
				break;
			case 'kind':
				if (!['CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'].includes(v))
					bad(at + '.kind', 'not CLIENT, SERVER, PRODUCER or CONSUMER');
				break;
			case 'timestamp':
				if (!isInt(v) || v < 0)
					bad(at + '.timestamp', 'not epoch microseconds');
				break;
			case 'duration':
				if (!isInt(v) || v < 1)
					bad(at + '.duration', 'not a whole number of microseconds >= 1');
				break;
			case 'debug':
			case 'shared':
				if (typeof v !== 'boolean')
					bad(at + '.' + k, 'not a boolean');
				break;
			case 'localEndpoint':
			case 'remoteEndpoint':
				endpoint(at + '.' + k, v);
				break;
			case 'annotations':
				if (!Array.isArray(v)) {
					bad(at + '.annotations', 'not an array');
					break;
				}
				v.forEach((a, j) => {
					const aw = at + '.annotations[' + j + ']';
					if (!a || typeof a !== 'object' || !isInt(a.timestamp) || typeof a.value !== 'string' ||
					    Object.keys(a).some((x) => x !== 'timestamp' && x !== 'value'))
						bad(aw, 'not {timestamp: integer, value: string}');
				});
				break;
			case 'tags':
				if (!v || typeof v !== 'object' || Array.isArray(v))
					bad(at + '.tags', 'not an object');
				else
					for (const [tk, tv] of Object.entries(v))
						if (typeof tv !== 'string')
							bad(at + '.tags.' + tk, 'not a string');
				break;
			default:
				bad(at + '.' + k, 'not a Span field');
			}
		}
	});
	return problems;
}

function record(meta, body) {
	fs.appendFileSync(outFile, JSON.stringify({ _meta: meta, body }) + '\n');
}

function answer(res, status, headers, body) {
	res.writeHead(status, headers);
	res.end(body);
}

function answerError(res, isProto, status, code, message, extra) {
	const headers = Object.assign({ 'Content-Type': isProto ? 'application/x-protobuf' : 'application/json' }, extra);
	const body = isProto ? statusProtobuf(code, message) : JSON.stringify({ code, message });
	answer(res, status, headers, body);
}

function answerOk(res, isZipkin, isProto) {
	if (isZipkin)
		return answer(res, 202, {}, '');
	if (isProto)
		return answer(res, 200, { 'Content-Type': 'application/x-protobuf' }, Buffer.alloc(0));
	answer(res, 200, { 'Content-Type': 'application/json' }, '{}');
}

function answerPartial(res, isProto) {
	const partialSuccess = { rejectedSpans: 3, errorMessage: 'receiver.js rejected 3 spans on purpose' };
	if (isProto) {
		const body = traceTypes.ExportTraceServiceResponse.encode({ partialSuccess }).finish();
		return answer(res, 200, { 'Content-Type': 'application/x-protobuf' }, Buffer.from(body));
	}
	answer(res, 200, { 'Content-Type': 'application/json' },
		JSON.stringify({ partialSuccess: { rejectedSpans: '3', errorMessage: partialSuccess.errorMessage } }));
}

function control(req, res, raw) {
	let cmd;
	try {
		cmd = JSON.parse(raw.toString('utf8') || '{}');
	} catch (err) {
		return answer(res, 400, { 'Content-Type': 'text/plain' }, 'bad control body: ' + err.message);
	}
	if (cmd.mode !== undefined)
		state.mode = String(cmd.mode);
	state.n = cmd.n !== undefined ? Number(cmd.n) : 1;
	state.retryAfter = cmd.retryAfter !== undefined ? String(cmd.retryAfter) : null;
	state.delayMs = cmd.delayMs !== undefined ? Number(cmd.delayMs) : 3000;
	state.count = 0;
	answer(res, 200, { 'Content-Type': 'application/json' }, JSON.stringify({ requests: state.total }));
}

function metaOf(req) {
	const headers = [];
	for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
		headers.push([req.rawHeaders[i].toLowerCase(), req.rawHeaders[i + 1]]);
	return {
		seq: state.total,
		method: req.method,
		path: req.url,
		contentType: req.headers['content-type'] || null,
		contentEncoding: req.headers['content-encoding'] || null,
		userAgent: req.headers['user-agent'] || null,
		remotePort: req.socket.remotePort,
		headers,
		mode: state.mode,
		status: null,
		error: null,
	};
}

function telemetry(req, res, raw) {
	const isZipkin = req.url.endsWith('/api/v2/spans');
	const ctype = (req.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
	const isProto = !isZipkin && ctype === 'application/x-protobuf';
	state.total++;
	const nth = state.count++;
	const meta = metaOf(req);
	let body = null;
	try {
		let bytes = raw;
		if ((req.headers['content-encoding'] || '').toLowerCase() === 'gzip')
			bytes = zlib.gunzipSync(raw);
		if (isProto)
			body = decodeProtobuf(bytes, req.url);
		else if (ctype === 'application/json')
			body = JSON.parse(bytes.toString('utf8'));
		else
			throw new Error('unsupported content type ' + JSON.stringify(ctype));
		if (isZipkin)
			meta.zipkinProblems = zipkinProblems(body);
	} catch (err) {
		meta.status = 400;
		meta.error = err.message;
		record(meta, null);
		return answerError(res, isProto, 400, 3, 'receiver.js: ' + err.message);
	}

	const mode = state.mode;
	const throttled = nth < state.n;
	let act;
	if (mode === 'partial' && !isZipkin)
		act = () => answerPartial(res, isProto);
	else if (mode === '503-retry-after' && throttled)
		act = () => answerError(res, isProto, 503, 14, 'receiver.js: unavailable on purpose',
			{ 'Retry-After': state.retryAfter || '1' });
	else if (mode === '429' && throttled)
		act = () => answerError(res, isProto, 429, 8, 'receiver.js: throttled on purpose',
			state.retryAfter ? { 'Retry-After': state.retryAfter } : {});
	else if (mode === '500')
		act = () => answerError(res, isProto, 500, 13, 'receiver.js: failing on purpose');
	else if (mode === 'slow')
		act = () => setTimeout(() => answerOk(res, isZipkin, isProto), state.delayMs);
	else
		act = () => answerOk(res, isZipkin, isProto);

	meta.status = mode === 'slow' ? 'slow' : { 'partial': 200, '503-retry-after': throttled ? 503 : 200,
		'429': throttled ? 429 : 200, '500': 500 }[mode] || (isZipkin ? 202 : 200);
	if (isZipkin && mode === 'partial')
		meta.status = 202;
	record(meta, body);
	act();
}

const server = http.createServer((req, res) => {
	const isTelemetry = req.method === 'POST' && (req.url.endsWith('/v1/traces') || req.url.endsWith('/v1/logs') || req.url.endsWith('/v1/metrics') ||
		req.url.endsWith('/api/v2/spans'));
	if (isTelemetry && state.mode === 'close') {
		state.total++;
		state.count++;
		const meta = metaOf(req);
		meta.status = 'closed';
		record(meta, null);
		req.socket.destroy();
		return;
	}
	const chunks = [];
	let size = 0;
	req.on('data', (c) => {
		size += c.length;
		if (size > MAX_BODY) {
			answer(res, 413, { 'Content-Type': 'text/plain' }, 'too large');
			req.socket.destroy();
			return;
		}
		chunks.push(c);
	});
	req.on('end', () => {
		if (size > MAX_BODY)
			return;
		const raw = Buffer.concat(chunks);
		if (req.method === 'POST' && req.url === '/control')
			return control(req, res, raw);
		if (isTelemetry)
			return telemetry(req, res, raw);
		answer(res, 404, { 'Content-Type': 'text/plain' }, 'no such endpoint\n');
	});
});

server.listen(0, '127.0.0.1', () => {
	process.stdout.write(server.address().port + '\n');
});
setTimeout(() => process.exit(0), LIFETIME_MS);
process.on('SIGTERM', () => process.exit(0));
