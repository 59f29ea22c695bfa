/*
 * store_tmpdir.h - for tests that need a store file: a fresh directory per test, with
 * `path` naming a store file in it. tmpdir_make() and tmpdir_remove() do the work; with
 * STORE_TEST_NAME (a string) defined before the include, cmocka setup() and teardown()
 * call them. The directory is /tmp/sonde-<name>-XXXXXX and is removed with what it holds.
 */
#ifndef SONDE_TESTS_LIB_STORE_TMPDIR_H
#define SONDE_TESTS_LIB_STORE_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>

static char dir[64];
static char path[128];

/* Makes the directory and sets path; 0, or -1 when it cannot be made. */
static inline int tmpdir_make(const char *name)
{
	snprintf(dir, sizeof dir, "/tmp/sonde-%s-XXXXXX", name);
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/t.db", dir);
	return 0;
}

/* Removes the directory and everything in it; 0 or -1. */
static inline int tmpdir_remove(void)
{
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

#ifdef STORE_TEST_NAME
static int setup(void **state)
{
	(void)state;
	return tmpdir_make(STORE_TEST_NAME);
}

static int teardown(void **state)
{
	(void)state;
	return tmpdir_remove();
}
#endif

#endif
