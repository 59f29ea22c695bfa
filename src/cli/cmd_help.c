/* cmd_help.c - `sonde help [VERB]` and `sonde version`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const job_titles[] = {
        [SONDE_JOB_INSTRUMENT] = "Instrument (libsonde, linked into your service)",
        [SONDE_JOB_PROFILE] = "Profile a running process",
        [SONDE_JOB_INVESTIGATE] = "Investigate telemetry",
        [SONDE_JOB_UTILITY] = "Other",
};

int sonde_cmd_help(int argc, char **argv)
{
	if (argc > 1) {
		const sonde_cmd *cmd = sonde_cli_find(argv[1]);
		if (!cmd) {
			sonde_cli_error("help", "'%s' is not a sonde verb", argv[1]);
			return SONDE_EXIT_USAGE;
		}
		return sonde_cli_usage(cmd);
	}
	printf("usage: sonde <verb> [options]   (sonde <verb> --help for details)\n\n"
	       "sonde finds out why production is slow or failing: it instruments services,\n"
	       "profiles native processes, and investigates their telemetry.\n");
	for (int job = 0; job <= SONDE_JOB_UTILITY; job++) {
		bool any = false;
		for (size_t i = 0; i < sonde_commands_count; i++) {
			const sonde_cmd *c = &sonde_commands[i];
			if ((int)c->job != job)
				continue;
			if (!any)
				printf("\n%s:\n", job_titles[job]);
			any = true;
			printf("  %-12s %s\n", c->name, c->summary);
		}
		if (job == SONDE_JOB_INSTRUMENT && !any)
			printf("\n%s:\n  (libsonde is a C library: see include/sonde/ and examples/)\n",
			       job_titles[job]);
	}
	printf("\nExit codes: 0 ok, 1 a finding you asked to fail on, 2 bad usage or input.\n");
	return SONDE_EXIT_OK;
}

int sonde_cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("sonde %s\n", SONDE_VERSION);
	return SONDE_EXIT_OK;
}
