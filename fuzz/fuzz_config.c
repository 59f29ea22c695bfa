/*
 * fuzz_config.c - the configuration file parser (config.h: libyaml, the schema walk, the
 * ${VAR} substitution) and the /proc parsers of the runtime metrics: no input crashes
 * them; a refused file always says why, naming the file; an accepted one frees cleanly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_metrics_internal.h"
#include "sonde/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_cpu(void *ud, int cpu, const uint64_t ticks[8])
{
	(*(uint64_t *)ud) += ticks[0] + (uint64_t)cpu;
}

static void on_dev(void *ud, const char *dev, uint64_t a, uint64_t b)
{
	if (!*dev)
		abort();
	(*(uint64_t *)ud) += a + b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_config *c = NULL;
	char err[512] = "";
	int rc = sonde_config_parse((const char *)data, size, "fuzz.yaml", &c, err, sizeof err);
	if (rc == 0) {
		if (!c)
			abort();
		sonde_config_free(c);
	} else {
		if (c || (rc == -EINVAL && strncmp(err, "fuzz.yaml", 9) != 0))
			abort();
	}
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	uint64_t sink = 0;
	sonde__proc_self_stat st;
	sonde__meminfo mi;
	sonde__parse_self_stat(text, &st);
	sonde__parse_proc_stat(text, 0, on_cpu, &sink);
	sonde__parse_proc_stat(text, 1, on_cpu, &sink);
	sonde__parse_meminfo(text, &mi);
	sonde__parse_diskstats(text, on_dev, &sink);
	sonde__parse_net_dev(text, on_dev, &sink);
	free(text);
	return 0;
}
