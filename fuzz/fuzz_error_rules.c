/*
 * fuzz_error_rules.c - the rules file parser of `sonde errors` (src/analyze/errors.h) on
 * any bytes: it must not crash; a refused file leaves the rules as they were and says
 * where ("NAME:LINE: ..."); accepted rules are well formed and can be matched against
 * facts built from the input itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "sonde/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size ? size : 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	sonde_error_rules r;
	sonde_error_rules_init(&r);
	char err[256];
	int rc = sonde_error_rules_parse(&r, "f", text, size, err, sizeof(err));
	if (rc == SONDE_EFORMAT) {
		if (r.count != 0 || strncmp(err, "f:", 2) != 0)
			abort();
	} else if (rc == 0) {
		for (size_t i = 0; i < r.count; i++) {
			const sonde_error_rule *x = &r.items[i];
			if (!x->pattern || !x->pattern[0] || !x->origin ||
			    (unsigned)x->category >= SONDE_ERRCAT_COUNT)
				abort();
			if ((x->field == SONDE_ERRFIELD_ATTR) != (x->key != NULL))
				abort();
		}
		/* The input, NUL-terminated, as every fact. */
		char *s = malloc(size + 1);
		if (!s)
			abort();
		memcpy(s, data, size);
		s[size] = '\0';
		sonde_kv kv = {{"k", 1}, {.kind = SONDE_VAL_STRING}};
		kv.value.u.str.ptr = s;
		kv.value.u.str.len = strlen(s);
		sonde_attrs a = {&kv, 1};
		sonde_error_facts f = {s, s, s, &a, s};
		const sonde_error_rule *m = sonde_error_rules_match(&r, &f);
		if (m && (unsigned)m->category >= SONDE_ERRCAT_COUNT)
			abort();
		free(s);
	} else if (rc != -ENOMEM) {
		abort();
	}
	sonde_error_rules_release(&r);
	free(text);
	return 0;
}
