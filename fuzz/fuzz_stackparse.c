/*
 * fuzz_stackparse.c - the stack trace parser (src/analyze/stackparse.h) on any bytes: it
 * must not crash or read outside its input, every frame must point inside the input,
 * the count stored is the smaller of the frames found and the room given, and the
 * message line lies inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stackparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const char *base, size_t size, const char *p, size_t n)
{
	if (n && (p < base || p > base + size || n > (size_t)(base + size - p)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan sees any read past the end. */
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	sonde_stack_frame fr[16];
	sonde_stack_lang lang;
	size_t n = sonde_stack_parse(text, size, fr, 16, &lang);
	if (n > 16 || (n == 0) != (lang == SONDE_STACK_NONE))
		abort();
	for (size_t i = 0; i < n; i++) {
		inside(text, size, fr[i].function, fr[i].function_len);
		inside(text, size, fr[i].file, fr[i].file_len);
	}
	sonde_stack_frame few[2];
	size_t m = sonde_stack_parse(text, size, few, 2, NULL);
	if (m != (n < 2 ? n : 2))
		abort();
	if ((sonde_stack_has_trace(text, size) != 0) != (n != 0))
		abort();
	size_t off, len;
	sonde_stack_message(text, size, &off, &len);
	if (off > size || len > size - off)
		abort();
	free(text);
	return 0;
}
