/*
 * fuzz_redact.c - the secret redactor on arbitrary text, with and without e-mail and a
 * value limit: it must not crash or read out of bounds, must respect the limit, and its
 * output, redacted again, must contain nothing more to redact.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	sonde__redactor r = SONDE__REDACTOR_DEFAULT;
	r.flags = data[0] & 1 ? SONDE__REDACT_EMAIL : 0;
	r.max_value_len = data[0] & 2 ? (size_t)(data[0] >> 2) * 8 : 0;
	const char *text = (const char *)data + 1;
	size_t n = size - 1;
	sonde_buf once = SONDE_BUF_INIT, twice = SONDE_BUF_INIT;
	if (sonde__redact_text(&r, text, n, &once) < 0)
		abort();
	/* The limit holds, up to the note that says how long the value was. */
	if (r.max_value_len && once.len > r.max_value_len + 64)
		abort();
	if (!r.max_value_len) {
		/* Redacting the output again finds nothing new. */
		int again = sonde__redact_text(&r, once.data ? once.data : "", once.len, &twice);
		if (again != 0 || twice.len != once.len ||
		    (once.len && memcmp(once.data, twice.data, once.len)))
			abort();
	}
	(void)sonde__redact_key(&r, text, n);
	sonde_buf_release(&once);
	sonde_buf_release(&twice);
	return 0;
}
