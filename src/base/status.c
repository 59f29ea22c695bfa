/* status.c - messages for sonde's status codes (include/sonde/status.h). */
#include <string.h>

#include "sonde/status.h"

const char *sonde_strerror(int status)
{
	switch (status) {
	case SONDE_OK: return "success";
	case SONDE_EPARSE: return "malformed input";
	case SONDE_ELIMIT: return "input exceeds a limit";
	case SONDE_EUNSUPPORTED: return "unsupported input";
	case SONDE_EFORMAT: return "unknown format";
	default: break;
	}
	if (status < 0 && status > -4096)
		return strerror(-status);
	return "unknown error";
}
