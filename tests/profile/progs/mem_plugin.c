/* mem_plugin.c - a library mem_same dlopens: it allocates, and leaks one block from a
 * function the report must name although the library is closed before exit. */
#include <stdlib.h>
#include <string.h>

void *volatile plugin_sink;

__attribute__((noinline)) unsigned plugin_work(unsigned seed)
{
	char *p = malloc(300);
	memset(p, (int)seed, 300);
	unsigned sum = 0;
	for (int i = 0; i < 300; i++)
		sum = sum * 31 + (unsigned char)p[i];
	plugin_sink = p; /* leaked */
	return sum;
}
