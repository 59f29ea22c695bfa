/*
 * fuzz_store_codec.c - the store's record decoder on damaged blobs (a store file is
 * outside input): no blob makes it crash or read out of bounds, and whatever it decodes
 * encodes and decodes again to an equal record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store_codec_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sonde_batch *b = sonde_batch_new();
	if (!b || size == 0)
		goto out;
	uint8_t which = data[0] % 6;
	const uint8_t *blob = data + 1;
	size_t n = size - 1;
	sonde__dec d;
	sonde__dec_init(&d, b, blob, n);
	sonde_buf enc = SONDE_BUF_INIT;
	sonde_resource *res = sonde_batch_new_resource(b);
	sonde_scope *sc = sonde_batch_new_scope(b);
	switch (which) {
	case 0: {
		sonde_attrs a, a2;
		if (sonde__dec_attrs(&d, &a, 0) == 0) {
			sonde__enc_attrs(&enc, &a);
			sonde__dec_init(&d, b, enc.data, enc.len);
			if (sonde__dec_attrs(&d, &a2, 0) != 0 || !sonde_attrs_equal(&a, &a2))
				abort();
			/* and with well-known keys as references */
			sonde_buf_reset(&enc);
			sonde__enc_attrs_known(&enc, &a);
			sonde__dec_init(&d, b, enc.data, enc.len);
			if (sonde__dec_attrs(&d, &a2, 0) != 0 || !sonde_attrs_equal(&a, &a2))
				abort();
		}
		sonde_buf bt = SONDE_BUF_INIT;
		sonde__attrs_find_text(blob, n, "k", 1, &bt);
		sonde__attrs_find_text(blob, n, "url.full", 8, &bt);
		sonde_buf_release(&bt);
		break;
	}
	case 1: {
		sonde_span_data *x = sonde_batch_add_span(b, res, sc), y;
		if (x && sonde__dec_span_rest(&d, x) == 0) {
			sonde__enc_span_rest(&enc, x);
			y = *x;
			y.events = NULL, y.links = NULL;
			y.events_count = y.links_count = 0;
			sonde__dec_init(&d, b, enc.data, enc.len);
			if (sonde__dec_span_rest(&d, &y) != 0 || !sonde_span_data_equal(x, &y))
				abort();
		}
		break;
	}
	case 2: {
		sonde_log_data *x = sonde_batch_add_log(b, res, sc), y;
		if (x && sonde__dec_log_rest(&d, x) == 0) {
			sonde__enc_log_rest(&enc, x);
			y = *x;
			sonde__dec_init(&d, b, enc.data, enc.len);
			if (sonde__dec_log_rest(&d, &y) != 0 || !sonde_log_data_equal(x, &y))
				abort();
		}
		break;
	}
	case 3: sonde__dec_resource(&d, res); break;
	case 4: sonde__dec_scope(&d, sc); break;
	case 5: {
		sonde_point p;
		memset(&p, 0, sizeof p);
		sonde_metric_type t = (sonde_metric_type)(n ? blob[0] % 6 : 0);
		sonde__dec_init(&d, b, n ? blob + 1 : blob, n ? n - 1 : 0);
		sonde_metric_data m;
		memset(&m, 0, sizeof m);
		if (sonde__dec_point_rest(&d, t, &p) == 0)
			sonde__enc_point_rest(&enc, t, &p);
		sonde__dec_metric_meta(&d, &m);
		break;
	}
	}
	sonde_buf_release(&enc);
out:
	sonde_batch_free(b);
	return 0;
}
