/*
 * redact_test.c - libsonde's secret redaction over real-looking secrets and the near
 * misses that must survive (an order id that fails Luhn, epoch milliseconds, versions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"

static char *redact(const sonde__redactor *r, const char *in, int *count)
{
	sonde_buf out = SONDE_BUF_INIT;
	int n = sonde__redact_text(r, in, strlen(in), &out);
	assert_true(n >= 0);
	if (count)
		*count = n;
	sonde_buf_putc(&out, '\0');
	return sonde_buf_detach(&out, NULL);
}

/* in redacts to want in count replacements, and want redacts to itself: nothing a second
 * redaction would replace is left. */
static void expect_settled(const sonde__redactor *r, const char *in, const char *want, int count)
{
	int n;
	char *got = redact(r, in, &n);
	assert_string_equal(got, want);
	assert_int_equal(n, count);
	char *again = redact(r, got, &n);
	assert_string_equal(again, got);
	assert_int_equal(n, 0);
	free(again);
	free(got);
}

static void expect(const char *in, const char *want)
{
	sonde__redactor r = SONDE__REDACTOR_DEFAULT;
	char *got = redact(&r, in, NULL);
	if (strcmp(got, want) != 0)
		fail_msg("redacting\n  %s\ngave\n  %s\nwanted\n  %s", in, got, want);
	free(got);
}

static void test_secrets_found(void **state)
{
	(void)state;
	expect("auth ok for eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
	       "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c now",
	       "auth ok for [redacted: jwt] now");
	expect("Authorization: Bearer mF_9.B5f-4.1JqM", "Authorization: Bearer [redacted: bearer token]");
	expect("header=bearer abcdefghijklmnop==, next", "header=bearer [redacted: bearer token], next");
	expect("key AKIAIOSFODNN7EXAMPLE used", "key [redacted: aws access key] used");
	expect("temp ASIAY34FZKBOKMUTVV7A!", "temp [redacted: aws access key]!");
	expect("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75\n-----END RSA PRIVATE KEY-----\ntail",
	       "[redacted: private key]\ntail");
	expect("cut: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhk", "cut: [redacted: private key]");
	expect("card 4111 1111 1111 1111 declined", "card [redacted: card number] declined");
	expect("card=5500-0000-0000-0004;", "card=[redacted: card number];");
	expect("amex 378282246310005.", "amex [redacted: card number].");
	expect("ssn 078-05-1120 on file", "ssn [redacted: ssn] on file");
	expect("two: 4012888888881881 and 219-09-9999", "two: [redacted: card number] and [redacted: ssn]");
}

static void test_near_misses_survive(void **state)
{
	(void)state;
	const char *keep[] = {
	        "order 4111111111111112 shipped",   /* 16 digits, fails Luhn */
	        "at 1763794949000 ms",              /* epoch ms: passes no issuer prefix */
	        "ts=1763794949123456789",           /* epoch ns: too long */
	        "phone 555-123-4567",               /* not an SSN shape */
	        "ssn-like 000-12-3456 666-12-3456", /* invalid areas */
	        "ssn-like 912-12-3456 123-00-4567 123-45-0000",
	        "version 1.2.3-45-6789",             /* part of a version string */
	        "eyJhbGciOiJIUzI1NiJ9 alone",        /* one segment is not a JWT */
	        "the bearer of bad news",            /* a word, not a token */
	        "AKIA is a prefix",                  /* too short */
	        "XAKIAIOSFODNN7EXAMPLE",             /* inside a longer word */
	        "-----BEGIN CERTIFICATE-----\nMIIB", /* a certificate is public */
	        "mail bob@example.com",              /* e-mail is off by default */
	        "id 550e8400-e29b-41d4-a716-446655440000",
	        "",
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		expect(keep[i], keep[i]);
}

static void test_email_opt_in(void **state)
{
	(void)state;
	sonde__redactor r = SONDE__REDACTOR_DEFAULT;
	r.flags |= SONDE__REDACT_EMAIL;
	int n;
	char *got = redact(&r, "mail bob.smith+x@mail.example.com. Or @home.", &n);
	assert_string_equal(got, "mail [redacted: email]. Or @home.");
	assert_int_equal(n, 1);
	free(got);
	/* A top-level label too short to be one is left out, not the whole address (found by
	 * fuzz_redact: the JWT after the address was redacted first, and a second pass then
	 * found the address it had cut short). */
	expect_settled(&r, "to a@b.example.c", "to [redacted: email].c", 1);
	expect_settled(&r, "mob@example.coiJIUz1NiJ9.eyJz1N9.eyJz1NiJ9.e\x8b-10",
	               "[redacted: email].e\x8b-10", 1);
}

/* A PEM header whose dashes run into another BEGIN joins the block that follows (found by
 * fuzz_redact: replaced alone, that block left the outer header running on into a block
 * of its own), so that the output holds nothing a second scan would replace. */
static void test_pem_nested_headers(void **state)
{
	(void)state;
	sonde__redactor r = SONDE__REDACTOR_DEFAULT;
	static const char *const cases[][2] = {
	        {"-----BEGIN -----BEGIN PRIVATE KEY----------END -----PRIVATE KEY-----",
	         "[redacted: private key]PRIVATE KEY-----"},
	        {"x -----BEGIN RSA PRIVATE-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE "
	         "KEY----- y",
	         "x [redacted: private key] y"},
	        {"-----BEGIN A------BEGIN B-----BEGIN EC PRIVATE KEY-----\nMHc\n", "[redacted: private key]"},
	        {"-----BEGIN X----- text -----BEGIN PRIVATE KEY-----\nMII",
	         "-----BEGIN X----- text [redacted: private key]"},
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		expect_settled(&r, cases[k][0], cases[k][1], 1);
}

/* A replacement that makes a secret of what is around it is followed by another scan
 * (found by fuzz_redact: an address that took a PEM header's closing dashes for a domain
 * label left the header running on to PRIVATE KEY). */
static void test_rescan_after_replacement(void **state)
{
	(void)state;
	sonde__redactor r = SONDE__REDACTOR_DEFAULT;
	r.flags |= SONDE__REDACT_EMAIL;
	expect_settled(&r, "-----BEGIN b@e.----- PRIVATE KEY-----", "[redacted: private key]", 2);
}

static void test_keys(void **state)
{
	(void)state;
	sonde__redactor r = SONDE__REDACTOR_DEFAULT;
	const char *secret[] = {"password",   "db.password", "PASSWD",       "client_secret",
	                        "X-Api-Key",  "apikey",      "access_token", "Authorization",
	                        "Set-Cookie", "cookie",      "private_key",  "ssh-private-key"};
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (!sonde__redact_key(&r, secret[i], strlen(secret[i])))
			fail_msg("key %s should be secret", secret[i]);
	const char *plain[] = {"user", "http.route", "pass", "key", "author", "session.id"};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (sonde__redact_key(&r, plain[i], strlen(plain[i])))
			fail_msg("key %s should not be secret", plain[i]);
	r.extra_keys = " session.id , pin";
	assert_true(sonde__redact_key(&r, "Session.Id", 10));
	assert_true(sonde__redact_key(&r, "pin", 3));
	assert_false(sonde__redact_key(&r, "pins", 4));
	r.flags = SONDE__REDACT_OFF;
	assert_false(sonde__redact_key(&r, "password", 8));

	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde__redact_key_marker("db.password", 11, &out), 0);
	assert_int_equal(out.len, strlen("[redacted: db.password]"));
	assert_memory_equal(out.data, "[redacted: db.password]", out.len);
	sonde_buf_release(&out);
}

static void test_truncation(void **state)
{
	(void)state;
	sonde__redactor r = SONDE__REDACTOR_DEFAULT;
	r.max_value_len = 16;
	char *got = redact(&r, "0123456789abcdefghijklmnop", NULL);
	assert_string_equal(got, "0123456789abcdef...[truncated from 26 bytes]");
	free(got);
	/* A cut never splits a UTF-8 sequence: "é" is two bytes at offsets 15-16. */
	got = redact(&r, "abcdefghijklmno\xc3\xa9xyz", NULL);
	assert_string_equal(got, "abcdefghijklmno...[truncated from 20 bytes]");
	free(got);
	/* Redaction happens before the cut: the secret is not half-kept. */
	got = redact(&r, "key AKIAIOSFODNN7EXAMPLE tail", NULL);
	assert_string_equal(got, "key [redacted: a...[truncated from 29 bytes]");
	free(got);
	r.flags = SONDE__REDACT_OFF;
	r.max_value_len = 0;
	got = redact(&r, "password AKIAIOSFODNN7EXAMPLE", NULL);
	assert_string_equal(got, "password AKIAIOSFODNN7EXAMPLE");
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_secrets_found),
	        cmocka_unit_test(test_near_misses_survive),
	        cmocka_unit_test(test_email_opt_in),
	        cmocka_unit_test(test_pem_nested_headers),
	        cmocka_unit_test(test_rescan_after_replacement),
	        cmocka_unit_test(test_keys),
	        cmocka_unit_test(test_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
