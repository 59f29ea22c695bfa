/*
 * redact.h - removing secrets from log bodies and attributes before they leave the
 * process.
 *
 * Two kinds of rule. Key rules: an attribute whose key names a secret (password, token,
 * authorization, cookie, ... and keys the user adds) loses its whole value. Value rules:
 * anything in a body or a string value that looks like a secret is replaced where it
 * stands: bearer tokens, JSON Web Tokens, AWS access key ids, PEM private keys, payment
 * card numbers that pass the Luhn check (with a known issuer prefix), US social security
 * numbers, and optionally e-mail addresses. The replacement names what was removed
 * ("[redacted: jwt]"), so a reader knows something was there. Long values are cut, with
 * their original length noted.
 *
 * Redaction runs on the exporter thread, never on the caller's: the hot path only copies.
 * The functions are pure and thread-safe; a sonde__redactor is read-only once built.
 */
#ifndef SONDE_REDACT_H
#define SONDE_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum {
	SONDE__REDACT_EMAIL = 1u << 0, /* also e-mail addresses (off by default) */
	SONDE__REDACT_OFF = 1u << 1,   /* nothing is redacted (truncation still applies) */
};

typedef struct sonde__redactor {
	unsigned flags;
	size_t max_value_len;   /* longer values are cut to this many bytes; 0: no limit */
	const char *extra_keys; /* comma-separated extra secret key names (borrowed), or NULL */
} sonde__redactor;

/* The default: every rule but e-mail, values cut at 4096 bytes, no extra keys. */
#define SONDE__REDACTOR_DEFAULT ((sonde__redactor){.flags = 0, .max_value_len = 4096, .extra_keys = NULL})

/* True when an attribute with this key must lose its value: the key contains one of the
 * secret words (case-insensitive, '-' and '_' alike, so "X-Api-Key" and "db_password"
 * match) or equals one of r's extra keys. */
bool sonde__redact_key(const sonde__redactor *r, const char *key, size_t len);

/* Appends text[0, n) to out with every secret-looking span replaced and the result cut to
 * r->max_value_len. Returns how many replacements were made (a cut is not counted), or
 * -ENOMEM (out may hold part of the text). */
int sonde__redact_text(const sonde__redactor *r, const char *text, size_t n, sonde_buf *out);

/* The marker that replaces the value of a secret key: "[redacted: <key>]" appended to out. */
int sonde__redact_key_marker(const char *key, size_t len, sonde_buf *out);

#endif
