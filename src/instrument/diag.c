/*
 * diag.c - libsonde's voice: problems go to the callback the application installed with
 * sonde_set_diagnostics, or nowhere. libsonde itself never prints.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "clock.h"
#include "exporter_internal.h"
#include "sonde/trace.h"

typedef struct diag_sink {
	void (*fn)(void *ud, const char *msg);
	void *ud;
} diag_sink;

/* Replaced whole, so a reader never sees a callback paired with another's user data. */
static _Atomic(diag_sink *) current_sink;
static diag_sink sinks[2];
static atomic_uint sink_gen;

void sonde_set_diagnostics(void (*fn)(void *ud, const char *msg), void *ud)
{
	unsigned g = atomic_fetch_add(&sink_gen, 1) + 1;
	diag_sink *s = &sinks[g & 1];
	s->fn = fn;
	s->ud = ud;
	atomic_store_explicit(&current_sink, fn ? s : NULL, memory_order_release);
}

void sonde__diag(const char *fmt, ...)
{
	diag_sink *s = atomic_load_explicit(&current_sink, memory_order_acquire);
	if (!s || !s->fn)
		return;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->fn(s->ud, msg);
}

uint64_t sonde__mono_ns(void)
{
	return sonde_clock_monotonic_ns();
}
