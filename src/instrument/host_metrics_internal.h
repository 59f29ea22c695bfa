/*
 * host_metrics_internal.h - the /proc parsers behind runtime_metrics.h (metrics_host.c),
 * exposed for tests. Each takes the text of one /proc file (NUL-terminated) and never
 * trusts it: a malformed line is skipped, a malformed file gives -EINVAL.
 */
#ifndef SONDE_HOST_METRICS_INTERNAL_H
#define SONDE_HOST_METRICS_INTERNAL_H

#include <stdint.h>

/* From /proc/<pid>/stat: the comm field may hold spaces and parentheses, so the fields
 * are counted from the last ')'. */
typedef struct sonde__proc_self_stat {
	int64_t threads;    /* num_threads (field 20) */
	uint64_t vsize;     /* bytes (field 23) */
	uint64_t rss_pages; /* pages (field 24) */
} sonde__proc_self_stat;
int sonde__parse_self_stat(const char *text, sonde__proc_self_stat *out);

/* Calls fn for each "cpuN" line of /proc/stat (not the "cpu" total unless total is set,
 * then only it, with cpu = -1): ticks[0..8) = user nice system idle iowait irq softirq
 * steal (missing columns are 0). Returns the number of lines passed on. */
typedef void (*sonde__cpu_fn)(void *ud, int cpu, const uint64_t ticks[8]);
int sonde__parse_proc_stat(const char *text, int total, sonde__cpu_fn fn, void *ud);

/* From /proc/meminfo, in bytes: MemTotal, MemFree, Buffers, Cached. Returns 0, or -EINVAL
 * when MemTotal or MemFree is missing. */
typedef struct sonde__meminfo {
	uint64_t total, free, buffers, cached;
} sonde__meminfo;
int sonde__parse_meminfo(const char *text, sonde__meminfo *out);

/* Calls fn(device, a, b) for each device line: /proc/diskstats gives bytes read and
 * written (sectors * 512; loop* and ram* devices skipped), /proc/net/dev bytes received
 * and transmitted. Return the number of devices passed on. */
typedef void (*sonde__dev_fn)(void *ud, const char *dev, uint64_t a, uint64_t b);
int sonde__parse_diskstats(const char *text, sonde__dev_fn fn, void *ud);
int sonde__parse_net_dev(const char *text, sonde__dev_fn fn, void *ud);

/* Reads the environment switches once (SONDE_METRICS_RUNTIME, SONDE_METRICS_HOST). Safe
 * from any thread that does not hold the metrics lock. */
void sonde__runtime_metrics_from_env(void);

/* Sets the groups reported (a mask of SONDE_RUNTIME_METRICS_*) as the configuration file
 * and the environment ask, unless the program called sonde_runtime_metrics_enable. */
void sonde__runtime_metrics_set(unsigned what);

#endif
