/*
 * fuzz_perfmap.c - libFuzzer target for the /tmp/perf-PID.map reader (src/profile/
 * symbolize.c): any bytes either parse into entries with a name inside the input, or fail
 * with SONDE_EPARSE naming the line and field.
 */
#include <stdint.h>
#include <stdlib.h>

#include "sonde/status.h"
#include "symbolize.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct range {
	const char *start, *end;
} range;

static int on_entry(void *arg, uint64_t start, uint64_t len, const char *name, size_t name_len)
{
	const range *r = arg;
	if (name < r->start || name > r->end || name_len > (size_t)(r->end - name))
		abort();
	for (size_t i = 0; i < name_len; i++)
		if (name[i] == '\n')
			abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	range r = {(const char *)data, (const char *)data + size};
	sonde_wire_error err;
	int rc = sonde_perfmap_parse((const char *)data, size, on_entry, &r, &err);
	if (rc != 0 && (rc != SONDE_EPARSE || err.line == 0 || err.offset > size))
		abort();
	return 0;
}
