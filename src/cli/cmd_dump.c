/*
 * cmd_dump.c - `sonde dump`: the current stack of every thread of a running process.
 *
 * Thin over src/profile/threaddump.h: stop the threads for milliseconds with ptrace,
 * unwind, let them go, then print each thread's name, state and frames (or JSON).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "json.h"
#include "profile_formats.h"
#include "sonde/status.h"
#include "threaddump.h"

const char sonde_dump_usage[] =
        "usage: sonde dump -p PID [--json]\n"
        "\n"
        "Prints the current stack of every thread of a running process, with the thread's\n"
        "name and state. The threads are stopped with ptrace only while their stacks are\n"
        "copied (milliseconds; the pause is reported), then symbolized with the process\n"
        "running again. Needs the permission to ptrace the process (root, the same user with\n"
        "kernel.yama.ptrace_scope = 0, or CAP_SYS_PTRACE).\n"
        "\n"
        "options:\n"
        "  -p, --pid PID   the process\n"
        "  --json          one JSON object: pid, name, pause_ms, threads[] with frames[]\n"
        "\n"
        "examples:\n"
        "  sonde dump -p $(pidof server)\n"
        "  sonde dump -p 1234 --json | jq '.threads[] | select(.state == \"R\")'\n";

static void print_text(const sonde_dump *d)
{
	sonde_buf name = SONDE_BUF_INIT;
	printf("process %d (%s): %zu thread%s, paused %.2f ms\n", (int)d->pid, d->name, d->nthreads,
	       d->nthreads == 1 ? "" : "s", (double)d->pause_ns / 1e6);
	for (size_t i = 0; i < d->nthreads; i++) {
		const sonde_dump_thread *t = &d->threads[i];
		printf("\nthread %d \"%s\" (%c %s)\n", (int)t->tid, t->name, t->state,
		       sonde_dump_state_name(t->state));
		if (t->error) {
			printf("  (not stopped: %s)\n", sonde_strerror(t->error));
			continue;
		}
		size_t depth;
		const uint32_t *frames = sonde_stacktab_stack(d->tab, t->stack, &depth);
		int k = 0;
		for (size_t j = 0; frames && j < depth; j++) {
			const sonde_frame *f = sonde_stacktab_frame(d->tab, frames[j]);
			if (sonde_frame_kind_of(f) == SONDE_FRAME_THREAD)
				continue;
			sonde_buf_reset(&name);
			sonde_profile_frame_name(f, &name);
			const char *slash = strrchr(f->module, '/');
			printf("  #%-3d %s%s", k++, name.data ? name.data : "?",
			       f->inlined ? " (inlined)" : "");
			if (f->file[0])
				printf(" at %s:%u", f->file, f->line);
			printf(" [%s]\n", slash ? slash + 1 : f->module);
		}
	}
	sonde_buf_release(&name);
}

static void print_json(const sonde_dump *d)
{
	sonde_buf out = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &out, 0);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "pid");
	sonde_json_i64(&w, d->pid);
	sonde_json_key_cstr(&w, "name");
	sonde_json_str(&w, d->name, strlen(d->name));
	sonde_json_key_cstr(&w, "pause_ms");
	sonde_json_f64(&w, (double)d->pause_ns / 1e6);
	sonde_json_key_cstr(&w, "threads");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < d->nthreads; i++) {
		const sonde_dump_thread *t = &d->threads[i];
		char st[2] = {t->state, 0};
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "tid");
		sonde_json_i64(&w, t->tid);
		sonde_json_key_cstr(&w, "name");
		sonde_json_str(&w, t->name, strlen(t->name));
		sonde_json_key_cstr(&w, "state");
		sonde_json_str(&w, st, 1);
		if (t->error) {
			const char *msg = sonde_strerror(t->error);
			sonde_json_key_cstr(&w, "error");
			sonde_json_str(&w, msg, strlen(msg));
		}
		sonde_json_key_cstr(&w, "frames");
		sonde_json_arr_begin(&w);
		size_t depth = 0;
		const uint32_t *frames = t->error ? NULL : sonde_stacktab_stack(d->tab, t->stack, &depth);
		for (size_t j = 0; frames && j < depth; j++) {
			const sonde_frame *f = sonde_stacktab_frame(d->tab, frames[j]);
			if (sonde_frame_kind_of(f) == SONDE_FRAME_THREAD)
				continue;
			sonde_json_obj_begin(&w);
			sonde_json_key_cstr(&w, "function");
			sonde_json_str(&w, f->function, strlen(f->function));
			sonde_json_key_cstr(&w, "file");
			sonde_json_str(&w, f->file, strlen(f->file));
			sonde_json_key_cstr(&w, "line");
			sonde_json_u64(&w, f->line);
			sonde_json_key_cstr(&w, "module");
			sonde_json_str(&w, f->module, strlen(f->module));
			sonde_json_key_cstr(&w, "address");
			sonde_json_u64(&w, f->address);
			sonde_json_key_cstr(&w, "inlined");
			sonde_json_bool(&w, f->inlined);
			sonde_json_obj_end(&w);
		}
		sonde_json_arr_end(&w);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_putc(&out, '\n');
	fwrite(out.data, 1, out.len, stdout);
	sonde_buf_release(&out);
}

int sonde_cmd_dump(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"pid", required_argument, NULL, 'p'},
	        {"json", no_argument, NULL, 'j'},
	        {NULL, 0, NULL, 0},
	};
	long pid = 0;
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "p:", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'p':
			pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0 || pid > 0x3fffffff) {
				sonde_cli_error("dump", "-p takes a process id, not '%s'", optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case 'j': json = true; break;
		default:
			sonde_cli_error("dump",
			                "unknown option or missing value '%s'; see `sonde dump --help`",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (!pid || optind < argc) {
		sonde_cli_error("dump", pid ? "unexpected argument '%s'" : "which process? give -p PID%s",
		                pid ? argv[optind] : "");
		return SONDE_EXIT_USAGE;
	}
	sonde_dump *d;
	int rc = sonde_dump_process((pid_t)pid, &d);
	if (rc == -ESRCH) {
		sonde_cli_error("dump", "process %ld: no such process", pid);
		return SONDE_EXIT_USAGE;
	}
	if (rc == -EPERM || rc == -EACCES) {
		char scope[16] = "?";
		FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
		if (f) {
			if (!fgets(scope, sizeof(scope), f))
				scope[0] = '\0';
			scope[strcspn(scope, "\n")] = '\0';
			fclose(f);
		}
		sonde_cli_error("dump",
		                "process %ld: ptrace not permitted (another debugger attached, or "
		                "kernel.yama.ptrace_scope = "
		                "%s); run as root or the process's user with CAP_SYS_PTRACE",
		                pid, scope);
		return SONDE_EXIT_USAGE;
	}
	if (rc) {
		sonde_cli_error("dump", "process %ld: %s", pid, sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	if (json)
		print_json(d);
	else
		print_text(d);
	sonde_dump_free(d);
	return SONDE_EXIT_OK;
}
