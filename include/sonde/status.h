/*
 * status.h - sonde's error codes.
 *
 * Every sonde function that can fail returns an int: 0 on success, a negative errno value
 * (-ENOMEM, -EINVAL, ...) or one of the negative SONDE_E* codes below on failure.
 * sonde_strerror() turns either kind into a message. Thread-safe: the strings are static.
 */
#ifndef SONDE_STATUS_H
#define SONDE_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

enum {
	SONDE_OK = 0,
	/* sonde's own codes sit below -4095 so they never collide with -errno. */
	SONDE_EPARSE = -5000,       /* input is not in the expected format */
	SONDE_ELIMIT = -5001,       /* input exceeds a configured limit (depth, size, count) */
	SONDE_EUNSUPPORTED = -5002, /* valid input that this build cannot handle */
	SONDE_EFORMAT = -5003,      /* unknown or undetectable format name */
};

/* Returns a static, human-readable message for a status code (never NULL). */
const char *sonde_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif
