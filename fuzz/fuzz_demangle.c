/*
 * fuzz_demangle.c - libFuzzer target for the Rust v0 demangler (src/profile/demangle.c):
 * any bytes after "_R" either demangle into a NUL-terminated name of bounded length, or
 * leave the name mangled (NULL); never a crash, a hang or a read past the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "demangle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *name = malloc(size + 3);
	if (!name)
		return 0;
	memcpy(name, "_R", 2); /* only the v0 path: "_Z" names go to libstdc++ */
	memcpy(name + 2, data, size);
	name[size + 2] = '\0';
	char *out = sonde_demangle(name);
	if (out) {
		size_t n = strlen(out);
		if (n == 0 || n >= 64 * 1024)
			abort();
		free(out);
	}
	free(name);
	return 0;
}
