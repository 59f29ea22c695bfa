#!/usr/bin/env bash
# report_chromium_test.sh - `sonde report` opened in headless Chromium: a store built from the
# example service's telemetry (when it is built) and a generated fixture (traces with a
# span named <script>alert(1)</script>, error logs, a metric series with a step) plus a
# profile; the report must render with no console error and no injected element, hold the
# waterfall, the charts and the flame graph, give a non-blank screenshot, and make no
# network request (Chromium's net log, page-initiated requests only). Control pages
# prove that the console and network checks catch what they look for.
# Exits 77 (skipped) when Chromium is not installed.
set -euo pipefail
sonde=${SONDE_BIN:?SONDE_BIN must name the sonde executable}
build=${SONDE_BUILD:-}
chromium=${CHROMIUM:-/usr/bin/chromium}
py=/usr/bin/python3
if [ ! -x "$chromium" ]; then
	echo "report_chromium_test: skipped: $chromium is not installed (Debian package chromium)"
	exit 77
fi
if [ ! -x "$py" ]; then
	echo "report_chromium_test: skipped: $py is not installed"
	exit 77
fi

tmp=$(mktemp -d /tmp/sonde-report-XXXXXX)
chrome_pid=
cleanup() {
	if [ -n "$chrome_pid" ]; then kill "$chrome_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
[ -z "${KEEP:-}" ] || trap - EXIT
fail() {
	echo "report_chromium_test: FAIL: $*" >&2
	exit 1
}

# ---- The store ---------------------------------------------------------------------------
db="$tmp/sonde.db"
if [ -n "$build" ] && [ -x "$build/examples/shop_service" ]; then
	# the example leaks on purpose (for sonde mem): no leak report under ASan
	ASAN_OPTIONS=detect_leaks=0 "$build/examples/shop_service" 20 "$tmp/shop.jsonl" "$tmp/shop.prom" >/dev/null 2>&1 ||
		fail "examples/shop_service failed"
	"$sonde" ingest --db "$db" "$tmp/shop.jsonl" >/dev/null 2>&1 || fail "ingest of the shop telemetry"
fi
"$py" - "$tmp/fixture.jsonl" <<'EOF'
import json, sys, time
now = time.time_ns()
t0 = now - 120 * 10**9
res = {"attributes": [{"key": "service.name", "value": {"stringValue": "api<b>"}}]}
spans, logs, points = [], [], []
for i in range(40):
    tid = "%032x" % (0xabc0000 + i)
    start = t0 + i * 3 * 10**9
    dur = 900 * 10**6 if i == 25 else (20 + i % 7) * 10**6
    spans.append({"traceId": tid, "spanId": "%016x" % (2 * i + 1), "name": "GET /cart", "kind": 2,
                  "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + dur),
                  "status": {"code": 2 if 30 <= i < 34 else 0}})
    spans.append({"traceId": tid, "spanId": "%016x" % (2 * i + 2), "parentSpanId": "%016x" % (2 * i + 1),
                  "name": "<script>alert(1)</script>" if i == 25 else "SELECT cart", "kind": 3,
                  "startTimeUnixNano": str(start + 10**6), "endTimeUnixNano": str(start + dur - 10**6),
                  "status": {"code": 2 if 30 <= i < 34 else 0,
                             "message": "timeout <img src=x onerror=alert(2)>"}})
for i in range(12):
    logs.append({"timeUnixNano": str(t0 + (90 + i) * 10**9), "severityNumber": 17, "severityText": "ERROR",
                 "body": {"stringValue": "db timeout after %d ms <script>alert(3)</script>" % (100 + i)}})
for i in range(120):
    v = 80.0 if 90 <= i < 97 else 10.0 + i % 3
    points.append({"timeUnixNano": str(t0 + i * 10**9), "asDouble": v})
out = open(sys.argv[1], "w")
out.write(json.dumps({"resourceSpans": [{"resource": res, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}) + "\n")
out.write(json.dumps({"resourceLogs": [{"resource": res, "scopeLogs": [{"scope": {"name": "t"}, "logRecords": logs}]}]}) + "\n")
out.write(json.dumps({"resourceMetrics": [{"resource": res, "scopeMetrics": [{"scope": {"name": "t"}, "metrics": [
    {"name": "queue_depth", "gauge": {"dataPoints": points}}]}]}]}) + "\n")
EOF
"$sonde" ingest --db "$db" "$tmp/fixture.jsonl" >/dev/null 2>&1 || fail "ingest of the fixture"
printf 'main;serve;handle;db_query 30\nmain;serve;handle;render 10\nmain;serve;<script>alert(4)</script> 5\n' \
	>"$tmp/cpu.folded"

"$sonde" report --db "$db" --profile "$tmp/cpu.folded" --title 'report <i>test</i>' -o "$tmp/report.html" \
	2>"$tmp/report.err" || fail "sonde report: $(cat "$tmp/report.err")"
size=$(wc -c <"$tmp/report.html")
echo "report_chromium_test: report.html is $size bytes"

# The file itself refers to nothing outside it.
if grep -Eio '(src|href|action|poster|srcset)="[^"#d][^"]*"' "$tmp/report.html" | grep -v '^href="#' | head -3 |
	grep .; then
	fail "the report refers to an outside resource"
fi
grep -Eq 'https?://|//[a-z0-9.-]+\.[a-z]{2,}/' "$tmp/report.html" && fail "the report holds a URL"

# ---- Chromium ----------------------------------------------------------------------------
# Runs Chromium headless on a page; extra arguments go before the URL. Output in $tmp/out,
# log (with console messages) in $tmp/log, net log in $tmp/net.json.
run_chromium() {
	local url=$1
	shift
	rm -rf "$tmp/profile" "$tmp/net.json"
	timeout 90 "$chromium" --headless=new --no-sandbox --disable-gpu --user-data-dir="$tmp/profile" \
		--no-first-run --disable-background-networking --disable-component-update --disable-sync \
		--disable-default-apps --disable-extensions --enable-logging=stderr --v=0 \
		--log-net-log="$tmp/net.json" "$@" "$url" >"$tmp/out" 2>"$tmp/log" &
	chrome_pid=$!
	wait "$chrome_pid" || fail "chromium exited with $? on $url: $(tail -5 "$tmp/log")"
	chrome_pid=
}

console_errors() {
	grep -E ':CONSOLE[:(]' "$tmp/log" || true
}

# Page-initiated requests for anything but file: and data: (Chromium's own background
# requests have no origin as initiator and are left out).
page_requests() {
	"$py" - "$tmp/net.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
types = {v: k for k, v in d["constants"]["logEventTypes"].items()}
seen = set()
for e in d["events"]:
    p = e.get("params", {})
    if types.get(e["type"]) != "URL_REQUEST_START_JOB" or "url" not in p:
        continue
    if p.get("initiator") == "not an origin":
        continue
    if p["url"].startswith(("file:", "data:")):
        continue
    if p["url"] not in seen:
        seen.add(p["url"])
        print(p["url"])
EOF
}

# Control: a page with a console error, an exception and an outside image is caught.
cat >"$tmp/control.html" <<'EOF'
<!DOCTYPE html><html><body><p>control</p><img src="http://127.0.0.1:9/x.png" alt="">
<script>console.error("control-error"); no_such_function();</script></body></html>
EOF
run_chromium "file://$tmp/control.html" --dump-dom
console_errors | grep -q 'control-error' || fail "the console check does not see console.error"
console_errors | grep -q 'no_such_function' || fail "the console check does not see exceptions"
page_requests | grep -q '127.0.0.1:9' || fail "the network check does not see the page's request"

# The report: no console message, no request, every part present, nothing injected.
run_chromium "file://$tmp/report.html" --dump-dom --window-size=1280,2000 --virtual-time-budget=3000
if [ -n "$(console_errors)" ]; then
	console_errors >&2
	fail "console messages while rendering the report"
fi
reqs=$(page_requests)
[ -z "$reqs" ] || fail "the report made network requests: $reqs"
dom="$tmp/out"
grep -q 'data-ready="1"' "$dom" || fail "the report's script did not run to its end"
for id in overview traces errors anomalies flame verdicts waterfall chart-throughput chart-errors chart-p95 \
	slow-traces services cp-shares error-groups chart-errors-all chart-error-group-1 chart-anomaly-1 flamegraph; do
	grep -q "id=\"$id\"" "$dom" || fail "the rendered report lacks #$id"
done
grep -q 'class="cp"' "$dom" || fail "the waterfall has no critical path"
grep -q 'class="shade"' "$dom" || fail "the anomaly chart has no shaded window"
# Nothing from the store became an element.
grep -Eq '<script>alert|<img src="?x|api<b>|<i>test' "$dom" && fail "store text became markup in the DOM"
[ "$(grep -o '<script' "$dom" | wc -l)" -eq 1 ] || fail "the DOM holds a script element that is not the report's"
grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$dom" || fail "the hostile span name is not shown as text"
# The flame graph frame: an SVG with frames, its hostile frame name escaped.
"$py" - "$dom" <<'EOF' || fail "the flame graph frame is not a flame graph"
import base64, re, sys
html = open(sys.argv[1]).read()
m = re.search(r'<iframe id="flamegraph"[^>]*src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
assert m, "no flame graph iframe"
svg = base64.b64decode(m.group(1)).decode()
assert '<g id="frames">' in svg and svg.count("<rect") > 4, "no frames"
assert "&lt;script&gt;alert(4)" in svg and "<script>alert(4)" not in svg, "frame name not escaped"
EOF

# A screenshot: a PNG that is not blank. Blank means few distinct byte values in the
# decompressed image data (filtered rows of a uniform page hold little but 0 and 255); a
# control screenshot of an empty page must fail the check.
png_check() {
	"$py" - "$1" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w, h = 8, b"", 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h = struct.unpack(">II", body[:8])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
distinct = len(set(raw))
print("report_chromium_test: screenshot %dx%d, %d bytes, %d distinct byte values" % (w, h, len(data), distinct))
assert w >= 800 and h >= 600, "too small"
assert distinct > 64, "blank"
EOF
}
printf '<!DOCTYPE html><html><body></body></html>\n' >"$tmp/blank.html"
run_chromium "file://$tmp/blank.html" --screenshot="$tmp/blank.png" --window-size=1280,800 --hide-scrollbars
if png_check "$tmp/blank.png" 2>/dev/null; then
	fail "the screenshot check passes a blank page"
fi
run_chromium "file://$tmp/report.html" --screenshot="$tmp/shot.png" --window-size=1280,2400 --hide-scrollbars
[ -s "$tmp/shot.png" ] || fail "no screenshot"
png_check "$tmp/shot.png" || fail "the screenshot is blank or not a PNG"
echo "report_chromium_test: ok"
