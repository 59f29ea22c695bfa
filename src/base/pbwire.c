/*
 * pbwire.c - protocol buffers wire format (see pbwire.h): the general varint and tag
 * decoders, field skipping, and the encoder with its open/close length patching.
 */
#include "pbwire.h"

void sonde_pb_reader_init(sonde_pb_reader *r, const void *buf, size_t len)
{
	static const uint8_t empty[1];
	r->base = buf ? buf : empty;
	r->pos = r->base;
	r->end = r->base + (buf ? len : 0);
	r->err_offset = 0;
	r->err_msg = NULL;
}

int sonde_pb_fail(sonde_pb_reader *r, const uint8_t *at, const char *msg)
{
	r->err_offset = (size_t)(at - r->base);
	r->err_msg = msg;
	return SONDE_EPARSE;
}

int sonde__pb_read_varint_slow(sonde_pb_reader *r, uint64_t *out)
{
	const uint8_t *p = r->pos;
	uint64_t v = 0;
	for (unsigned i = 0; i < 10; i++) {
		if ((size_t)(r->end - p) <= i)
			return sonde_pb_fail(r, r->pos, "truncated varint");
		uint8_t c = p[i];
		if (i == 9 && c > 1)
			return sonde_pb_fail(r, r->pos, "varint longer than 64 bits");
		v |= (uint64_t)(c & 0x7f) << (7 * i);
		if (c < 0x80) {
			r->pos = p + i + 1;
			*out = v;
			return 0;
		}
	}
	return sonde_pb_fail(r, r->pos, "varint longer than 64 bits");
}

int sonde__pb_next_field_slow(sonde_pb_reader *r, uint32_t *field, uint32_t *wire_type)
{
	if (r->pos >= r->end)
		return 0;
	const uint8_t *at = r->pos;
	uint64_t tag;
	if (sonde_pb_read_varint(r, &tag) < 0)
		return SONDE_EPARSE;
	uint64_t f = tag >> 3;
	uint32_t wt = (uint32_t)(tag & 7);
	if (f == 0)
		return sonde_pb_fail(r, at, "field number 0 in tag");
	if (f > SONDE_PB_MAX_FIELD)
		return sonde_pb_fail(r, at, "field number out of range in tag");
	if (wt > SONDE_PB_I32)
		return sonde_pb_fail(r, at, "invalid wire type in tag");
	*field = (uint32_t)f;
	*wire_type = wt;
	return 1;
}

int sonde_pb_skip(sonde_pb_reader *r, uint32_t wire_type)
{
	uint64_t v;
	const uint8_t *p;
	size_t n;
	switch (wire_type) {
	case SONDE_PB_VARINT: return sonde_pb_read_varint(r, &v);
	case SONDE_PB_I64: return sonde_pb_read_fixed64(r, &v);
	case SONDE_PB_LEN: return sonde_pb_read_bytes(r, &p, &n);
	case SONDE_PB_I32:
		if (r->end - r->pos < 4)
			return sonde_pb_fail(r, r->pos, "truncated fixed32");
		r->pos += 4;
		return 0;
	case SONDE_PB_SGROUP:
	case SONDE_PB_EGROUP: return sonde_pb_fail(r, r->pos, "groups are not supported");
	default: return sonde_pb_fail(r, r->pos, "invalid wire type");
	}
}

/* ---- Writer ---------------------------------------------------------------------- */

void sonde_pb_writer_init(sonde_pb_writer *w, sonde_buf *out)
{
	w->out = out;
	w->depth = 0;
	w->overflow = false;
}

static inline uint32_t make_tag(uint32_t field, uint32_t wire_type)
{
	return field << 3 | wire_type;
}

/* Room for n more bytes at the end of out, or NULL (out->oom is then set). Puts write
 * through the returned pointer and finish with commit(), which keeps the NUL. */
static inline uint8_t *reserve(sonde_buf *out, size_t n)
{
	if (out->cap - out->len <= n && sonde_buf_grow(out, n) < 0)
		return NULL;
	return (uint8_t *)out->data + out->len;
}

static inline void commit(sonde_buf *out, const uint8_t *end)
{
	out->len = (size_t)((const char *)end - out->data);
	out->data[out->len] = '\0';
}

static inline uint8_t *store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 8;
}

void sonde_pb_put_varint(sonde_buf *out, uint64_t v)
{
	uint8_t *p = reserve(out, 10);
	if (p)
		commit(out, p + sonde_pb_encode_varint(p, v));
}

void sonde_pb_put_le64(sonde_buf *out, uint64_t v)
{
	uint8_t *p = reserve(out, 8);
	if (p)
		commit(out, store_le64(p, v));
}

void sonde_pb_put_tag(sonde_pb_writer *w, uint32_t field, uint32_t wire_type)
{
	sonde_pb_put_varint(w->out, make_tag(field, wire_type));
}

void sonde_pb_put_varint_field(sonde_pb_writer *w, uint32_t field, uint64_t v)
{
	uint8_t *p = reserve(w->out, 15);
	if (!p)
		return;
	p += sonde_pb_encode_varint(p, make_tag(field, SONDE_PB_VARINT));
	commit(w->out, p + sonde_pb_encode_varint(p, v));
}

void sonde_pb_put_sint64_field(sonde_pb_writer *w, uint32_t field, int64_t v)
{
	sonde_pb_put_varint_field(w, field, sonde_pb_zigzag64(v));
}

void sonde_pb_put_fixed64_field(sonde_pb_writer *w, uint32_t field, uint64_t v)
{
	uint8_t *p = reserve(w->out, 13);
	if (!p)
		return;
	p += sonde_pb_encode_varint(p, make_tag(field, SONDE_PB_I64));
	commit(w->out, store_le64(p, v));
}

void sonde_pb_put_fixed32_field(sonde_pb_writer *w, uint32_t field, uint32_t v)
{
	uint8_t *p = reserve(w->out, 9);
	if (!p)
		return;
	p += sonde_pb_encode_varint(p, make_tag(field, SONDE_PB_I32));
	for (int i = 0; i < 4; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	commit(w->out, p);
}

void sonde_pb_put_double_field(sonde_pb_writer *w, uint32_t field, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	sonde_pb_put_fixed64_field(w, field, bits);
}

void sonde_pb_put_bytes_field(sonde_pb_writer *w, uint32_t field, const void *src, size_t n)
{
	if (n > SIZE_MAX - 15) {
		w->out->oom = true;
		return;
	}
	uint8_t *p = reserve(w->out, 15 + n);
	if (!p)
		return;
	p += sonde_pb_encode_varint(p, make_tag(field, SONDE_PB_LEN));
	p += sonde_pb_encode_varint(p, n);
	if (n)
		memcpy(p, src, n);
	commit(w->out, p + n);
}

void sonde_pb_open_hint(sonde_pb_writer *w, uint32_t field, size_t size_hint)
{
	if (w->depth >= SONDE_PB_MAX_DEPTH) {
		/* Keep counting so that closes still pair up; the output is void anyway. */
		w->overflow = true;
		w->depth++;
		return;
	}
	size_t width = sonde_pb_varint_len(size_hint);
	uint8_t *p = reserve(w->out, 5 + width);
	if (!p) {
		w->depth++; /* close sees oom and does nothing */
		return;
	}
	p += sonde_pb_encode_varint(p, make_tag(field, SONDE_PB_LEN));
	w->stack[w->depth] = (size_t)((char *)p - w->out->data);
	w->width[w->depth] = (uint8_t)width;
	w->depth++;
	commit(w->out, p + width);
}

void sonde_pb_open(sonde_pb_writer *w, uint32_t field)
{
	sonde_pb_open_hint(w, field, 0);
}

void sonde_pb_close(sonde_pb_writer *w)
{
	if (w->depth == 0) {
		w->overflow = true;
		return;
	}
	w->depth--;
	if (w->depth >= SONDE_PB_MAX_DEPTH || w->out->oom)
		return;
	sonde_buf *out = w->out;
	size_t at = w->stack[w->depth], width = w->width[w->depth];
	size_t len = out->len - at - width;
	if (len < 0x80 && width == 1) {
		out->data[at] = (char)len;
		return;
	}
	size_t need = sonde_pb_varint_len(len);
	if (need != width) {
		/* Wrong guess: slide the body to fit the prefix. */
		if (need > width && sonde_buf_grow(out, need - width) < 0)
			return;
		char *body = out->data + at + width;
		memmove(out->data + at + need, body, len);
		out->len = out->len + need - width;
		out->data[out->len] = '\0';
	}
	sonde_pb_encode_varint((uint8_t *)out->data + at, len);
}
