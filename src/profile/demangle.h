/*
 * demangle.h - C++ and Rust symbol names made readable.
 *
 * C++ (Itanium ABI, "_Z...") goes through the C++ runtime's __cxa_demangle, found at run
 * time in libstdc++ so that sonde itself needs no C++ runtime; Rust's legacy mangling (also
 * "_ZN...", ending in a "17h<16 hex digits>E" hash) is demangled the same way, then loses its
 * hash and has its $...$ escapes decoded. Rust v0 names ("_R...") are demangled here
 * without a runtime. Names that are not mangled, or that cannot be demangled, stay as they
 * are. Thread-safe.
 */
#ifndef SONDE_DEMANGLE_H
#define SONDE_DEMANGLE_H

#include <stdbool.h>

/* Returns the demangled name in a malloc'd string (caller frees), or NULL when name is not
 * mangled, cannot be demangled, or memory ran out (callers then show name as it is). */
char *sonde_demangle(const char *name);
/* True when the C++ demangler was found (libstdc++ could be loaded). */
bool sonde_demangle_available(void);

#endif
