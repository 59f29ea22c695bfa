/*
 * stackparse.c - frames out of the stack traces that error messages carry. One pass over
 * the lines: each line is tried as a frame of each language (some, like Go's and Rust's,
 * take the following line for the file), and headers switch on the languages whose frame
 * lines would otherwise be ambiguous (Rust's "N: name" only after "stack backtrace:" or
 * "panicked at").
 */
#include "stackparse.h"

#include <stdbool.h>
#include <string.h>

typedef struct line {
	const char *p;
	size_t n;
} line;

const char *sonde_stack_lang_name(sonde_stack_lang lang)
{
	switch (lang) {
	case SONDE_STACK_PYTHON: return "python";
	case SONDE_STACK_JAVA: return "java";
	case SONDE_STACK_GO: return "go";
	case SONDE_STACK_RUST: return "rust";
	case SONDE_STACK_NATIVE: return "native";
	case SONDE_STACK_NONE: break;
	}
	return "";
}

/* The line starting at *pos (without its '\n' and a trailing '\r'); advances *pos. */
static bool next_line(const char *text, size_t len, size_t *pos, line *out)
{
	if (*pos >= len)
		return false;
	const char *s = text + *pos;
	const char *nl = memchr(s, '\n', len - *pos);
	size_t n = nl ? (size_t)(nl - s) : len - *pos;
	*pos += n + (nl ? 1 : 0);
	if (n && s[n - 1] == '\r')
		n--;
	out->p = s;
	out->n = n;
	return true;
}

static line ltrim(line l)
{
	while (l.n && (*l.p == ' ' || *l.p == '\t')) {
		l.p++;
		l.n--;
	}
	return l;
}

static line rtrim(line l)
{
	while (l.n && (l.p[l.n - 1] == ' ' || l.p[l.n - 1] == '\t'))
		l.n--;
	return l;
}

static bool starts(line l, const char *lit)
{
	size_t k = strlen(lit);
	return l.n >= k && memcmp(l.p, lit, k) == 0;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Reads decimal digits at l.p; returns how many (0: none). Saturates *v. */
static size_t read_uint(line l, uint32_t *v)
{
	size_t i = 0;
	uint64_t x = 0;
	while (i < l.n && is_digit(l.p[i])) {
		x = x * 10 + (uint64_t)(l.p[i] - '0');
		if (x > UINT32_MAX)
			x = UINT32_MAX;
		i++;
	}
	*v = (uint32_t)x;
	return i;
}

/* Finds lit in l; returns its offset or l.n. */
static size_t find(line l, const char *lit)
{
	size_t k = strlen(lit);
	for (size_t i = 0; k <= l.n && i <= l.n - k; i++)
		if (memcmp(l.p + i, lit, k) == 0)
			return i;
	return l.n;
}

/* Splits "path:LINE" or "path:LINE:COL" (loc, trimmed) into a file and a line. Returns
 * false when loc does not end with such numbers. */
static bool split_file_line(line loc, sonde_stack_frame *f)
{
	loc = rtrim(ltrim(loc));
	size_t end = loc.n;
	/* Up to two trailing ":digits" groups; the first of them is the line. */
	size_t colons[2], k = 0;
	while (k < 2 && end > 0) {
		size_t d = end;
		while (d > 0 && is_digit(loc.p[d - 1]))
			d--;
		if (d == end || d == 0 || loc.p[d - 1] != ':')
			break;
		colons[k++] = d - 1;
		end = d - 1;
	}
	if (!k)
		return false;
	size_t c = colons[k - 1];
	if (c == 0)
		return false;
	line num = {loc.p + c + 1, loc.n - c - 1};
	f->file = loc.p;
	f->file_len = c;
	read_uint(num, &f->line);
	return true;
}

typedef struct parser {
	sonde_stack_frame *frames;
	size_t max, count;
	sonde_stack_lang lang;
	size_t py_start; /* first frame of the current Python run, or SIZE_MAX */
	bool go_mode, rust_mode;
} parser;

static void reverse(sonde_stack_frame *f, size_t a, size_t b)
{
	while (a + 1 < b) {
		sonde_stack_frame t = f[a];
		f[a] = f[b - 1];
		f[b - 1] = t;
		a++;
		b--;
	}
}

/* Python prints the innermost call last: each run of its frames is turned round when it ends. */
static void end_python_run(parser *ps)
{
	size_t end = ps->count < ps->max ? ps->count : ps->max;
	if (ps->py_start < end && ps->frames)
		reverse(ps->frames, ps->py_start, end);
	ps->py_start = SIZE_MAX;
}

static void add(parser *ps, sonde_stack_lang lang, const sonde_stack_frame *f)
{
	if (lang != SONDE_STACK_PYTHON)
		end_python_run(ps);
	else if (ps->py_start == SIZE_MAX)
		ps->py_start = ps->count;
	if (ps->lang == SONDE_STACK_NONE)
		ps->lang = lang;
	if (ps->count < ps->max) {
		if (ps->frames)
			ps->frames[ps->count] = *f;
		ps->count++;
	}
}

/* `  File "/app/x.py", line 42, in handler` */
static bool python_frame(line t, sonde_stack_frame *f)
{
	if (!starts(t, "File \""))
		return false;
	line rest = {t.p + 6, t.n - 6};
	const char *q = memchr(rest.p, '"', rest.n);
	if (!q || q == rest.p)
		return false;
	f->file = rest.p;
	f->file_len = (size_t)(q - rest.p);
	line after = {q + 1, rest.n - (size_t)(q + 1 - rest.p)};
	if (!starts(after, ", line "))
		return false;
	after.p += 7;
	after.n -= 7;
	size_t d = read_uint(after, &f->line);
	if (!d)
		return false;
	after.p += d;
	after.n -= d;
	if (starts(after, ", in ")) {
		line fn = rtrim((line){after.p + 5, after.n - 5});
		f->function = fn.p;
		f->function_len = fn.n;
	} else {
		f->function = "";
		f->function_len = 0;
	}
	return true;
}

/* `at com.shop.Cart.total(Cart.java:42)`, `at java.base/java.lang.Thread.run(Thread.java:833)`,
 * `at sun.misc.Unsafe.park(Native Method)` */
static bool java_frame(line t, sonde_stack_frame *f)
{
	t = rtrim(t);
	if (!starts(t, "at ") || t.n < 6 || t.p[t.n - 1] != ')')
		return false;
	line body = {t.p + 3, t.n - 4};
	const char *open = memchr(body.p, '(', body.n);
	if (!open || open == body.p)
		return false;
	line fn = {body.p, (size_t)(open - body.p)};
	for (size_t i = 0; i < fn.n; i++)
		if (fn.p[i] == ' ' || fn.p[i] == ')')
			return false;
	/* A module or class loader prefix ("java.base/", "app//") is not part of the name. */
	for (size_t i = fn.n; i > 0; i--)
		if (fn.p[i - 1] == '/') {
			fn.p += i;
			fn.n -= i;
			break;
		}
	if (!fn.n)
		return false;
	f->function = fn.p;
	f->function_len = fn.n;
	line loc = {open + 1, body.n - (size_t)(open + 1 - body.p)};
	f->file = "";
	f->file_len = 0;
	f->line = 0;
	if (!split_file_line(loc, f) && find(loc, ".java") < loc.n) {
		f->file = loc.p;
		f->file_len = loc.n;
	}
	return true;
}

/* Go: `main.(*Server).handle(0xc000010000, {0x1, 0x2})` or `created by main.main in
 * goroutine 1`, followed by `\t/app/server.go:42 +0x1d`. */
static bool go_frame(line l, line next, bool have_next, bool go_mode, sonde_stack_frame *f)
{
	if (!have_next || !l.n || l.p[0] == ' ' || l.p[0] == '\t' || !next.n || next.p[0] != '\t')
		return false;
	line t = rtrim(l);
	line fn;
	if (starts(t, "created by ")) {
		fn = (line){t.p + 11, t.n - 11};
		size_t in = find(fn, " in goroutine");
		fn.n = in;
	} else {
		if (!t.n || t.p[t.n - 1] != ')')
			return false;
		size_t open = t.n;
		for (size_t i = t.n; i > 0; i--)
			if (t.p[i - 1] == '(') {
				open = i - 1;
				break;
			}
		if (open == t.n || open == 0)
			return false;
		fn = (line){t.p, open};
	}
	for (size_t i = 0; i < fn.n; i++)
		if (fn.p[i] == ' ')
			return false;
	if (!fn.n)
		return false;
	line loc = ltrim(next);
	size_t plus = find(loc, " +0x");
	loc.n = plus;
	sonde_stack_frame g = {fn.p, fn.n, "", 0, 0};
	if (!split_file_line(loc, &g))
		return false;
	if (!go_mode && !(g.file_len > 3 && memcmp(g.file + g.file_len - 3, ".go", 3) == 0))
		return false;
	*f = g;
	return true;
}

/* Rust, after "stack backtrace:": `  12: myapp::handler` or `  0:     0x55d5 - std::rt::lang_start`,
 * then (optionally) `             at ./src/main.rs:5:5`. */
static bool rust_frame(line t, sonde_stack_frame *f)
{
	uint32_t idx;
	size_t d = read_uint(t, &idx);
	if (!d || d >= t.n || t.p[d] != ':')
		return false;
	line fn = rtrim(ltrim((line){t.p + d + 1, t.n - d - 1}));
	if (starts(fn, "0x")) {
		size_t dash = find(fn, " - ");
		if (dash == fn.n)
			return false;
		fn.p += dash + 3;
		fn.n -= dash + 3;
		fn = ltrim(fn);
	}
	if (!fn.n)
		return false;
	f->function = fn.p;
	f->function_len = fn.n;
	f->file = "";
	f->file_len = 0;
	f->line = 0;
	return true;
}

/* gdb: `#0  0x00007f3a in handler (req=0x1) at server.c:42`, `#3  main () at main.c:9`,
 * `#1  0x... in write () from /lib/libc.so.6`; `sonde dump`: `  #0   handler at
 * server.c:42 [shop]`, `  #2   memcpy (inlined) [libc.so.6]`. */
static bool native_frame(line t, sonde_stack_frame *f)
{
	if (!starts(t, "#") || t.n < 3 || !is_digit(t.p[1]))
		return false;
	uint32_t idx;
	size_t d = read_uint((line){t.p + 1, t.n - 1}, &idx);
	line rest = {t.p + 1 + d, t.n - 1 - d};
	if (!rest.n || (rest.p[0] != ' ' && rest.p[0] != '\t'))
		return false;
	rest = rtrim(ltrim(rest));
	if (starts(rest, "0x")) {
		size_t i = 2;
		while (i < rest.n && is_hex(rest.p[i]))
			i++;
		line r2 = {rest.p + i, rest.n - i};
		if (!starts(r2, " in "))
			return false;
		rest = ltrim((line){r2.p + 4, r2.n - 4});
	}
	size_t end = rest.n;
	static const char *const stops[] = {" (", " at ", " [", " from "};
	for (size_t k = 0; k < sizeof(stops) / sizeof(stops[0]); k++) {
		size_t at = find(rest, stops[k]);
		if (at < end)
			end = at;
	}
	if (!end)
		return false;
	f->function = rest.p;
	f->function_len = end;
	f->file = "";
	f->file_len = 0;
	f->line = 0;
	line tail = {rest.p + end, rest.n - end};
	size_t at = find(tail, " at ");
	if (at < tail.n) {
		line loc = {tail.p + at + 4, tail.n - at - 4};
		size_t br = find(loc, " [");
		loc.n = br;
		sonde_stack_frame g = *f;
		if (split_file_line(loc, &g))
			*f = g;
	}
	return true;
}

static bool is_header(line t, parser *ps)
{
	if (starts(t, "Traceback (most recent call last)")) {
		end_python_run(ps);
		return true;
	}
	if (starts(t, "stack backtrace:")) {
		ps->rust_mode = true;
		return true;
	}
	if (starts(t, "goroutine ")) {
		uint32_t v;
		line r = {t.p + 10, t.n - 10};
		size_t d = read_uint(r, &v);
		if (d && d + 1 < r.n && r.p[d] == ' ' && r.p[d + 1] == '[') {
			ps->go_mode = true;
			return true;
		}
	}
	if (starts(t, "thread '") && find(t, "' panicked at") < t.n) {
		ps->rust_mode = true;
		return true;
	}
	return false;
}

/* Runs the parser; when msg is non-NULL, also finds the message line (see
 * sonde_stack_message()). */
static size_t parse(const char *text, size_t len, parser *ps, line *msg_first, line *msg_py_last)
{
	size_t pos = 0;
	line l, next = {NULL, 0};
	bool have = next_line(text, len, &pos, &l);
	bool python_traceback_first = false, first_content = true;
	while (have) {
		bool have_next = next_line(text, len, &pos, &next);
		line t = ltrim(l);
		sonde_stack_frame f = {"", 0, "", 0, 0};
		bool frame = false, consumed_next = false;
		if (python_frame(t, &f)) {
			add(ps, SONDE_STACK_PYTHON, &f);
			frame = true;
			/* The source line Python prints under the frame is not a message. */
			if (have_next && next.n && (next.p[0] == ' ' || next.p[0] == '\t'))
				consumed_next = true;
		} else if (java_frame(t, &f)) {
			add(ps, SONDE_STACK_JAVA, &f);
			frame = true;
		} else if (ps->rust_mode && rust_frame(t, &f)) {
			line nt = ltrim(next);
			if (have_next && starts(nt, "at ") && find(nt, "(") == nt.n) {
				sonde_stack_frame g = f;
				if (split_file_line((line){nt.p + 3, nt.n - 3}, &g))
					f = g;
				consumed_next = true;
			}
			add(ps, SONDE_STACK_RUST, &f);
			frame = true;
		} else if (go_frame(l, next, have_next, ps->go_mode, &f)) {
			add(ps, SONDE_STACK_GO, &f);
			frame = true;
			consumed_next = true;
		} else if (native_frame(t, &f)) {
			add(ps, SONDE_STACK_NATIVE, &f);
			frame = true;
		}
		bool header = !frame && is_header(t, ps);
		if (!frame && !header && t.n) {
			if (first_content && msg_first && !msg_first->p)
				*msg_first = rtrim(t);
			if (python_traceback_first && msg_py_last && l.p[0] != ' ' && l.p[0] != '\t')
				*msg_py_last = rtrim(t);
		}
		if (t.n) {
			if (first_content && header && starts(t, "Traceback"))
				python_traceback_first = true;
			if (!header && !frame)
				first_content = false;
		}
		if (consumed_next)
			have_next = next_line(text, len, &pos, &next);
		l = next;
		have = have_next;
	}
	end_python_run(ps);
	return ps->count;
}

size_t sonde_stack_parse(const char *text, size_t len, sonde_stack_frame *frames, size_t max,
                         sonde_stack_lang *lang)
{
	parser ps = {.frames = frames, .max = frames ? max : 0, .py_start = SIZE_MAX};
	if (!text)
		len = 0;
	size_t n = parse(text ? text : "", len, &ps, NULL, NULL);
	if (lang)
		*lang = ps.lang;
	return n < ps.max ? n : ps.max;
}

int sonde_stack_has_trace(const char *text, size_t len)
{
	parser ps = {.frames = NULL, .max = 0, .py_start = SIZE_MAX};
	parse(text ? text : "", text ? len : 0, &ps, NULL, NULL);
	return ps.lang != SONDE_STACK_NONE;
}

void sonde_stack_message(const char *text, size_t len, size_t *off, size_t *n)
{
	parser ps = {.frames = NULL, .max = 0, .py_start = SIZE_MAX};
	line first = {NULL, 0}, py_last = {NULL, 0};
	if (!text)
		len = 0;
	parse(text ? text : "", len, &ps, &first, &py_last);
	line m = py_last.p ? py_last : first;
	if (m.p && m.n) {
		*off = (size_t)(m.p - text);
		*n = m.n;
	} else {
		*off = 0;
		*n = 0;
	}
}
