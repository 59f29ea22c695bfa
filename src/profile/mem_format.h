/*
 * mem_format.h - the constants of the memory recording file that libsonde_mem.so writes
 * (src/profile/memprof/memrec.c) and `sonde mem report` reads (mem_file.c). The layout is
 * documented in docs/memory.md; this header is the one place its numbers are defined.
 *
 * File: a 48-byte header, then records. Header: magic "SONDEMEM", u32 version, u32 flags
 * (SONDE_MEMFILE_ALL), u64 sample_bytes, u64 pid, u64 start wall-clock ns, u64 start
 * monotonic ns; integers little-endian. Record: u8 type, u32 payload length (LE), payload.
 * Inside payloads numbers are unsigned LEB128 varints.
 */
#ifndef SONDE_MEM_FORMAT_H
#define SONDE_MEM_FORMAT_H

#define SONDE_MEMFILE_MAGIC        "SONDEMEM"
#define SONDE_MEMFILE_VERSION      1u
#define SONDE_MEMFILE_HEADER_BYTES 48u
#define SONDE_MEMFILE_ALL          1u /* every allocation recorded, not a sample */

enum {
	SONDE_MEMREC_MAPS = 1,   /* varint generation, then the text of /proc/self/maps */
	SONDE_MEMREC_STACK = 2,  /* varint id, varint generation, varint depth, depth x varint ip */
	SONDE_MEMREC_EVENTS = 3, /* u32 tid (LE), then events to the end of the payload */
	SONDE_MEMREC_END = 4,    /* varint seq, varint monotonic ns since start, varint lost events */
};

/* Events of an EVENTS record. seq is a delta from the previous event of the record (the
 * first from 0); sequence numbers order events of all threads. */
enum {
	SONDE_MEMEV_ALLOC = 1,  /* seq, ptr, size, stack */
	SONDE_MEMEV_FREE = 2,   /* seq, ptr */
	SONDE_MEMEV_TEMP = 3,   /* seq, ptr, size, stack: freed before the thread's next event */
	SONDE_MEMEV_MMAP = 4,   /* seq, ptr, size, stack */
	SONDE_MEMEV_MUNMAP = 5, /* seq, ptr, size */
	SONDE_MEMEV_TIME = 6,   /* seq, monotonic ns since start: a clock reading at that seq */
};

/* A flag on ALLOC and TEMP (0x11, 0x13): the event's seq is the previous event's + 1 and
 * its stack is that of the record's previous event with a stack (0 at the record's
 * start); neither is written, so the event is kind, ptr, size. */
#define SONDE_MEMEV_NEXT 0x10

/* A flag on ALLOC and TEMP (0x21, 0x23, 0x31, 0x33): the event's ptr is not written (the
 * event is kind, seq, size, stack, less what NEXT leaves out); it is the ptr of the
 * record's last ALLOC or TEMP whose size has the same class (sonde_mem_size_class), the
 * block an allocator hands out again after a free of the same size. Every ALLOC and TEMP
 * of a record, flagged or not, sets its class's ptr; a record starts with none. Files
 * written before the flag existed never set it, and read the same. */
#define SONDE_MEMEV_SAME 0x20

enum { SONDE_MEM_SIZE_CLASSES = 64 };

/* The class of an allocation of size bytes: glibc's 16-byte chunk bins (size plus the
 * 8-byte header, rounded up), modulo the 64 classes. */
static inline unsigned sonde_mem_size_class(unsigned long long size)
{
	return (unsigned)((size + 23) >> 4) & (SONDE_MEM_SIZE_CLASSES - 1);
}

#endif
