/*
 * store_writeback.c - a SQLite VFS that starts the kernel's write-back early
 * (store_internal.h, sonde__sqlite_writeback_vfs).
 *
 * A WAL store syncs its log before a checkpoint and the database after it. When a large
 * transaction or checkpoint has just written tens of MB into the page cache, those syncs
 * wait for the disk to take all of it: 70 - 230 ms for the 79 MB a 200,000-span ingest
 * writes twice, a wait that added to the ingest's time while the disk sat idle before.
 * This VFS is the platform's own ("unix") with one change: every WB_CHUNK bytes written to
 * a database or log file, it asks the kernel to start writing that range out
 * (sync_file_range, SYNC_FILE_RANGE_WRITE: it starts the I/O and does not wait for it), so
 * the disk works while SQLite goes on, and the sync finds little left to do.
 *
 * Nothing about durability changes: SQLite syncs exactly where it did, and a range
 * written out early is only written out sooner. The kernel call works on the file's
 * pages whichever descriptor names it, so the VFS opens its own read-only descriptor of
 * each database and log file at its first write (SQLite's is private to the unix VFS). Without
 * sync_file_range (not Linux), or when that descriptor cannot be opened, files behave as
 * with "unix".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "store_internal.h"

/* Write-back starts each time this much has been written since it last did. */
enum { WB_CHUNK = 4 << 20 };

typedef struct {
	sqlite3_file base;    /* pMethods: wb_methods, or NULL when the real open failed */
	const char *name;     /* of a database or log file (valid until close), else NULL */
	int fd;               /* own descriptor of the file for sync_file_range, opened at the
	                    * first write (so readers have none), or -1 */
	sqlite3_int64 lo, hi; /* the range written since write-back last started (lo == hi: none) */
	sqlite3_file *real;   /* the unix VFS's file, in the same allocation after this struct */
} wb_file;

static sqlite3_vfs wb_vfs;
static sqlite3_vfs *real_vfs;

#define REAL(f) (((wb_file *)(f))->real)

static void wb_kick(wb_file *f)
{
#ifdef SYNC_FILE_RANGE_WRITE
	if (f->fd >= 0 && f->hi > f->lo)
		sync_file_range(f->fd, f->lo, f->hi - f->lo, SYNC_FILE_RANGE_WRITE);
#endif
	f->lo = f->hi = 0;
}

static int wb_close(sqlite3_file *pf)
{
	wb_file *f = (wb_file *)pf;
	int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	return rc;
}

static int wb_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int wb_write(sqlite3_file *pf, const void *buf, int n, sqlite3_int64 off)
{
	wb_file *f = (wb_file *)pf;
	int rc = f->real->pMethods->xWrite(f->real, buf, n, off);
	if (rc != SQLITE_OK || !f->name)
		return rc;
	if (f->fd < 0 && (f->fd = open(f->name, O_RDONLY | O_CLOEXEC)) < 0) {
		f->name = NULL; /* write-back starts when the kernel decides, as with "unix" */
		return rc;
	}
	sqlite3_int64 end = off + n;
	if (f->hi == f->lo) {
		f->lo = off;
		f->hi = end;
	} else {
		f->lo = off < f->lo ? off : f->lo;
		f->hi = end > f->hi ? end : f->hi;
	}
	/* One range covers every write since the last start (log frames are appended, a
	 * checkpoint writes pages in order); pages of it that are clean cost nothing. */
	if (f->hi - f->lo >= WB_CHUNK)
		wb_kick(f);
	return SQLITE_OK;
}

static int wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	wb_file *f = (wb_file *)pf;
	f->lo = f->hi = 0;
	return f->real->pMethods->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *pf, int flags)
{
	wb_file *f = (wb_file *)pf;
	f->lo = f->hi = 0; /* the sync writes it all */
	return f->real->pMethods->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int wb_lock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xLock(REAL(f), level);
}

static int wb_unlock(sqlite3_file *f, int level)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), level);
}

static int wb_check_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int wb_file_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int wb_sector_size(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int wb_device_chars(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

/* The methods of version 2 and 3 exist only when the real file has them; SQLite asks
 * for them on database files, which in the unix VFS always do. */
static int wb_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	return m->iVersion >= 2 ? m->xShmMap(REAL(f), pg, pgsz, extend, pp) : SQLITE_IOERR;
}

static int wb_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	return m->iVersion >= 2 ? m->xShmLock(REAL(f), offset, n, flags) : SQLITE_IOERR;
}

static void wb_shm_barrier(sqlite3_file *f)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	if (m->iVersion >= 2)
		m->xShmBarrier(REAL(f));
}

static int wb_shm_unmap(sqlite3_file *f, int del)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	return m->iVersion >= 2 ? m->xShmUnmap(REAL(f), del) : SQLITE_OK;
}

static int wb_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	if (m->iVersion >= 3)
		return m->xFetch(REAL(f), off, n, pp);
	*pp = NULL;
	return SQLITE_OK;
}

static int wb_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	const sqlite3_io_methods *m = REAL(f)->pMethods;
	return m->iVersion >= 3 ? m->xUnfetch(REAL(f), off, p) : SQLITE_OK;
}

static const sqlite3_io_methods wb_methods = {
        .iVersion = 3,
        .xClose = wb_close,
        .xRead = wb_read,
        .xWrite = wb_write,
        .xTruncate = wb_truncate,
        .xSync = wb_sync,
        .xFileSize = wb_file_size,
        .xLock = wb_lock,
        .xUnlock = wb_unlock,
        .xCheckReservedLock = wb_check_reserved,
        .xFileControl = wb_file_control,
        .xSectorSize = wb_sector_size,
        .xDeviceCharacteristics = wb_device_chars,
        .xShmMap = wb_shm_map,
        .xShmLock = wb_shm_lock,
        .xShmBarrier = wb_shm_barrier,
        .xShmUnmap = wb_shm_unmap,
        .xFetch = wb_fetch,
        .xUnfetch = wb_unfetch,
};

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf, int flags, int *out_flags)
{
	(void)vfs;
	wb_file *f = (wb_file *)pf;
	memset(f, 0, sizeof *f);
	f->fd = -1;
	f->real = (sqlite3_file *)((char *)f + sizeof(wb_file));
	int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, out_flags);
	if (!f->real->pMethods) {
		f->base.pMethods = NULL; /* SQLite then calls no method of it, not even close */
		return rc;
	}
	f->base.pMethods = &wb_methods;
	if (rc == SQLITE_OK && (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)))
		f->name = name;
	return rc;
}

/* The VFS's own methods go to the real one (the unix VFS reads its pAppData). */
static int wb_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
	(void)v;
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
	(void)v;
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
	(void)v;
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *name)
{
	(void)v;
	return real_vfs->xDlOpen(real_vfs, name);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	real_vfs->xDlError(real_vfs, n, msg);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
	(void)v;
	return real_vfs->xDlSym(real_vfs, h, sym);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
	(void)v;
	real_vfs->xDlClose(real_vfs, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
	(void)v;
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
	(void)v;
	return real_vfs->xSleep(real_vfs, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
	(void)v;
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *msg)
{
	(void)v;
	return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, msg) : 0;
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
	(void)v;
	if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64)
		return real_vfs->xCurrentTimeInt64(real_vfs, out);
	double d;
	int rc = real_vfs->xCurrentTime(real_vfs, &d);
	*out = (sqlite3_int64)(d * 86400000.0);
	return rc;
}

static void wb_register(void)
{
	real_vfs = sqlite3_vfs_find("unix");
	if (!real_vfs || (size_t)real_vfs->szOsFile > (size_t)INT32_MAX - sizeof(wb_file))
		return;
	wb_vfs = (sqlite3_vfs){
	        .iVersion = 2,
	        .szOsFile = (int)sizeof(wb_file) + real_vfs->szOsFile,
	        .mxPathname = real_vfs->mxPathname,
	        .zName = "sonde-writeback",
	        .xOpen = wb_open,
	        .xDelete = wb_delete,
	        .xAccess = wb_access,
	        .xFullPathname = wb_full_pathname,
	        .xDlOpen = wb_dlopen,
	        .xDlError = wb_dlerror,
	        .xDlSym = wb_dlsym,
	        .xDlClose = wb_dlclose,
	        .xRandomness = wb_randomness,
	        .xSleep = wb_sleep,
	        .xCurrentTime = wb_current_time,
	        .xGetLastError = wb_last_error,
	        .xCurrentTimeInt64 = wb_current_time64,
	};
	if (sqlite3_vfs_register(&wb_vfs, 0) != SQLITE_OK)
		real_vfs = NULL;
}

const char *sonde__sqlite_writeback_vfs(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, wb_register);
	return real_vfs ? wb_vfs.zName : NULL;
}
