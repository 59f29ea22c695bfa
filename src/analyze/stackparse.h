/*
 * stackparse.h - stack traces found in error messages, parsed into frames (function,
 * file, line): Python tracebacks, Java "at ..." frames (with "Caused by:" chains), Go
 * goroutine traces, Rust panic backtraces, and native stacks as gdb prints them ("#0
 * 0x... in f (...) at file.c:12") or as `sonde dump` does ("  #0   f at file.c:12 [mod]").
 *
 * The parser allocates nothing: frames point into the text given, which the caller keeps
 * alive while it uses them. It reads any bytes (it is fuzzed by fuzz/fuzz_stackparse.c)
 * and never reads past the length given. Thread-safe: no state.
 */
#ifndef SONDE_STACKPARSE_H
#define SONDE_STACKPARSE_H

#include <stddef.h>
#include <stdint.h>

typedef enum sonde_stack_lang {
	SONDE_STACK_NONE = 0, /* no frame found */
	SONDE_STACK_PYTHON,
	SONDE_STACK_JAVA,
	SONDE_STACK_GO,
	SONDE_STACK_RUST,
	SONDE_STACK_NATIVE, /* C, C++ and others: gdb backtraces and `sonde dump` */
} sonde_stack_lang;

/* One frame. Pointers are borrowed from the parsed text; file is empty (file_len 0) and
 * line 0 when the trace does not say. */
typedef struct sonde_stack_frame {
	const char *function;
	size_t function_len;
	const char *file;
	size_t file_len;
	uint32_t line;
} sonde_stack_frame;

/* "python", "java", "go", "rust", "native", or "" for NONE. Static string. */
const char *sonde_stack_lang_name(sonde_stack_lang lang);

/* Finds the frames of the stack trace(s) in text[0..len) and stores the first max of them
 * in frames[], innermost call first whatever the language prints first (Python prints
 * the innermost last). A frame line of one language after another's is kept: Java's
 * "Caused by:" sections follow on. Returns the number of frames stored (0: no trace) and
 * sets *lang (when non-NULL) to the language of the first frame. */
size_t sonde_stack_parse(const char *text, size_t len, sonde_stack_frame *frames, size_t max,
                         sonde_stack_lang *lang);

/* True when text[0..len) holds at least one frame line that sonde_stack_parse() reads. */
int sonde_stack_has_trace(const char *text, size_t len);

/* The line of text[0..len) that states the error, without the trace: for a Python
 * traceback that starts the text, its last unindented line ("ValueError: ..."); else the
 * first non-empty line that is neither a trace header ("Traceback (most recent call
 * last):", "goroutine 1 [running]:", "stack backtrace:") nor a frame. Sets *off and *n
 * (both 0 when there is no such line). */
void sonde_stack_message(const char *text, size_t len, size_t *off, size_t *n);

#endif
