/*
 * runtime_metrics.h - opt-in process and host metrics read from /proc (and getrusage), with
 * the OpenTelemetry semantic-convention names, as observable instruments of the meter
 * "sonde.runtime".
 *
 * Process (SONDE_RUNTIME_METRICS_PROCESS): process.cpu.time (s, cpu.mode user|system),
 * process.memory.usage (By, resident), process.memory.virtual (By), process.thread.count,
 * process.open_file_descriptor.count, process.context_switches
 * (process.context_switch_type voluntary|involuntary).
 * Host (SONDE_RUNTIME_METRICS_HOST): system.cpu.time (s, cpu.logical_number, cpu.mode),
 * system.cpu.utilization (1, cpu.mode, all CPUs together, since the previous collection),
 * system.memory.usage (By, system.memory.state used|free|buffers|cached), system.disk.io
 * (By, system.device, disk.io.direction read|write; loop and ram devices left out),
 * system.network.io (By, network.interface.name, network.io.direction receive|transmit).
 *
 * The values are read when a collection runs (a Prometheus scrape, a periodic push, a
 * sonde_metric_reader_collect), on the collecting thread, never on the application's hot
 * path. Off by default; switched on by this API, by the environment (SONDE_METRICS_RUNTIME=
 * true, SONDE_METRICS_HOST=true, read once at the first collection, sonde_trace_init or
 * Prometheus start), or by the configuration file (sonde.metrics.runtime / .host).
 *
 * Thread safety: any thread, any time.
 */
#ifndef SONDE_RUNTIME_METRICS_H
#define SONDE_RUNTIME_METRICS_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	SONDE_RUNTIME_METRICS_PROCESS = 1u << 0,
	SONDE_RUNTIME_METRICS_HOST = 1u << 1,
};

/* Reports the groups in `what` (a mask of SONDE_RUNTIME_METRICS_*) from the next
 * collection on; 0 stops reporting (the instruments stay registered, without data).
 * Returns 0, or -EINVAL for an unknown bit. */
int sonde_runtime_metrics_enable(unsigned what);
/* The groups reported now. */
unsigned sonde_runtime_metrics_enabled(void);

#ifdef __cplusplus
}
#endif
#endif
