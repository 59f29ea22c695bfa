/*
 * fuzz_ch_rowbinary.c - the ClickHouse backend's RowBinary reader on any bytes (a
 * server's answer is outside input): rows of a span's attribute columns (keys, values as
 * text, kinds) never make it read out of bounds or crash, and attributes it rebuilds
 * from them are ones the writer would store the same way and that rebuild again equal.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_clickhouse_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_batch *b = sonde_batch_new();
	if (!b)
		abort();
	sonde__rb r = {data, data + size, false, false};
	while (!r.short_ && !r.bad && r.p < r.end) {
		/* One row: Array(String) keys, Array(String) values, String kinds. */
		uint64_t nk = sonde__rb_count(&r);
		sonde__rb keys = r;
		size_t len;
		for (uint64_t i = 0; i < nk && !r.short_; i++)
			sonde__rb_str(&r, &len);
		uint64_t nv = sonde__rb_count(&r);
		sonde__rb vals = r;
		for (uint64_t i = 0; i < nv && !r.short_; i++)
			sonde__rb_str(&r, &len);
		const uint8_t *kinds = sonde__rb_str(&r, &len);
		if (r.short_ || r.bad || nk != nv || nk != len)
			break;
		sonde_attrs a;
		if (sonde__ch_attrs_from_arrays(&keys, &vals, kinds, nk, b, &a) != 0)
			continue;
		/* What was rebuilt, when the writer would keep it as arrays and kinds (not a NaN
		 * of other bits, say), has the same kinds and reads back equal. */
		sonde_buf k = SONDE_BUF_INIT, rows = SONDE_BUF_INIT, text = SONDE_BUF_INIT;
		if (!sonde__ch_attr_kinds(&a, &k) || !sonde_attrs_equal(&a, &a)) {
			sonde_buf_release(&k);
			continue;
		}
		if (k.len != nk || (nk && memcmp(k.data, kinds, nk) != 0))
			abort();
		sonde__rbw_attr_arrays(&rows, &a, &text);
		sonde__rb w = {(const uint8_t *)rows.data, (const uint8_t *)rows.data + rows.len, false,
		               false};
		uint64_t n2 = sonde__rb_count(&w);
		sonde__rb keys2 = w;
		for (uint64_t i = 0; i < n2; i++)
			sonde__rb_str(&w, &len);
		sonde__rb_count(&w);
		sonde__rb vals2 = w;
		sonde_attrs a2;
		if (n2 != nk || sonde__ch_attrs_from_arrays(&keys2, &vals2, kinds, nk, b, &a2) != 0 ||
		    !sonde_attrs_equal(&a, &a2))
			abort();
		sonde_buf_release(&k);
		sonde_buf_release(&rows);
		sonde_buf_release(&text);
	}
	/* The scalar readers on the same bytes. */
	sonde__rb s = {data, data + size, false, false};
	while (!s.short_ && s.p < s.end) {
		uint8_t f[16];
		switch (sonde__rb_u8(&s) % 5) {
		case 0: sonde__rb_u64(&s); break;
		case 1: sonde__rb_i32(&s); break;
		case 2: sonde__rb_f64(&s); break;
		case 3: sonde__rb_fixed(&s, f, sizeof f); break;
		default: {
			size_t n;
			const uint8_t *p = sonde__rb_str(&s, &n);
			if (n && (p < data || p + n > data + size))
				abort();
			if (s.bad)
				s.short_ = true;
		}
		}
	}
	sonde_batch_free(b);
	return 0;
}
