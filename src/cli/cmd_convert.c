/* cmd_convert.c - placeholder replaced below once the format registry exists. */
#include "cli.h"
int sonde_cmd_convert(int argc, char **argv)
{
	(void)argc; (void)argv;
	sonde_cli_error("convert", "not built yet");
	return SONDE_EXIT_USAGE;
}
