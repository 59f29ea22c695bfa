/*
 * runtime_metrics_test.c - the opt-in process and host metrics (runtime_metrics.h): the
 * /proc parsers on hand-written and malformed text, then the live instruments read through
 * a collection and the Prometheus exposition, checked against what the test itself did
 * (descriptors opened, threads started, memory touched, bytes sent over loopback).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "host_metrics_internal.h"
#include "sonde/metrics.h"
#include "sonde/runtime_metrics.h"
#include "telemetry.h"

/* ---- Helpers ------------------------------------------------------------------------- */

static sonde_batch *collect(void)
{
	sonde_metric_reader *r = sonde_metric_reader_new(SONDE_METRICS_CUMULATIVE);
	assert_non_null(r);
	sonde_batch *b = sonde_batch_new();
	assert_non_null(b);
	assert_int_equal(sonde_metric_reader_collect(r, b), 0);
	sonde_metric_reader_free(r);
	return b;
}

static const sonde_metric_data *find_metric(const sonde_batch *b, const char *name)
{
	for (size_t i = 0; i < b->metrics_count; i++)
		if (strcmp(b->metrics[i].name.ptr, name) == 0 &&
		    strcmp(b->metrics[i].scope->name.ptr, "sonde.runtime") == 0)
			return &b->metrics[i];
	return NULL;
}

/* The point with attribute key = value (or with no attributes when key is NULL). */
static const sonde_point *point(const sonde_metric_data *m, const char *key, const char *value)
{
	if (!m)
		return NULL;
	for (uint32_t p = 0; p < m->points_count; p++) {
		const sonde_point *pt = &m->points[p];
		if (!key && pt->attrs.count == 0)
			return pt;
		if (!key)
			continue;
		const sonde_value *v = sonde_attrs_get(&pt->attrs, key);
		if (v && v->kind == SONDE_VAL_STRING && strcmp(v->u.str.ptr, value) == 0)
			return pt;
	}
	return NULL;
}

static double num(const sonde_point *pt)
{
	assert_non_null(pt);
	return pt->u.number.kind == SONDE_NUM_INT ? (double)pt->u.number.v.i : pt->u.number.v.d;
}

/* One metric's value: collects afresh. */
static double value_of(const char *name, const char *key, const char *val)
{
	sonde_batch *b = collect();
	const sonde_metric_data *m = find_metric(b, name);
	if (!m)
		fail_msg("no metric %s", name);
	const sonde_point *pt = point(m, key, val);
	if (!pt)
		fail_msg("no point %s{%s=%s}", name, key ? key : "", val ? val : "");
	double v = num(pt);
	sonde_batch_free(b);
	return v;
}

/* ---- Parsers ------------------------------------------------------------------------- */

static void test_parse_self_stat(void **state)
{
	/* A comm with spaces and parentheses: fields count from the last ')'. */
	const char *text = "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 1000 0 0 0 150 25 0 0 20 0 7 0 "
	                   "123456 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1\n";
	sonde__proc_self_stat st;
	assert_int_equal(sonde__parse_self_stat(text, &st), 0);
	assert_int_equal(st.threads, 7);
	assert_int_equal(st.vsize, 104857600);
	assert_int_equal(st.rss_pages, 2560);
	assert_int_equal(sonde__parse_self_stat("4242 (x) S 1 2 3\n", &st), -EINVAL);
	assert_int_equal(sonde__parse_self_stat("no parenthesis", &st), -EINVAL);
	assert_int_equal(
	        sonde__parse_self_stat("1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 x 18 19 20 21\n", &st),
	        -EINVAL);
}

typedef struct cpu_seen {
	int n;
	int cpus[4];
	uint64_t user[4], steal[4];
} cpu_seen;

static void on_cpu(void *ud, int cpu, const uint64_t ticks[8])
{
	cpu_seen *s = ud;
	if (s->n < 4) {
		s->cpus[s->n] = cpu;
		s->user[s->n] = ticks[0];
		s->steal[s->n] = ticks[7];
	}
	s->n++;
}

static void test_parse_proc_stat(void **state)
{
	const char *text = "cpu  300 1 200 9000 5 0 3 7 0 0\n"
	                   "cpu0 100 1 100 4500 2 0 1 3 0 0\n"
	                   "cpu1 200 0 100 4500 3 0 2 4 0 0\n"
	                   "cpu2 garbage\n"
	                   "cpux 1 2 3 4\n"
	                   "intr 12345 0 0\n"
	                   "ctxt 999\n";
	cpu_seen s = {0};
	assert_int_equal(sonde__parse_proc_stat(text, 0, on_cpu, &s), 2);
	assert_int_equal(s.cpus[0], 0);
	assert_int_equal(s.cpus[1], 1);
	assert_int_equal(s.user[1], 200);
	assert_int_equal(s.steal[1], 4);
	cpu_seen t = {0};
	assert_int_equal(sonde__parse_proc_stat(text, 1, on_cpu, &t), 1);
	assert_int_equal(t.cpus[0], -1);
	assert_int_equal(t.user[0], 300);
	/* Old kernels have only four columns: the rest are zero. */
	cpu_seen u = {0};
	assert_int_equal(sonde__parse_proc_stat("cpu0 1 2 3 4\n", 0, on_cpu, &u), 1);
	assert_int_equal(u.steal[0], 0);
}

static void test_parse_meminfo(void **state)
{
	sonde__meminfo mi;
	assert_int_equal(
	        sonde__parse_meminfo("MemTotal:       8000 kB\nMemFree:  1000 kB\nMemAvailable: 5000 kB\n"
	                             "Buffers:   200 kB\nCached:  3000 kB\nSwapCached: 0 kB\n",
	                             &mi),
	        0);
	assert_int_equal(mi.total, 8000 * 1024);
	assert_int_equal(mi.free, 1000 * 1024);
	assert_int_equal(mi.buffers, 200 * 1024);
	assert_int_equal(mi.cached, 3000 * 1024); /* not SwapCached */
	assert_int_equal(sonde__parse_meminfo("Buffers: 1 kB\n", &mi), -EINVAL);
}

typedef struct dev_seen {
	int n;
	char names[4][16];
	uint64_t a[4], b[4];
} dev_seen;

static void on_dev(void *ud, const char *dev, uint64_t a, uint64_t b)
{
	dev_seen *s = ud;
	if (s->n < 4) {
		snprintf(s->names[s->n], sizeof s->names[0], "%s", dev);
		s->a[s->n] = a;
		s->b[s->n] = b;
	}
	s->n++;
}

static void test_parse_diskstats_and_net_dev(void **state)
{
	const char *disks = "   7       0 loop0 10 0 80 0 0 0 0 0 0 0 0\n"
	                    "   8       0 sda 500 20 4000 100 300 10 2000 50 0 90 150\n"
	                    " 259       0 nvme0n1 1 0 8 0 2 0 16 0 0 0 0 0 0 0 0 0 0\n"
	                    "   1       0 ram0 1 1 1 1 1 1 1 1\n"
	                    "bad line\n";
	dev_seen d = {0};
	assert_int_equal(sonde__parse_diskstats(disks, on_dev, &d), 2);
	assert_string_equal(d.names[0], "sda");
	assert_int_equal(d.a[0], 4000 * 512);
	assert_int_equal(d.b[0], 2000 * 512);
	assert_string_equal(d.names[1], "nvme0n1");
	const char *net =
	        "Inter-|   Receive                                                |  Transmit\n"
	        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets\n"
	        "    lo:  123456     100    0    0    0     0          0         0   654321     100"
	        "    0    0    0     0       0          0\n"
	        "  eth0:1000 1 0 0 0 0 0 0 2000 2 0 0 0 0 0 0\n"
	        "  trunc: 1 2 3\n";
	dev_seen n = {0};
	assert_int_equal(sonde__parse_net_dev(net, on_dev, &n), 2);
	assert_string_equal(n.names[0], "lo");
	assert_int_equal(n.a[0], 123456);
	assert_int_equal(n.b[0], 654321);
	assert_string_equal(n.names[1], "eth0");
	assert_int_equal(n.b[1], 2000);
}

/* ---- Live ----------------------------------------------------------------------------- */

static void test_off_by_default(void **state)
{
	/* Neither the API nor the environment (ctest sets neither) asked for them. */
	assert_int_equal(sonde_runtime_metrics_enabled(), 0);
	sonde_batch *b = collect();
	assert_null(find_metric(b, "process.cpu.time"));
	assert_null(find_metric(b, "system.memory.usage"));
	sonde_batch_free(b);
	assert_int_equal(sonde_runtime_metrics_enable(1u << 5), -EINVAL);
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;

static void *blocked(void *ud)
{
	pthread_mutex_lock(&gate);
	pthread_mutex_unlock(&gate);
	return NULL;
}

static void test_process_metrics(void **state)
{
	assert_int_equal(sonde_runtime_metrics_enable(SONDE_RUNTIME_METRICS_PROCESS), 0);
	assert_int_equal(sonde_runtime_metrics_enabled(), SONDE_RUNTIME_METRICS_PROCESS);

	double fds = value_of("process.open_file_descriptor.count", NULL, NULL);
	int opened[8];
	for (int i = 0; i < 8; i++)
		assert_true((opened[i] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0);
	assert_true(value_of("process.open_file_descriptor.count", NULL, NULL) == fds + 8);
	for (int i = 0; i < 8; i++)
		close(opened[i]);
	assert_true(value_of("process.open_file_descriptor.count", NULL, NULL) == fds);

	double threads = value_of("process.thread.count", NULL, NULL);
	assert_true(threads >= 1);
	pthread_t t[3];
	pthread_mutex_lock(&gate);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, blocked, NULL), 0);
	/* At least: a sanitizer's runtime may start a thread of its own meanwhile. */
	double during = value_of("process.thread.count", NULL, NULL);
	assert_true(during >= threads + 3);
	pthread_mutex_unlock(&gate);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_true(value_of("process.thread.count", NULL, NULL) < during);

	double rss = value_of("process.memory.usage", NULL, NULL);
	double virt = value_of("process.memory.virtual", NULL, NULL);
	assert_true(rss > 0 && virt >= rss);
	size_t n = 64u << 20;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 1, n);
	assert_true(value_of("process.memory.usage", NULL, NULL) >= rss + (double)(n / 2));
	assert_true(value_of("process.memory.virtual", NULL, NULL) >= virt + (double)(n / 2));
	free(big);

	/* CPU time: spin until getrusage has moved by 50 ms of user time. */
	double user = value_of("process.cpu.time", "cpu.mode", "user");
	static volatile uint64_t spin;
	while (value_of("process.cpu.time", "cpu.mode", "user") < user + 0.05)
		for (int i = 0; i < 1000000; i++)
			spin = spin + (uint64_t)i;
	assert_true(value_of("process.cpu.time", "cpu.mode", "system") >= 0);

	double vol = value_of("process.context_switches", "process.context_switch_type", "voluntary");
	for (int i = 0; i < 5; i++)
		usleep(1000);
	assert_true(value_of("process.context_switches", "process.context_switch_type", "voluntary") >=
	            vol + 5);

	/* Monotonic sums and up-down counters, with the semantic-convention units. */
	sonde_batch *b = collect();
	const sonde_metric_data *m = find_metric(b, "process.cpu.time");
	assert_non_null(m);
	assert_int_equal(m->type, SONDE_METRIC_SUM);
	assert_true(m->is_monotonic);
	assert_string_equal(m->unit.ptr, "s");
	m = find_metric(b, "process.memory.usage");
	assert_int_equal(m->type, SONDE_METRIC_SUM);
	assert_false(m->is_monotonic);
	assert_string_equal(m->unit.ptr, "By");
	sonde_batch_free(b);
}

/* Bytes the kernel counts on "lo" for n bytes sent to ourselves over UDP. */
static void send_loopback(size_t total)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
	socklen_t al = sizeof a;
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
	static char payload[1000];
	char in[1000];
	for (size_t sent = 0; sent < total; sent += sizeof payload) {
		assert_int_equal(sendto(s, payload, sizeof payload, 0, (struct sockaddr *)&a, sizeof a),
		                 (ssize_t)sizeof payload);
		assert_int_equal(recv(s, in, sizeof in, 0), (ssize_t)sizeof payload);
	}
	close(s);
}

static void test_host_metrics(void **state)
{
	assert_int_equal(
	        sonde_runtime_metrics_enable(SONDE_RUNTIME_METRICS_PROCESS | SONDE_RUNTIME_METRICS_HOST), 0);
	sonde_batch *b = collect();
	/* Memory states add up to MemTotal. */
	const sonde_metric_data *m = find_metric(b, "system.memory.usage");
	assert_non_null(m);
	assert_int_equal(m->points_count, 4);
	double sum = 0;
	for (uint32_t i = 0; i < m->points_count; i++)
		sum += num(&m->points[i]);
	FILE *f = fopen("/proc/meminfo", "r");
	assert_non_null(f);
	unsigned long long total_kb = 0;
	assert_int_equal(fscanf(f, "MemTotal: %llu kB", &total_kb), 1);
	fclose(f);
	assert_true(sum == (double)total_kb * 1024);
	/* Utilization: fractions in [0, 1] adding up to 1. */
	m = find_metric(b, "system.cpu.utilization");
	assert_non_null(m);
	assert_int_equal(m->type, SONDE_METRIC_GAUGE);
	double u = 0;
	for (uint32_t i = 0; i < m->points_count; i++) {
		double v = num(&m->points[i]);
		assert_true(v >= 0 && v <= 1);
		u += v;
	}
	assert_true(u > 0.999 && u < 1.001);
	/* CPU time per logical CPU and mode: eight modes per CPU. */
	m = find_metric(b, "system.cpu.time");
	assert_non_null(m);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	assert_true(m->points_count >= 8 && m->points_count % 8 == 0 &&
	            m->points_count <= 8 * (uint32_t)(ncpu > 0 ? ncpu : 1024));
	assert_non_null(point(m, "cpu.mode", "idle"));
	sonde_batch_free(b);
	/* Loopback traffic shows up on lo, both ways. */
	b = collect();
	m = find_metric(b, "system.network.io");
	assert_non_null(m);
	double lo_rx = -1;
	for (uint32_t i = 0; i < m->points_count; i++) {
		const sonde_value *dev = sonde_attrs_get(&m->points[i].attrs, "network.interface.name");
		const sonde_value *dir = sonde_attrs_get(&m->points[i].attrs, "network.io.direction");
		if (dev && dir && strcmp(dev->u.str.ptr, "lo") == 0 && strcmp(dir->u.str.ptr, "receive") == 0)
			lo_rx = num(&m->points[i]);
	}
	sonde_batch_free(b);
	if (lo_rx < 0) /* no loopback interface in this network namespace */
		return;
	send_loopback(200000);
	b = collect();
	m = find_metric(b, "system.network.io");
	double after = -1;
	for (uint32_t i = 0; i < m->points_count; i++) {
		const sonde_value *dev = sonde_attrs_get(&m->points[i].attrs, "network.interface.name");
		const sonde_value *dir = sonde_attrs_get(&m->points[i].attrs, "network.io.direction");
		if (dev && dir && strcmp(dev->u.str.ptr, "lo") == 0 && strcmp(dir->u.str.ptr, "receive") == 0)
			after = num(&m->points[i]);
	}
	sonde_batch_free(b);
	assert_true(after >= lo_rx + 200000);
}

static void test_prometheus_names(void **state)
{
	assert_int_equal(
	        sonde_runtime_metrics_enable(SONDE_RUNTIME_METRICS_PROCESS | SONDE_RUNTIME_METRICS_HOST), 0);
	char *text;
	size_t len;
	assert_int_equal(sonde_metrics_prometheus_text(false, &text, &len), 0);
	assert_non_null(strstr(text, "# TYPE process_cpu_time_seconds_total counter\n"));
	assert_non_null(strstr(
	        text, "process_cpu_time_seconds_total{cpu_mode=\"user\",otel_scope_name=\"sonde.runtime\"}"));
	assert_non_null(strstr(text, "# TYPE process_memory_usage_bytes gauge\n"));
	assert_non_null(strstr(text, "process_open_file_descriptor_count{"));
	assert_non_null(strstr(
	        text,
	        "system_memory_usage_bytes{otel_scope_name=\"sonde.runtime\",system_memory_state=\"used\"}"));
	assert_non_null(strstr(text, "# TYPE system_cpu_utilization_ratio gauge\n"));
	free(text);
	/* Switched off: the instruments stay, without data. */
	assert_int_equal(sonde_runtime_metrics_enable(0), 0);
	sonde_batch *b = collect();
	const sonde_metric_data *m = find_metric(b, "process.cpu.time");
	assert_true(!m || m->points_count == 0);
	sonde_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_self_stat), cmocka_unit_test(test_parse_proc_stat),
	        cmocka_unit_test(test_parse_meminfo),   cmocka_unit_test(test_parse_diskstats_and_net_dev),
	        cmocka_unit_test(test_off_by_default),  cmocka_unit_test(test_process_metrics),
	        cmocka_unit_test(test_host_metrics),    cmocka_unit_test(test_prometheus_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
