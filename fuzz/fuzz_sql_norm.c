/*
 * fuzz_sql_norm.c - the statement normaliser (src/analyze/sql_norm.h) on any bytes: it
 * must not crash, its output is never longer than its input, and normalising twice
 * changes nothing more (a normalised statement is its own group key).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sql_norm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_buf a = SONDE_BUF_INIT, b = SONDE_BUF_INIT;
	sonde_sql_normalize((const char *)data, size, &a);
	if (a.oom)
		abort();
	if (a.len > size)
		abort();
	sonde_sql_normalize(a.len ? a.data : "", a.len, &b);
	if (b.oom || b.len != a.len || (a.len && memcmp(a.data, b.data, a.len) != 0))
		abort();
	sonde_buf_release(&a);
	sonde_buf_release(&b);
	return 0;
}
