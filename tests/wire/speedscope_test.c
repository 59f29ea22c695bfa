/* speedscope_test.c - the speedscope writer, checked against the rules of speedscope's
 * file format schema by hand (the interop test also validates output with the schema
 * itself): required keys, one "sampled" profile per thread, stacks root first over shared
 * frames, one weight per sample, units from the schema's list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "profile_formats.h"

static sonde_stacktab *profile(void)
{
	sonde_stacktab *t = sonde_stacktab_new();
	assert_int_equal(sonde_stacktab_add_type(t, "samples", "count"), 0);
	assert_int_equal(sonde_stacktab_add_type(t, "cpu", "nanoseconds"), 1);
	sonde_frame fm = {.function = "main", .file = "app.c", .line = 3, .module = "/bin/app"};
	sonde_frame fw = {.function = "work", .module = "/bin/app"};
	sonde_frame fk = {.function = "sys_read", .module = SONDE_MODULE_KERNEL};
	uint32_t m = (uint32_t)sonde_stacktab_intern_frame(t, &fm),
	         w = (uint32_t)sonde_stacktab_intern_frame(t, &fw),
	         k = (uint32_t)sonde_stacktab_intern_frame(t, &fk);
	uint32_t ta = (uint32_t)sonde_stacktab_intern_thread(t, "zeta", 2);
	uint32_t tb = (uint32_t)sonde_stacktab_intern_thread(t, "alpha", 1);
	int64_t s1 = sonde_stacktab_intern_stack(t, (uint32_t[]){w, m, ta}, 3);
	int64_t s2 = sonde_stacktab_intern_stack(t, (uint32_t[]){k, w, m, tb}, 4);
	int64_t s3 = sonde_stacktab_intern_stack(t, (uint32_t[]){m, tb}, 2);
	sonde_stacktab_add(t, (uint32_t)s1, 0, 10);
	sonde_stacktab_add(t, (uint32_t)s1, 1, 100);
	sonde_stacktab_add(t, (uint32_t)s2, 0, 2);
	sonde_stacktab_add(t, (uint32_t)s2, 1, 20);
	sonde_stacktab_add(t, (uint32_t)s3, 0, 1);
	sonde_stacktab_add(t, (uint32_t)s3, 1, 10);
	return t;
}

static char *write_ok(const sonde_stacktab *t, size_t type)
{
	sonde_buf out = SONDE_BUF_INIT;
	sonde_profile_write_opts wo = {.type = type, .name = "app \"x\""};
	assert_int_equal(sonde_profile_write(t, SONDE_PROFILE_SPEEDSCOPE, &wo, &out), 0);
	/* Well-formed JSON. */
	sonde_json_reader r;
	sonde_json_reader_init(&r, out.data, out.len);
	assert_int_equal(sonde_json_skip(&r), 0);
	assert_int_equal(sonde_json_finish(&r), 0);
	sonde_json_reader_release(&r);
	return out.data;
}

static void test_threads_and_order(void **state)
{
	(void)state;
	sonde_stacktab *t = profile();
	char *j = write_ok(t, 0);
	assert_string_equal(
	        j,
	        "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"name\":\"app "
	        "\\\"x\\\"\","
	        "\"exporter\":\"sonde " SONDE_VERSION "\",\"activeProfileIndex\":1,"
	        "\"shared\":{\"frames\":[{\"name\":\"work\",\"file\":\"/bin/app\"},"
	        "{\"name\":\"main\",\"file\":\"app.c\",\"line\":3},"
	        "{\"name\":\"sys_read\",\"file\":\"[kernel.kallsyms]\"}]},"
	        "\"profiles\":[{\"type\":\"sampled\",\"name\":\"alpha-1\",\"unit\":\"none\",\"startValue\":0,"
	        "\"endValue\":3,\"samples\":[[1,0,2],[1]],\"weights\":[2,1]},"
	        "{\"type\":\"sampled\",\"name\":\"zeta-2\",\"unit\":\"none\",\"startValue\":0,\"endValue\":"
	        "10,"
	        "\"samples\":[[1,0]],\"weights\":[10]}]}");
	free(j);
	/* The cpu type: nanoseconds is a unit speedscope knows. */
	j = write_ok(t, 1);
	assert_non_null(strstr(j, "\"unit\":\"nanoseconds\""));
	assert_non_null(strstr(j, "\"weights\":[100]"));
	free(j);
	sonde_buf out = SONDE_BUF_INIT;
	sonde_profile_write_opts wo = {.type = 2};
	assert_int_equal(sonde_profile_write(t, SONDE_PROFILE_SPEEDSCOPE, &wo, &out), -EINVAL);
	sonde_buf_release(&out);
	sonde_stacktab_free(t);
}

static void test_no_threads_and_empty(void **state)
{
	(void)state;
	const char *in = "main;work 3\nmain 1\n";
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_wire_error err;
	assert_int_equal(sonde_folded_read(t, in, strlen(in), NULL, &err), 0);
	char *j = write_ok(t, 0);
	/* One profile, named after the file. */
	assert_non_null(strstr(j, "\"profiles\":[{\"type\":\"sampled\",\"name\":\"app \\\"x\\\"\""));
	assert_null(strstr(j, "},{\"type\""));
	free(j);
	sonde_stacktab *e = sonde_stacktab_new();
	j = write_ok(e, 0);
	assert_non_null(strstr(j, "\"frames\":[]},\"profiles\":[]}"));
	free(j);
	sonde_stacktab_free(e);
	sonde_stacktab_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_threads_and_order),
	        cmocka_unit_test(test_no_threads_and_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
