/*
 * store_tmpdir.h - for the store's tests: a fresh directory per test (cmocka setup and
 * teardown) with `path` naming a store file in it. Define STORE_TEST_NAME (a string) before
 * including; the directory is /tmp/sonde-<name>-XXXXXX and is removed with what it holds.
 */
#ifndef SONDE_TESTS_STORE_TMPDIR_H
#define SONDE_TESTS_STORE_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sonde-%s-XXXXXX", STORE_TEST_NAME);
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/t.db", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#endif
