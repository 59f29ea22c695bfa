/*
 * fuzz_chrome_trace.c - the Trace Event Format: any input the reader takes must read the
 * same again (ids included), hold only well-formed records, and survive a Zipkin write and
 * read; input it refuses must leave the batch empty.
 */
#include <stdint.h>

#include "chrome_trace.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_read_input(sonde_chrome_trace_read, data, size, fuzz_trace_accepted);
}
