/*
 * metrics_server.c - a small program instrumented with every kind of libsonde instrument,
 * for tests/instrument/prometheus_test.sh: it prints its Prometheus exposition, or serves
 * it on /metrics for a real Prometheus to scrape.
 *
 *   metrics_server print [openmetrics]   the exposition on stdout
 *   metrics_server serve PORTFILE SECS   serve on 127.0.0.1 (a free port, written to
 *                                        PORTFILE) for SECS seconds, then stop
 *
 * The values are fixed so that the test can check what Prometheus reports: see the
 * comments at each instrument.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sonde/metrics.h"

static void cpu_time(sonde_observer *o, void *ud)
{
	(void)ud;
	sonde_attr user[] = {SONDE_ATTR_STR("cpu.mode", "user")};
	sonde_attr sys[] = {SONDE_ATTR_STR("cpu.mode", "system")};
	sonde_observe(o, 12.5, user, 1); /* process_cpu_time_seconds_total{cpu_mode="user"} 12.5 */
	sonde_observe(o, 3.25, sys, 1);
}

static void open_fds(sonde_observer *o, void *ud)
{
	(void)ud;
	sonde_observe_int(o, 17, NULL, 0); /* process_open_fds 17 */
}

static void memory(sonde_observer *o, void *ud)
{
	(void)ud;
	sonde_observe_int(o, 1048576, NULL, 0); /* process_memory_usage_bytes 1048576 */
}

static void record(void)
{
	sonde_metrics_config cfg = {.service_name = "metrics-server",
	                            .service_version = "1.2.3",
	                            .resource_attributes = "deployment.environment=test"};
	sonde_metrics_configure(&cfg);
	sonde_meter *m = sonde_meter_get("sonde.tests.metrics_server", "0.1.0", NULL);

	/* http_server_requests_total{method="GET",path="/a\"quoted\" \\path\nnewline"} 42 */
	sonde_instrument *req =
	        sonde_counter_new(m, "http.server.requests", "{request}",
	                          "Requests served, by \"method\" and path\\route\nsecond line");
	sonde_attr get[] = {SONDE_ATTR_STR("method", "GET"),
	                    SONDE_ATTR_STR("path", "/a\"quoted\" \\path\nnewline")};
	sonde_series *s = sonde_instrument_bind(req, get, 2);
	for (int i = 0; i < 42; i++)
		sonde_series_add(s, 1);
	sonde_attr post[] = {SONDE_ATTR_STR("method", "POST"), SONDE_ATTR_STR("path", "/orders")};
	sonde_instrument_add(req, 7, post, 2);

	/* app_sent_bytes_total 1536.5 */
	sonde_instrument *bytes = sonde_counter_new_double(m, "app.sent", "By", "Bytes sent");
	sonde_instrument_add_double(bytes, 1536.5, NULL, 0);

	/* app_queue_length 3 (an up-down counter is a gauge in Prometheus) */
	sonde_instrument *queue = sonde_updown_counter_new(m, "app.queue.length", "{item}", "Items queued");
	sonde_instrument_add(queue, 5, NULL, 0);
	sonde_instrument_add(queue, -2, NULL, 0);

	/* app_temperature_celsius{room="lab"} 21.5 */
	sonde_instrument *temp = sonde_gauge_new(m, "app.temperature", "Cel", "Room temperature");
	sonde_attr lab[] = {SONDE_ATTR_STR("room", "lab")};
	sonde_instrument_set(temp, 21.5, lab, 1);

	/* app_cache_hits_ratio 0.75 */
	sonde_instrument *ratio = sonde_gauge_new(m, "app.cache.hits", "1", "Cache hit ratio");
	sonde_instrument_set(ratio, 0.75, NULL, 0);

	/* http_server_request_duration_seconds: 50 x 0.05, 30 x 0.15, 20 x 0.4 over the bounds
	 * 0.1, 0.2, 0.5, 1: histogram_quantile(0.5) = 0.1, histogram_quantile(0.9) = 0.35. */
	double bounds[] = {0.1, 0.2, 0.5, 1};
	sonde_instrument *dur = sonde_histogram_new(m, "http.server.request.duration", "s",
	                                            "Time to serve a request", bounds, 4);
	sonde_series *d = sonde_instrument_bind(dur, NULL, 0);
	for (int i = 0; i < 50; i++)
		sonde_series_record(d, 0.05);
	for (int i = 0; i < 30; i++)
		sonde_series_record_ns(d, 150000000); /* the timer path: 150 ms in seconds */
	for (int i = 0; i < 20; i++)
		sonde_series_record(d, 0.4);

	/* app_payload_bytes: an exponential histogram, written as a classic one; 1, 2 and 4
	 * land at scale 6, so le="1", le="2" and le="4" hold 1, 2 and 3. */
	sonde_instrument *payload = sonde_exp_histogram_new(m, "app.payload", "By", "Payload sizes");
	sonde_instrument_record(payload, 1, NULL, 0);
	sonde_instrument_record(payload, 2, NULL, 0);
	sonde_instrument_record(payload, 4, NULL, 0);

	/* app_rpc_latency_seconds{quantile="0.5"} within 1% of 0.01, quantile 0.9 of 0.02,
	 * count 100, sum 1.5. */
	sonde_instrument *lat = sonde_summary_new(m, "app.rpc.latency", "s", "RPC latency", NULL, 0);
	for (int i = 1; i <= 100; i++)
		sonde_instrument_record(lat, i <= 50 ? 0.01 : 0.02, NULL, 0);

	sonde_instrument_opts cpu = {.kind = SONDE_INSTRUMENT_OBSERVABLE_COUNTER,
	                             .name = "process.cpu.time",
	                             .unit = "s",
	                             .description = "CPU time",
	                             .callback = cpu_time};
	sonde_instrument_new(m, &cpu);
	sonde_instrument_opts fds = {.kind = SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER,
	                             .name = "process.open_fds",
	                             .unit = "{fd}",
	                             .description = "Open file descriptors",
	                             .value_type = SONDE_METRIC_INT,
	                             .callback = open_fds};
	sonde_instrument_new(m, &fds);
	sonde_instrument_opts mem = {.kind = SONDE_INSTRUMENT_OBSERVABLE_GAUGE,
	                             .name = "process.memory.usage",
	                             .unit = "By",
	                             .description = "Resident memory",
	                             .value_type = SONDE_METRIC_INT,
	                             .callback = memory};
	sonde_instrument_new(m, &mem);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "print") == 0) {
		record();
		char *text;
		size_t len;
		if (sonde_metrics_prometheus_text(argc >= 3 && strcmp(argv[2], "openmetrics") == 0, &text,
		                                  &len) < 0)
			return 1;
		fwrite(text, 1, len, stdout);
		free(text);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (argc == 4 && strcmp(argv[1], "serve") == 0) {
		record();
		int rc = sonde_metrics_prometheus_start("127.0.0.1:0");
		if (rc < 0) {
			fprintf(stderr, "metrics_server: cannot serve: %s\n", strerror(-rc));
			return 1;
		}
		FILE *f = fopen(argv[2], "w");
		if (!f || fprintf(f, "%u\n", sonde_metrics_prometheus_port()) < 0 || fclose(f) != 0) {
			fprintf(stderr, "metrics_server: %s: %s\n", argv[2], strerror(errno));
			return 1;
		}
		struct timespec ts = {atoi(argv[3]), 0};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		sonde_metrics_prometheus_stop();
		return 0;
	}
	fprintf(stderr, "usage: metrics_server print [openmetrics] | serve PORTFILE SECONDS\n");
	return 2;
}
