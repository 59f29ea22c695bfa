/*
 * demangle.c - C++ and Rust demangling (see demangle.h).
 *
 * The C++ demangler is __cxa_demangle from libstdc++, looked up with dlopen once; when it
 * is missing, names stay mangled. Rust legacy symbols are Itanium-mangled paths whose last
 * element is a hash "h0123456789abcdef"; their elements escape characters that C++ names
 * cannot hold ($LT$ for '<', .. for "::", ...), which rust_unescape() undoes.
 *
 * Rust v0 symbols ("_R...", RFC 2603) are demangled here, printed as llvm-cxxfilt and
 * rustfilt print them (no crate hashes): paths, inherent and trait impls, generic
 * arguments, closures and shims, backrefs, punycode identifiers, lifetimes and binders,
 * fn pointers, dyn traits, and integer, bool and char const generics. Other const generic
 * kinds (str, references, arrays, structs) leave the name mangled. Outside input: every
 * number is bounds-checked, backrefs only point backwards, nesting and output are capped.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demangle.h"

typedef char *(*cxa_demangle_fn)(const char *mangled, char *buf, size_t *n, int *status);

static cxa_demangle_fn cxa_demangle;
static pthread_once_t cxa_once = PTHREAD_ONCE_INIT;

static void cxa_load(void)
{
	void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
	if (h)
		cxa_demangle = (cxa_demangle_fn)dlsym(h, "__cxa_demangle");
}

bool sonde_demangle_available(void)
{
	pthread_once(&cxa_once, cxa_load);
	return cxa_demangle != NULL;
}

/* True for "...::h" followed by 16 hex digits at the end of s[0..n). */
static bool rust_hash_at_end(const char *s, size_t n)
{
	if (n < 19 || memcmp(s + n - 19, "::h", 3) != 0)
		return false;
	for (size_t i = n - 16; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static const struct {
	const char *esc;
	char c;
} rust_escapes[] = {
        {"$SP$", '@'}, {"$BP$", '*'}, {"$RF$", '&'}, {"$LT$", '<'},
        {"$GT$", '>'}, {"$LP$", '('}, {"$RP$", ')'}, {"$C$", ','},
};

/* Decodes Rust's escapes in place: s only shrinks. */
static void rust_unescape(char *s)
{
	char *w = s;
	for (const char *r = s; *r;) {
		if (r[0] == '.' && r[1] == '.') {
			*w++ = ':';
			*w++ = ':';
			r += 2;
			continue;
		}
		if (*r == '$') {
			bool done = false;
			for (size_t i = 0; i < sizeof(rust_escapes) / sizeof(rust_escapes[0]); i++) {
				size_t n = strlen(rust_escapes[i].esc);
				if (strncmp(r, rust_escapes[i].esc, n) == 0) {
					*w++ = rust_escapes[i].c;
					r += n;
					done = true;
					break;
				}
			}
			if (!done && r[1] == 'u') { /* $u7e$: a code point in hex (ASCII only here) */
				char *end;
				unsigned long v = strtoul(r + 2, &end, 16);
				if (*end == '$' && end > r + 2 && v > 0 && v < 128) {
					*w++ = (char)v;
					r = end + 1;
					done = true;
				}
			}
			if (done)
				continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
}

/* --- Rust v0 ("_R...", RFC 2603) --- */

enum {
	V0_MAX_DEPTH = 200,        /* nesting of paths and types */
	V0_MAX_OUT = 64 * 1024,    /* backrefs can repeat text: cap what one name may become */
	V0_MAX_IDENT_CHARS = 4096, /* a punycode identifier's decoded length */
	V0_MAX_STEPS = 100000,     /* paths, types and consts parsed, backrefs included (a muted
	                              impl path prints nothing, so the output cap cannot stop it) */
};

typedef struct v0 {
	const char *s; /* after "_R" */
	size_t len, pos;
	char *out;
	size_t out_len, out_cap;
	bool bad;  /* malformed, or a limit was reached */
	bool mute; /* parse without printing (skipped parts) */
	int depth;
	uint32_t steps;
	uint64_t bound_lifetimes; /* lifetimes bound by enclosing binders */
} v0;

static void v0_put(v0 *d, const char *p, size_t n)
{
	if (d->bad || d->mute)
		return;
	if (d->out_len + n + 1 > V0_MAX_OUT) {
		d->bad = true;
		return;
	}
	if (d->out_len + n + 1 > d->out_cap) {
		size_t cap = d->out_cap ? d->out_cap : 64;
		while (cap < d->out_len + n + 1)
			cap *= 2;
		char *o = realloc(d->out, cap);
		if (!o) {
			d->bad = true;
			return;
		}
		d->out = o;
		d->out_cap = cap;
	}
	memcpy(d->out + d->out_len, p, n);
	d->out_len += n;
	d->out[d->out_len] = '\0';
}

static void v0_puts(v0 *d, const char *p)
{
	v0_put(d, p, strlen(p));
}

static void v0_putu(v0 *d, uint64_t v)
{
	char b[24];
	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	v0_puts(d, b);
}

static char v0_peek(const v0 *d)
{
	return d->pos < d->len ? d->s[d->pos] : '\0';
}

static bool v0_eat(v0 *d, char c)
{
	if (v0_peek(d) != c)
		return false;
	d->pos++;
	return true;
}

static char v0_next(v0 *d)
{
	if (d->pos >= d->len) {
		d->bad = true;
		return '\0';
	}
	return d->s[d->pos++];
}

/* <base-62-number>: "_" is 0, otherwise digits then "_" are the value + 1. */
static uint64_t v0_base62(v0 *d)
{
	if (v0_eat(d, '_'))
		return 0;
	uint64_t v = 0;
	for (;;) {
		char c = v0_next(d);
		if (d->bad)
			return 0;
		if (c == '_')
			break;
		uint64_t digit;
		if (c >= '0' && c <= '9')
			digit = (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'z')
			digit = 10 + (uint64_t)(c - 'a');
		else if (c >= 'A' && c <= 'Z')
			digit = 36 + (uint64_t)(c - 'A');
		else {
			d->bad = true;
			return 0;
		}
		if (v > (UINT64_MAX - digit) / 62) {
			d->bad = true;
			return 0;
		}
		v = v * 62 + digit;
	}
	if (v == UINT64_MAX) {
		d->bad = true;
		return 0;
	}
	return v + 1;
}

/* [<tag> <base-62-number>]: 0 when the tag is absent, else the number + 1. */
static uint64_t v0_opt_base62(v0 *d, char tag)
{
	if (!v0_eat(d, tag))
		return 0;
	uint64_t v = v0_base62(d);
	if (v == UINT64_MAX)
		d->bad = true;
	return v + 1;
}

static uint64_t v0_decimal(v0 *d)
{
	char c = v0_peek(d);
	if (c < '0' || c > '9') {
		d->bad = true;
		return 0;
	}
	if (c == '0') {
		d->pos++;
		return 0;
	}
	uint64_t v = 0;
	while ((c = v0_peek(d)) >= '0' && c <= '9') {
		if (v > (UINT64_MAX - 9) / 10) {
			d->bad = true;
			return 0;
		}
		v = v * 10 + (uint64_t)(c - '0');
		d->pos++;
	}
	return v;
}

/* Appends code point cp as UTF-8. */
static void v0_put_utf8(v0 *d, uint32_t cp)
{
	char b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	v0_put(d, b, n);
}

static bool v0_valid_cp(uint64_t cp)
{
	return cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
}

/* Punycode (RFC 3492) with '_' as the delimiter, decoded and appended as UTF-8. */
static void v0_punycode(v0 *d, const char *p, size_t n)
{
	uint32_t cps[V0_MAX_IDENT_CHARS];
	size_t ncp = 0, i0 = 0;
	for (size_t j = n; j > 0; j--)
		if (p[j - 1] == '_') { /* the basic code points come before the last '_' */
			if (j - 1 > V0_MAX_IDENT_CHARS) {
				d->bad = true;
				return;
			}
			for (size_t k = 0; k + 1 < j; k++)
				cps[ncp++] = (unsigned char)p[k];
			i0 = j;
			break;
		}
	uint64_t code = 128, bias = 72, i = 0;
	size_t k = i0;
	while (k < n) {
		uint64_t old = i, w = 1;
		for (uint64_t t_k = 36;; t_k += 36) {
			if (k >= n) {
				d->bad = true;
				return;
			}
			char c = p[k++];
			uint64_t digit;
			if (c >= 'a' && c <= 'z')
				digit = (uint64_t)(c - 'a');
			else if (c >= '0' && c <= '9')
				digit = 26 + (uint64_t)(c - '0');
			else {
				d->bad = true;
				return;
			}
			if (digit > (UINT32_MAX - i) / w) {
				d->bad = true;
				return;
			}
			i += digit * w;
			uint64_t t = t_k <= bias ? 1 : t_k >= bias + 26 ? 26 : t_k - bias;
			if (digit < t)
				break;
			if (w > UINT32_MAX / (36 - t)) {
				d->bad = true;
				return;
			}
			w *= 36 - t;
		}
		/* adapt */
		uint64_t delta = i - old, numpoints = ncp + 1;
		delta = old == 0 ? delta / 700 : delta / 2;
		delta += delta / numpoints;
		uint64_t kk = 0;
		while (delta > ((36 - 1) * 26) / 2) {
			delta /= 36 - 1;
			kk += 36;
		}
		bias = kk + (36 * delta) / (delta + 38);
		code += i / numpoints;
		i %= numpoints;
		if (!v0_valid_cp(code) || ncp >= V0_MAX_IDENT_CHARS) {
			d->bad = true;
			return;
		}
		memmove(cps + i + 1, cps + i, (ncp - i) * sizeof(*cps));
		cps[i++] = (uint32_t)code;
		ncp++;
	}
	for (size_t j = 0; j < ncp; j++)
		v0_put_utf8(d, cps[j]);
}

/* <undisambiguated-identifier>, not yet printed. */
typedef struct v0_ident {
	const char *p;
	size_t n;
	bool puny;
} v0_ident;

static v0_ident v0_ident_parse(v0 *d)
{
	v0_ident id = {NULL, 0, v0_eat(d, 'u')};
	uint64_t n = v0_decimal(d);
	v0_eat(d, '_');
	if (d->bad || n > d->len - d->pos) {
		d->bad = true;
		return id;
	}
	id.p = d->s + d->pos;
	id.n = (size_t)n;
	d->pos += n;
	return id;
}

static void v0_ident_print(v0 *d, v0_ident id)
{
	if (id.puny)
		v0_punycode(d, id.p, id.n);
	else
		v0_put(d, id.p, id.n);
}

static void v0_path(v0 *d, bool in_type);
static void v0_type(v0 *d);

/* The elements of a list up to its closing 'E', each printed by elem, sep between them;
 * returns how many there were. */
static size_t v0_list(v0 *d, void (*elem)(v0 *), const char *sep)
{
	size_t i = 0;
	for (; !d->bad && !v0_eat(d, 'E'); i++) {
		if (d->pos >= d->len) {
			d->bad = true;
			break;
		}
		if (i)
			v0_puts(d, sep);
		elem(d);
	}
	return i;
}
static void v0_const(v0 *d);

/* Runs fn at the backref's position, then comes back. */
static bool v0_backref(v0 *d, size_t *saved)
{
	size_t at = d->pos - 1; /* of the 'B' */
	uint64_t target = v0_base62(d);
	if (d->bad || target >= at) {
		d->bad = true;
		return false;
	}
	*saved = d->pos;
	d->pos = (size_t)target;
	return true;
}

static void v0_lifetime_name(v0 *d, uint64_t idx)
{
	if (idx == 0) {
		v0_puts(d, "'_");
		return;
	}
	if (idx - 1 >= d->bound_lifetimes) {
		d->bad = true;
		return;
	}
	uint64_t depth = d->bound_lifetimes - idx;
	char b[32];
	if (depth < 26)
		snprintf(b, sizeof(b), "'%c", (char)('a' + depth));
	else
		snprintf(b, sizeof(b), "'z%llu", (unsigned long long)(depth - 26 + 1));
	v0_puts(d, b);
}

/* [<binder>]: "for<'a, 'b> " when it binds any; returns how many it bound. */
static uint64_t v0_binder(v0 *d)
{
	uint64_t n = v0_opt_base62(d, 'G');
	if (d->bad || n == 0)
		return 0;
	if (n > 1024 || d->bound_lifetimes + n > 1024) {
		d->bad = true;
		return 0;
	}
	v0_puts(d, "for<");
	for (uint64_t i = 0; i < n; i++) {
		if (i)
			v0_puts(d, ", ");
		d->bound_lifetimes++;
		v0_lifetime_name(d, 1);
	}
	v0_puts(d, "> ");
	return n;
}

static void v0_generic_arg(v0 *d)
{
	if (v0_eat(d, 'L'))
		v0_lifetime_name(d, v0_base62(d));
	else if (v0_eat(d, 'K'))
		v0_const(d);
	else
		v0_type(d);
}

/* "I" <path> {<generic-arg>} "E" already past the 'I'; leaves the list open when
 * keep_open (for dyn trait bindings) and returns true. */
static bool v0_generic_args(v0 *d, bool in_type, bool keep_open)
{
	v0_path(d, in_type);
	v0_puts(d, in_type ? "<" : "::<");
	v0_list(d, v0_generic_arg, ", ");
	if (!keep_open)
		v0_puts(d, ">");
	return keep_open;
}

static void v0_path(v0 *d, bool in_type)
{
	if (++d->depth > V0_MAX_DEPTH || ++d->steps > V0_MAX_STEPS) {
		d->bad = true;
		return;
	}
	char c = v0_next(d);
	switch (c) {
	case 'C': /* crate root */
		v0_opt_base62(d, 's');
		v0_ident_print(d, v0_ident_parse(d));
		break;
	case 'M': /* <T> inherent impl */
		v0_opt_base62(d, 's');
		{
			bool mute = d->mute;
			d->mute = true;
			v0_path(d, in_type);
			d->mute = mute;
		}
		v0_puts(d, "<");
		v0_type(d);
		v0_puts(d, ">");
		break;
	case 'X': /* <T as Trait> trait impl */
		v0_opt_base62(d, 's');
		{
			bool mute = d->mute;
			d->mute = true;
			v0_path(d, in_type);
			d->mute = mute;
		}
		/* fall through */
	case 'Y': /* <T as Trait> */
		v0_puts(d, "<");
		v0_type(d);
		v0_puts(d, " as ");
		v0_path(d, true);
		v0_puts(d, ">");
		break;
	case 'N': {
		char ns = v0_next(d);
		if (!((ns >= 'a' && ns <= 'z') || (ns >= 'A' && ns <= 'Z'))) {
			d->bad = true;
			break;
		}
		v0_path(d, in_type);
		uint64_t dis = v0_opt_base62(d, 's');
		v0_ident id = v0_ident_parse(d);
		if (ns >= 'A' && ns <= 'Z') {
			v0_puts(d, "::{");
			if (ns == 'C')
				v0_puts(d, "closure");
			else if (ns == 'S')
				v0_puts(d, "shim");
			else
				v0_put(d, &ns, 1);
			if (id.n) {
				v0_puts(d, ":");
				v0_ident_print(d, id);
			}
			v0_puts(d, "#");
			v0_putu(d, dis);
			v0_puts(d, "}");
		} else if (id.n) {
			v0_puts(d, "::");
			v0_ident_print(d, id);
		}
		break;
	}
	case 'I': v0_generic_args(d, in_type, false); break;
	case 'B': {
		size_t saved;
		if (v0_backref(d, &saved)) {
			v0_path(d, in_type);
			d->pos = saved;
		}
		break;
	}
	default: d->bad = true;
	}
	d->depth--;
}

static const char *v0_basic_type(char c)
{
	switch (c) {
	case 'a': return "i8";
	case 'b': return "bool";
	case 'c': return "char";
	case 'd': return "f64";
	case 'e': return "str";
	case 'f': return "f32";
	case 'h': return "u8";
	case 'i': return "isize";
	case 'j': return "usize";
	case 'l': return "i32";
	case 'm': return "u32";
	case 'n': return "i128";
	case 'o': return "u128";
	case 's': return "i16";
	case 't': return "u16";
	case 'u': return "()";
	case 'v': return "...";
	case 'x': return "i64";
	case 'y': return "u64";
	case 'z': return "!";
	case 'p': return "_";
	default: return NULL;
	}
}

static void v0_fn_sig(v0 *d)
{
	uint64_t saved_bound = d->bound_lifetimes;
	v0_binder(d);
	if (v0_eat(d, 'U'))
		v0_puts(d, "unsafe ");
	if (v0_eat(d, 'K')) {
		v0_puts(d, "extern \"");
		if (v0_eat(d, 'C')) {
			v0_puts(d, "C");
		} else {
			v0_ident id = v0_ident_parse(d);
			if (id.puny)
				d->bad = true;
			for (size_t i = 0; !d->bad && i < id.n; i++)
				v0_put(d, id.p[i] == '_' ? "-" : id.p + i, 1);
		}
		v0_puts(d, "\" ");
	}
	v0_puts(d, "fn(");
	v0_list(d, v0_type, ", ");
	v0_puts(d, ")");
	if (v0_eat(d, 'u')) {
		/* returns (): nothing printed */
	} else {
		v0_puts(d, " -> ");
		v0_type(d);
	}
	d->bound_lifetimes = saved_bound;
}

static void v0_dyn_trait(v0 *d)
{
	bool open = false;
	if (v0_peek(d) == 'I') {
		d->pos++;
		open = v0_generic_args(d, true, true);
	} else {
		v0_path(d, true);
	}
	while (!d->bad && v0_eat(d, 'p')) {
		v0_puts(d, open ? ", " : "<");
		open = true;
		v0_ident_print(d, v0_ident_parse(d));
		v0_puts(d, " = ");
		v0_type(d);
	}
	if (open)
		v0_puts(d, ">");
}

static void v0_type(v0 *d)
{
	if (++d->depth > V0_MAX_DEPTH || ++d->steps > V0_MAX_STEPS) {
		d->bad = true;
		return;
	}
	char c = v0_peek(d);
	const char *basic = v0_basic_type(c);
	if (basic) {
		d->pos++;
		v0_puts(d, basic);
		d->depth--;
		return;
	}
	d->pos++;
	switch (c) {
	case 'A':
		v0_puts(d, "[");
		v0_type(d);
		v0_puts(d, "; ");
		v0_const(d);
		v0_puts(d, "]");
		break;
	case 'S':
		v0_puts(d, "[");
		v0_type(d);
		v0_puts(d, "]");
		break;
	case 'T': {
		v0_puts(d, "(");
		if (v0_list(d, v0_type, ", ") == 1)
			v0_puts(d, ",");
		v0_puts(d, ")");
		break;
	}
	case 'R':
	case 'Q':
		v0_puts(d, "&");
		if (v0_eat(d, 'L')) {
			uint64_t lt = v0_base62(d);
			if (lt) {
				v0_lifetime_name(d, lt);
				v0_puts(d, " ");
			}
		}
		if (c == 'Q')
			v0_puts(d, "mut ");
		v0_type(d);
		break;
	case 'P':
		v0_puts(d, "*const ");
		v0_type(d);
		break;
	case 'O':
		v0_puts(d, "*mut ");
		v0_type(d);
		break;
	case 'F': v0_fn_sig(d); break;
	case 'D': {
		v0_puts(d, "dyn ");
		uint64_t saved_bound = d->bound_lifetimes;
		v0_binder(d);
		v0_list(d, v0_dyn_trait, " + ");
		d->bound_lifetimes = saved_bound;
		if (!v0_eat(d, 'L')) {
			d->bad = true;
			break;
		}
		uint64_t lt = v0_base62(d);
		if (lt) {
			v0_puts(d, " + ");
			v0_lifetime_name(d, lt);
		}
		break;
	}
	case 'B': {
		size_t saved;
		if (v0_backref(d, &saved)) {
			v0_type(d);
			d->pos = saved;
		}
		break;
	}
	default: d->pos--; v0_path(d, true);
	}
	d->depth--;
}

/* Prints a character constant as llvm-cxxfilt does: printable ASCII as it is, the usual
 * escapes, anything else as \u{hex}. */
static void v0_put_char_lit(v0 *d, uint64_t cp)
{
	if (!v0_valid_cp(cp)) {
		d->bad = true;
		return;
	}
	v0_puts(d, "'");
	switch (cp) {
	case '\'': v0_puts(d, "\\'"); break;
	case '\\': v0_puts(d, "\\\\"); break;
	case '\n': v0_puts(d, "\\n"); break;
	case '\t': v0_puts(d, "\\t"); break;
	case '\r': v0_puts(d, "\\r"); break;
	default:
		if (cp >= 0x20 && cp <= 0x7e) {
			char ch = (char)cp;
			v0_put(d, &ch, 1);
		} else {
			char b[24];
			snprintf(b, sizeof(b), "\\u{%llx}", (unsigned long long)cp);
			v0_puts(d, b);
		}
	}
	v0_puts(d, "'");
}

/* <const-data> of an integer, bool or char type. */
static void v0_const_data(v0 *d, char type)
{
	bool neg = v0_eat(d, 'n');
	size_t start = d->pos;
	while (d->pos < d->len && d->s[d->pos] != '_') {
		char c = d->s[d->pos];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
			d->bad = true;
			return;
		}
		d->pos++;
	}
	const char *hex = d->s + start;
	size_t n = d->pos - start;
	if (!v0_eat(d, '_')) {
		d->bad = true;
		return;
	}
	while (n > 0 && hex[0] == '0') {
		hex++;
		n--;
	}
	uint64_t v = 0;
	bool fits = n <= 16;
	for (size_t i = 0; fits && i < n; i++)
		v = v * 16 + (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
	if (type == 'b') {
		if (neg || !fits || v > 1)
			d->bad = true;
		else
			v0_puts(d, v ? "true" : "false");
		return;
	}
	if (type == 'c') {
		if (neg || !fits)
			d->bad = true;
		else
			v0_put_char_lit(d, v);
		return;
	}
	if (neg)
		v0_puts(d, "-");
	if (fits) {
		v0_putu(d, v);
	} else {
		v0_puts(d, "0x");
		v0_put(d, hex, n);
	}
}

static void v0_const(v0 *d)
{
	if (++d->depth > V0_MAX_DEPTH || ++d->steps > V0_MAX_STEPS) {
		d->bad = true;
		return;
	}
	char c = v0_next(d);
	switch (c) {
	case 'p': v0_puts(d, "_"); break;
	case 'B': {
		size_t saved;
		if (v0_backref(d, &saved)) {
			v0_const(d);
			d->pos = saved;
		}
		break;
	}
	case 'a':
	case 's':
	case 'l':
	case 'x':
	case 'n':
	case 'i':
	case 'h':
	case 't':
	case 'm':
	case 'y':
	case 'o':
	case 'j':
	case 'b':
	case 'c': v0_const_data(d, c); break;
	default: d->bad = true; /* str, references, arrays, ADTs: not handled */
	}
	d->depth--;
}

/* Demangles a Rust v0 symbol ("_R..."); NULL when malformed or not handled. */
static char *rust_v0_demangle(const char *name)
{
	v0 d;
	memset(&d, 0, sizeof(d));
	d.s = name + 2;
	d.len = strlen(d.s);
	/* A vendor suffix (".llvm.123", "$...") ends the symbol proper. */
	for (size_t i = 0; i < d.len; i++)
		if (d.s[i] == '.' || d.s[i] == '$') {
			d.len = i;
			break;
		}
	if (d.len == 0 || (d.s[0] >= '0' && d.s[0] <= '9')) /* encoding versions beyond 0 */
		return NULL;
	v0_path(&d, false);
	if (!d.bad && d.pos < d.len) { /* the instantiating crate: parsed, not shown */
		d.mute = true;
		v0_path(&d, false);
		d.mute = false;
	}
	if (d.bad || d.pos != d.len || d.out_len == 0) {
		free(d.out);
		return NULL;
	}
	return d.out;
}

char *sonde_demangle(const char *name)
{
	if (name && strncmp(name, "_R", 2) == 0)
		return rust_v0_demangle(name);
	if (!name || strncmp(name, "_Z", 2) != 0)
		return NULL;
	pthread_once(&cxa_once, cxa_load);
	if (!cxa_demangle)
		return NULL;
	int status = 0;
	char *out = cxa_demangle(name, NULL, NULL, &status);
	if (status != 0 || !out) {
		free(out);
		return NULL;
	}
	size_t n = strlen(out);
	if (strncmp(name, "_ZN", 3) == 0 && rust_hash_at_end(out, n)) {
		out[n - 19] = '\0';
		rust_unescape(out);
	}
	return out;
}
