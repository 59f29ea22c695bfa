/*
 * metrics_host.c - the opt-in process and host metrics of runtime_metrics.h: observable
 * instruments of the meter "sonde.runtime" whose callbacks read /proc (and getrusage) at
 * collection time, with the OpenTelemetry semantic-convention names (semconv 1.27).
 *
 * The callbacks run on the collecting thread with the metrics lock held; they only read
 * files and call sonde_observe*. The previous /proc/stat totals kept for
 * system.cpu.utilization are therefore guarded by that lock.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "env_internal.h"
#include "host_metrics_internal.h"
#include "sonde/metrics.h"
#include "sonde/runtime_metrics.h"

static _Atomic unsigned enabled;
static _Atomic bool set_by_program; /* programmatic settings win over the environment */

/* ---- Parsers ----------------------------------------------------------------------- */

/* Reads an unsigned decimal at *p (after blanks), advancing *p. False when none. */
static bool read_u64(const char **p, uint64_t *out)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return false;
	uint64_t v = 0;
	while (isdigit((unsigned char)*s)) {
		uint64_t d = (uint64_t)(*s - '0');
		v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

/* Skips to the start of the next line; NULL at the end of the text. */
static const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');
	return nl ? nl + 1 : NULL;
}

int sonde__parse_self_stat(const char *text, sonde__proc_self_stat *out)
{
	const char *p = strrchr(text, ')');
	if (!p)
		return -EINVAL;
	p++;
	/* Fields from 3 (state) on, separated by single spaces; we need 20, 23 and 24. */
	uint64_t v[25] = {0};
	int field = 3;
	while (field <= 24) {
		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			return -EINVAL;
		if (field == 3) { /* state: one letter */
			while (*p && *p != ' ' && *p != '\n')
				p++;
		} else {
			/* Some fields may be negative (priority, nice); keep only what we need. */
			if (*p == '-')
				p++;
			if (!read_u64(&p, &v[field]))
				return -EINVAL;
			if (*p && *p != ' ' && *p != '\n')
				return -EINVAL;
		}
		field++;
	}
	out->threads = v[20] > INT64_MAX ? INT64_MAX : (int64_t)v[20];
	out->vsize = v[23];
	out->rss_pages = v[24];
	return 0;
}

int sonde__parse_proc_stat(const char *text, int total, sonde__cpu_fn fn, void *ud)
{
	int n = 0;
	for (const char *p = text; p; p = next_line(p)) {
		if (strncmp(p, "cpu", 3) != 0)
			continue;
		const char *q = p + 3;
		int cpu = -1;
		if (isdigit((unsigned char)*q)) {
			uint64_t c;
			if (!read_u64(&q, &c) || c > 1u << 20)
				continue;
			cpu = (int)c;
		}
		if ((cpu < 0) != (total != 0) || (*q != ' ' && *q != '\t'))
			continue;
		uint64_t ticks[8] = {0};
		int got = 0;
		while (got < 8 && read_u64(&q, &ticks[got]))
			got++;
		if (got < 4)
			continue;
		fn(ud, cpu, ticks);
		n++;
	}
	return n;
}

int sonde__parse_meminfo(const char *text, sonde__meminfo *out)
{
	static const char *const keys[] = {"MemTotal:", "MemFree:", "Buffers:", "Cached:"};
	uint64_t *dst[] = {&out->total, &out->free, &out->buffers, &out->cached};
	bool seen[4] = {false};
	*out = (sonde__meminfo){0};
	for (const char *p = text; p; p = next_line(p)) {
		for (size_t k = 0; k < 4; k++) {
			size_t kl = strlen(keys[k]);
			if (strncmp(p, keys[k], kl) != 0)
				continue;
			const char *q = p + kl;
			uint64_t v;
			if (!read_u64(&q, &v))
				break;
			while (*q == ' ')
				q++;
			/* The kernel writes "kB" (meaning KiB); a bare number is bytes. */
			if (strncmp(q, "kB", 2) == 0)
				v = v > UINT64_MAX / 1024 ? UINT64_MAX : v * 1024;
			*dst[k] = v;
			seen[k] = true;
			break;
		}
	}
	return seen[0] && seen[1] ? 0 : -EINVAL;
}

/* Copies the blank-delimited word at *p into out (at most cap - 1 bytes) and advances. */
static bool read_word(const char **p, char *out, size_t cap, const char *stops)
{
	const char *s = *p;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = 0;
	while (*s && *s != '\n' && *s != ' ' && *s != '\t' && !strchr(stops, *s)) {
		if (n + 1 >= cap)
			return false;
		out[n++] = *s++;
	}
	out[n] = '\0';
	*p = s;
	return n > 0;
}

int sonde__parse_diskstats(const char *text, sonde__dev_fn fn, void *ud)
{
	int n = 0;
	for (const char *p = text; p; p = next_line(p)) {
		/* major minor name reads merged sectors_read ms writes merged sectors_written ... */
		const char *q = p;
		uint64_t major, minor, f[7];
		char name[64];
		if (!read_u64(&q, &major) || !read_u64(&q, &minor) || !read_word(&q, name, sizeof name, ""))
			continue;
		bool ok = true;
		for (int i = 0; i < 7 && ok; i++)
			ok = read_u64(&q, &f[i]);
		if (!ok || strncmp(name, "loop", 4) == 0 || strncmp(name, "ram", 3) == 0)
			continue;
		uint64_t rd = f[2] > UINT64_MAX / 512 ? UINT64_MAX : f[2] * 512;
		uint64_t wr = f[6] > UINT64_MAX / 512 ? UINT64_MAX : f[6] * 512;
		fn(ud, name, rd, wr);
		n++;
	}
	return n;
}

int sonde__parse_net_dev(const char *text, sonde__dev_fn fn, void *ud)
{
	int n = 0;
	for (const char *p = text; p; p = next_line(p)) {
		/* "  eth0: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes ..." */
		const char *q = p;
		char name[64];
		if (!read_word(&q, name, sizeof name, ":") || *q != ':')
			continue;
		q++;
		uint64_t f[9];
		bool ok = true;
		for (int i = 0; i < 9 && ok; i++)
			ok = read_u64(&q, &f[i]);
		if (!ok)
			continue;
		fn(ud, name, f[0], f[8]);
		n++;
	}
	return n;
}

/* ---- Reading /proc ----------------------------------------------------------------- */

/* Reads a whole /proc file into a NUL-terminated heap buffer (at most 4 MiB). NULL when it
 * cannot be read. */
static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (len + 1 >= cap) {
			if (cap >= (4u << 20))
				break;
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* ---- Process metrics --------------------------------------------------------------- */

enum { P_CPU, P_MEM, P_VIRT, P_THREADS, P_FDS, P_CTX, P_COUNT };

static int64_t count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int64_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void observe_process(sonde_observer *o, void *ud)
{
	if (!(atomic_load_explicit(&enabled, memory_order_relaxed) & SONDE_RUNTIME_METRICS_PROCESS))
		return;
	int what = (int)(intptr_t)ud;
	if (what == P_CPU || what == P_CTX) {
		struct rusage ru;
		if (getrusage(RUSAGE_SELF, &ru) < 0)
			return;
		if (what == P_CPU) {
			sonde_attr u = SONDE_ATTR_STR("cpu.mode", "user"),
			           s = SONDE_ATTR_STR("cpu.mode", "system");
			sonde_observe(o, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, &u, 1);
			sonde_observe(o, (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6, &s, 1);
		} else {
			sonde_attr v = SONDE_ATTR_STR("process.context_switch_type", "voluntary");
			sonde_attr i = SONDE_ATTR_STR("process.context_switch_type", "involuntary");
			sonde_observe_int(o, ru.ru_nvcsw, &v, 1);
			sonde_observe_int(o, ru.ru_nivcsw, &i, 1);
		}
		return;
	}
	if (what == P_FDS) {
		int64_t n = count_fds();
		if (n >= 0)
			sonde_observe_int(o, n, NULL, 0);
		return;
	}
	char *text = slurp("/proc/self/stat");
	sonde__proc_self_stat st;
	if (text && sonde__parse_self_stat(text, &st) == 0) {
		long page = sysconf(_SC_PAGESIZE);
		if (what == P_MEM)
			sonde_observe_int(o, (int64_t)(st.rss_pages * (uint64_t)(page > 0 ? page : 4096)),
			                  NULL, 0);
		else if (what == P_VIRT)
			sonde_observe_int(o, (int64_t)st.vsize, NULL, 0);
		else
			sonde_observe_int(o, st.threads, NULL, 0);
	}
	free(text);
}

/* ---- Host metrics ------------------------------------------------------------------ */

enum { H_CPU_TIME, H_CPU_UTIL, H_MEM, H_DISK, H_NET, H_COUNT };

static const char *const cpu_modes[8] = {"user",   "nice",      "system",  "idle",
                                         "iowait", "interrupt", "softirq", "steal"};

static double ticks_per_sec(void)
{
	long t = sysconf(_SC_CLK_TCK);
	return t > 0 ? (double)t : 100.0;
}

static void observe_cpu_time(void *ud, int cpu, const uint64_t ticks[8])
{
	sonde_observer *o = ud;
	double tps = ticks_per_sec();
	for (int m = 0; m < 8; m++) {
		sonde_attr a[2] = {SONDE_ATTR_INT("cpu.logical_number", cpu),
		                   SONDE_ATTR_STR("cpu.mode", cpu_modes[m])};
		sonde_observe(o, (double)ticks[m] / tps, a, 2);
	}
}

/* The totals at the previous collection (under the metrics lock, as callbacks are). */
static uint64_t prev_total[8];
static bool prev_set;

static void keep_total(void *ud, int cpu, const uint64_t ticks[8])
{
	memcpy(ud, ticks, 8 * sizeof(uint64_t));
}

static void observe_cpu_util(sonde_observer *o)
{
	char *text = slurp("/proc/stat");
	uint64_t now[8];
	if (!text || sonde__parse_proc_stat(text, 1, keep_total, now) != 1) {
		free(text);
		return;
	}
	free(text);
	uint64_t d[8], sum = 0;
	for (int m = 0; m < 8; m++) {
		d[m] = prev_set && now[m] >= prev_total[m] ? now[m] - prev_total[m] : now[m];
		sum += d[m];
	}
	/* No tick since the previous collection: report the totals since boot instead. */
	if (sum == 0)
		for (int m = 0; m < 8; m++)
			sum += d[m] = now[m];
	memcpy(prev_total, now, sizeof now);
	prev_set = true;
	if (sum == 0)
		return;
	for (int m = 0; m < 8; m++) {
		sonde_attr a = SONDE_ATTR_STR("cpu.mode", cpu_modes[m]);
		sonde_observe(o, (double)d[m] / (double)sum, &a, 1);
	}
}

static void observe_disk(void *ud, const char *dev, uint64_t rd, uint64_t wr)
{
	sonde_attr a[2] = {SONDE_ATTR_STR("system.device", dev), SONDE_ATTR_STR("disk.io.direction", "read")};
	sonde_observe_int(ud, (int64_t)(rd > INT64_MAX ? INT64_MAX : rd), a, 2);
	a[1].v.s = "write";
	sonde_observe_int(ud, (int64_t)(wr > INT64_MAX ? INT64_MAX : wr), a, 2);
}

static void observe_net(void *ud, const char *dev, uint64_t rx, uint64_t tx)
{
	sonde_attr a[2] = {SONDE_ATTR_STR("network.interface.name", dev),
	                   SONDE_ATTR_STR("network.io.direction", "receive")};
	sonde_observe_int(ud, (int64_t)(rx > INT64_MAX ? INT64_MAX : rx), a, 2);
	a[1].v.s = "transmit";
	sonde_observe_int(ud, (int64_t)(tx > INT64_MAX ? INT64_MAX : tx), a, 2);
}

static void observe_host(sonde_observer *o, void *ud)
{
	if (!(atomic_load_explicit(&enabled, memory_order_relaxed) & SONDE_RUNTIME_METRICS_HOST))
		return;
	int what = (int)(intptr_t)ud;
	if (what == H_CPU_UTIL) {
		observe_cpu_util(o);
		return;
	}
	static const char *const paths[H_COUNT] = {"/proc/stat", NULL, "/proc/meminfo", "/proc/diskstats",
	                                           "/proc/net/dev"};
	char *text = slurp(paths[what]);
	if (!text)
		return;
	if (what == H_CPU_TIME) {
		sonde__parse_proc_stat(text, 0, observe_cpu_time, o);
	} else if (what == H_MEM) {
		sonde__meminfo mi;
		if (sonde__parse_meminfo(text, &mi) == 0) {
			uint64_t other = mi.free + mi.buffers + mi.cached;
			uint64_t used = mi.total > other ? mi.total - other : 0;
			const char *states[4] = {"used", "free", "buffers", "cached"};
			uint64_t vals[4] = {used, mi.free, mi.buffers, mi.cached};
			for (int k = 0; k < 4; k++) {
				sonde_attr a = SONDE_ATTR_STR("system.memory.state", states[k]);
				sonde_observe_int(o, (int64_t)(vals[k] > INT64_MAX ? INT64_MAX : vals[k]), &a,
				                  1);
			}
		}
	} else if (what == H_DISK) {
		sonde__parse_diskstats(text, observe_disk, o);
	} else {
		sonde__parse_net_dev(text, observe_net, o);
	}
	free(text);
}

/* ---- Registration ------------------------------------------------------------------ */

typedef struct def {
	sonde_instrument_kind kind;
	sonde_metric_value_type vt;
	const char *name, *unit, *description;
} def;

static void register_defs(const def *defs, size_t n, sonde_observe_fn cb)
{
	sonde_meter *m = sonde_meter_get("sonde.runtime", NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		sonde_instrument_opts o = {.kind = defs[i].kind,
		                           .name = defs[i].name,
		                           .unit = defs[i].unit,
		                           .description = defs[i].description,
		                           .value_type = defs[i].vt,
		                           .callback = cb,
		                           .callback_ud = (void *)(intptr_t)i};
		sonde_instrument_new(m, &o);
	}
}

static void register_process(void)
{
	static const def defs[P_COUNT] = {
	        [P_CPU] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, SONDE_METRIC_DOUBLE, "process.cpu.time", "s",
	                   "Total CPU seconds broken down by different states."},
	        [P_MEM] = {SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER, SONDE_METRIC_INT,
	                   "process.memory.usage", "By", "The amount of physical memory in use."},
	        [P_VIRT] = {SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER, SONDE_METRIC_INT,
	                    "process.memory.virtual", "By", "The amount of committed virtual memory."},
	        [P_THREADS] = {SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER, SONDE_METRIC_INT,
	                       "process.thread.count", "{thread}", "Process threads count."},
	        [P_FDS] = {SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER, SONDE_METRIC_INT,
	                   "process.open_file_descriptor.count", "{count}",
	                   "Number of file descriptors in use by the process."},
	        [P_CTX] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, SONDE_METRIC_INT, "process.context_switches",
	                   "{count}", "Number of times the process has been context switched."},
	};
	register_defs(defs, P_COUNT, observe_process);
}

static void register_host(void)
{
	static const def defs[H_COUNT] = {
	        [H_CPU_TIME] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, SONDE_METRIC_DOUBLE, "system.cpu.time",
	                        "s", "Seconds each logical CPU spent on each mode."},
	        [H_CPU_UTIL] = {SONDE_INSTRUMENT_OBSERVABLE_GAUGE, SONDE_METRIC_DOUBLE,
	                        "system.cpu.utilization", "1",
	                        "Difference in system.cpu.time since the last measurement, divided by the "
	                        "elapsed time and number of logical CPUs."},
	        [H_MEM] = {SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER, SONDE_METRIC_INT,
	                   "system.memory.usage", "By", "Reports memory in use by state."},
	        [H_DISK] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, SONDE_METRIC_INT, "system.disk.io", "By",
	                    "Disk bytes transferred."},
	        [H_NET] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, SONDE_METRIC_INT, "system.network.io", "By",
	                   "Network bytes transferred."},
	};
	register_defs(defs, H_COUNT, observe_host);
}

static int enable(unsigned what)
{
	static pthread_once_t process_once = PTHREAD_ONCE_INIT, host_once = PTHREAD_ONCE_INIT;
	if (what & ~(unsigned)(SONDE_RUNTIME_METRICS_PROCESS | SONDE_RUNTIME_METRICS_HOST))
		return -EINVAL;
	if (what & SONDE_RUNTIME_METRICS_PROCESS)
		pthread_once(&process_once, register_process);
	if (what & SONDE_RUNTIME_METRICS_HOST)
		pthread_once(&host_once, register_host);
	atomic_store_explicit(&enabled, what, memory_order_relaxed);
	return 0;
}

int sonde_runtime_metrics_enable(unsigned what)
{
	int rc = enable(what);
	if (rc == 0)
		atomic_store_explicit(&set_by_program, true, memory_order_relaxed);
	return rc;
}

void sonde__runtime_metrics_set(unsigned what)
{
	if (!atomic_load_explicit(&set_by_program, memory_order_relaxed))
		enable(what & (SONDE_RUNTIME_METRICS_PROCESS | SONDE_RUNTIME_METRICS_HOST));
}

unsigned sonde_runtime_metrics_enabled(void)
{
	return atomic_load_explicit(&enabled, memory_order_relaxed);
}

static void from_env_once(void)
{
	bool on;
	if (atomic_load_explicit(&set_by_program, memory_order_relaxed))
		return;
	unsigned what = atomic_load_explicit(&enabled, memory_order_relaxed);
	if (sonde__env_bool("SONDE_METRICS_RUNTIME", &on) > 0 && on)
		what |= SONDE_RUNTIME_METRICS_PROCESS;
	if (sonde__env_bool("SONDE_METRICS_HOST", &on) > 0 && on)
		what |= SONDE_RUNTIME_METRICS_HOST;
	if (what)
		enable(what);
}

void sonde__runtime_metrics_from_env(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, from_env_once);
}
