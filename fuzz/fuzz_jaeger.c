/*
 * fuzz_jaeger.c - Jaeger JSON: any input the reader takes must read the same again, hold
 * only well-formed records, and survive a Zipkin write and read; input it refuses must
 * leave the batch empty.
 */
#include <stdint.h>

#include "fuzz_common.h"
#include "jaeger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_read_input(sonde_jaeger_read, data, size, fuzz_trace_accepted);
}
