/*
 * fuzz_abtest_input.c - the reader of `sonde abtest` input (CSV or JSON Lines of units or
 * counts): no input crashes it, and what it takes is consistent: every variant named, no
 * more conversions than users, segment cells that add up to at most their variant's
 * totals, finite values only, and the same tallies when read again.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sonde/status.h"
#include "stats_abtest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const sonde_abtest_data *d)
{
	if (d->variants_count > SONDE_ABTEST_MAX_VARIANTS || d->segments_count > SONDE_ABTEST_MAX_SEGMENTS)
		abort();
	for (size_t v = 0; v < d->variants_count; v++) {
		const sonde_abtest_variant *var = &d->variants[v];
		if (!var->name || var->conversions > var->users || var->values_count > var->values_cap)
			abort();
		for (size_t i = 0; i < var->values_count; i++)
			if (!isfinite(var->values[i]))
				abort();
		uint64_t users = 0, conv = 0;
		for (size_t s = 0; s < d->segments_count; s++) {
			const sonde_abtest_cell *c = &d->cells[s * SONDE_ABTEST_MAX_VARIANTS + v];
			if (c->conversions > c->users)
				abort();
			users += c->users;
			conv += c->conversions;
		}
		if (users > var->users || conv > var->conversions)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_abtest_data a, b;
	sonde_wire_error err;
	memset(&err, 0, sizeof(err));
	sonde_abtest_data_init(&a);
	sonde_abtest_data_init(&b);
	int rc = sonde_abtest_read(&a, (const char *)data, size, &err);
	if (rc == 0) {
		check(&a);
		if (sonde_abtest_read(&b, (const char *)data, size, &err) != 0 ||
		    b.variants_count != a.variants_count || b.segments_count != a.segments_count)
			abort();
		for (size_t v = 0; v < a.variants_count; v++)
			if (strcmp(a.variants[v].name, b.variants[v].name) ||
			    a.variants[v].users != b.variants[v].users ||
			    a.variants[v].conversions != b.variants[v].conversions ||
			    a.variants[v].values_count != b.variants[v].values_count)
				abort();
	} else if (rc == SONDE_EPARSE) {
		if (err.msg[0] == '\0' || err.offset > size)
			abort();
	} else if (rc != -ENOMEM) {
		abort();
	}
	sonde_abtest_data_release(&a);
	sonde_abtest_data_release(&b);
	return 0;
}
