/*
 * logmine_test.c - the log template miner: masking of each variable kind, routing and
 * the word rule, generalisation and refinement, stable ids, the LRU bound, sample
 * values, header formats (with the optional group) and auto headers, and the
 * persistence round trip.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "logmine.h"

static sonde_logmine *new_miner(size_t max_templates)
{
	sonde_logmine_config c;
	sonde_logmine_config_default(&c);
	if (max_templates)
		c.max_templates = max_templates;
	sonde_logmine *m = NULL;
	assert_int_equal(sonde_logmine_new(&c, &m), 0);
	return m;
}

static sonde_logmine_ref add(sonde_logmine *m, const char *line)
{
	sonde_logmine_ref r = 0;
	assert_int_equal(sonde_logmine_add(m, line, strlen(line), &r), 0);
	assert_true(r != 0);
	return r;
}

static void text_is(sonde_logmine *m, sonde_logmine_ref r, const char *want)
{
	sonde_logmine_template t;
	assert_int_equal(sonde_logmine_get(m, r, &t), 0);
	if (t.text_len != strlen(want) || memcmp(t.text, want, t.text_len) != 0)
		fail_msg("template: got [%.*s], want [%s]", (int)t.text_len, t.text, want);
}

/* The template a single line gets in a fresh miner. */
static void mask_is(const char *line, const char *want)
{
	sonde_logmine *m = new_miner(0);
	sonde_logmine_ref r = add(m, line);
	sonde_logmine_template t;
	assert_int_equal(sonde_logmine_get(m, r, &t), 0);
	if (t.text_len != strlen(want) || memcmp(t.text, want, t.text_len) != 0)
		fail_msg("masking [%s]: got [%.*s], want [%s]", line, (int)t.text_len, t.text, want);
	sonde_logmine_free(m);
}

static void test_masking(void **state)
{
	(void)state;
	mask_is("connect 10.0.0.1:8080 ok", "connect <IP> ok");
	mask_is("from /10.251.42.84 done", "from <IP> done");
	mask_is("peer fe80::1 and [2001:db8::7]:443", "peer <IP> and <IP>");
	mask_is("host msra-sa-41:8030 and node-7/10.0.0.2:22", "host <IP> and <IP>");
	mask_is("ptr 0x7ffdeadbeef hash 113d3a99c3da401fbd62cc2caa5b96d2", "ptr <HEX> hash <HEX>");
	mask_is("took 42 then -7 then 3.14 (v1.2.3)", "took <NUM> then <NUM> then <NUM> (<NUM>)");
	mask_is("id 123e4567-e89b-12d3-a456-426614174000 seen", "id <UUID> seen");
	mask_is("open /var/log/syslog and C:\\Windows\\cbs.dll", "open <PATH> and <PATH>");
	mask_is("GET https://example.com/a?b=1 now", "GET <URL> now");
	mask_is("mail to ops.team@example.com failed", "mail to <EMAIL> failed");
	mask_is("waited 250ms for 64KB and 2.1 KB", "waited <DUR> for <SIZE> and <SIZE>");
	mask_is("at 2016-09-28T04:30:30Z and 15:16:01", "at <TS> and <TS>");
	mask_is("since Fri Jun 17 20:10:40 2005 ok", "since <TS> ok");
	mask_is("since 2017-05-16 00:00:00.008 ok", "since <TS> ok");
	mask_is("block blk_-1608999687919862906 gone", "block <BLK> gone");
	mask_is("[req-38101a0b-2096-447d-96ea-a692162415ae] ok", "[<REQ>] ok");
	mask_is("task attempt_1445144423722_0020_m_000000_0 done", "task <ID> done");
	mask_is("node cp-1.tcloud-pg0.utah.cloudlab.us up", "node <ID> up");
	mask_is("uid=0 rhost=10.1.1.1 user=root", "uid=<NUM> rhost=<IP> user=root");
	mask_is("port eth0 by Slf4jLogger on CPU#1", "port eth0 by Slf4jLogger on CPU#<NUM>");
	mask_is("\"GET /v2/servers/detail HTTP/1.1\" status: 200", "\"GET <PATH>\" status: <NUM>");
	mask_is("screen on=true, cached False (null) ok", "screen on=<BOOL>, cached <BOOL> (<NULL>) ok");
	mask_is("ask 10.0.0.1:50010 to delete blk_1 blk_-2 blk_3", "ask <IP> to delete <BLK>");
	mask_is("from 1.2.3.4 (5.6.7.8): denied", "from <IP> (<IP>): denied");
	mask_is("mac FF:F2:9F:16:E5:21 up", "mac <HEX> up");
	mask_is("  spaces   collapse  ", "spaces collapse");
	mask_is("", "");
}

static void test_routing_and_generalising(void **state)
{
	(void)state;
	sonde_logmine *m = new_miner(0);
	/* values that no scanner knows vary: the position becomes <*> */
	sonde_logmine_ref a = add(m, "Starting executor ID 3 on host node-a7");
	sonde_logmine_ref b = add(m, "Starting executor ID 4 on host web-b9");
	assert_true(a == b);
	text_is(m, a, "Starting executor ID <NUM> on host <*>");
	/* key=<*> keeps the key when only the value differs */
	sonde_logmine_ref c = add(m, "Connected user=a1 db=main");
	sonde_logmine_ref d = add(m, "Connected user=b22 db=main");
	assert_true(c == d);
	text_is(m, c, "Connected user=<*> db=main");
	/* a different token count is a different route */
	sonde_logmine_ref e = add(m, "Starting executor ID 3 on host node-a7 now");
	assert_true(e != a);
	/* two different plain words never share a template: states are events */
	sonde_logmine_ref f = add(m, "Transitioned from RUNNING to SUCCEEDED");
	sonde_logmine_ref g = add(m, "Transitioned from RUNNING to FAILED");
	assert_true(f != g);
	text_is(m, f, "Transitioned from RUNNING to SUCCEEDED");
	/* the first token routes: same shape, different first word */
	sonde_logmine_ref h = add(m, "alpha 1 2 3");
	sonde_logmine_ref i = add(m, "beta 1 2 3");
	assert_true(h != i);
	/* matching learns nothing */
	sonde_logmine_ref r;
	assert_int_equal(sonde_logmine_match(m, "Starting executor ID 9 on host zz-1", 34, &r), 0);
	assert_true(r == a);
	assert_int_equal(sonde_logmine_match(m, "never seen before", 17, &r), -ENOENT);
	sonde_logmine_template t;
	assert_int_equal(sonde_logmine_get(m, a, &t), 0);
	assert_int_equal(t.count, 2);
	assert_int_equal(sonde_logmine_count(m), 7);
	sonde_logmine_free(m);
}

static void test_refine_merges(void **state)
{
	(void)state;
	sonde_logmine *m = new_miner(0);
	/* lowercase names at one position, four or more of them: a variable */
	const char *users[] = {"cyrus", "news", "test", "root", "guest"};
	sonde_logmine_ref refs[5];
	for (int i = 0; i < 5; i++) {
		char line[128];
		snprintf(line, sizeof(line), "session opened for user %s by (uid=0)", users[i]);
		refs[i] = add(m, line);
	}
	/* three capitalised states are events, kept apart */
	sonde_logmine_ref s1 = add(m, "VM Started (Lifecycle Event)");
	sonde_logmine_ref s2 = add(m, "VM Stopped (Lifecycle Event)");
	sonde_logmine_ref s3 = add(m, "VM Paused (Lifecycle Event)");
	sonde_logmine_ref s4 = add(m, "VM Resumed (Lifecycle Event)");
	assert_int_equal(sonde_logmine_count(m), 9);
	size_t merges = sonde_logmine_refine(m);
	assert_int_equal(merges, 4);
	assert_int_equal(sonde_logmine_count(m), 5);
	sonde_logmine_ref keep = sonde_logmine_resolve(m, refs[0]);
	for (int i = 1; i < 5; i++)
		assert_true(sonde_logmine_resolve(m, refs[i]) == keep);
	text_is(m, keep, "session opened for user <*> by (uid=<NUM>)");
	sonde_logmine_template t;
	assert_int_equal(sonde_logmine_get(m, refs[3], &t), 0);
	assert_int_equal(t.count, 5);
	assert_true(sonde_logmine_resolve(m, s1) != sonde_logmine_resolve(m, s2));
	assert_true(sonde_logmine_resolve(m, s3) != sonde_logmine_resolve(m, s4));
	/* templates that differ only where a placeholder sits share one template */
	sonde_logmine *m2 = new_miner(0);
	sonde_logmine_ref x = add(m2, "Got 12 blocks from peer 10.0.0.1 in 5 ms");
	sonde_logmine_ref y = add(m2, "Got 12 blocks from peer host-7 in 5 ms");
	sonde_logmine_refine(m2);
	assert_true(sonde_logmine_resolve(m2, x) == sonde_logmine_resolve(m2, y));
	sonde_logmine_free(m2);
	sonde_logmine_free(m);
}

/* A handle taken from the first line of a template names, at the end, the template it
 * ended in: generalised by later lines, then merged by refinement into another. */
static void test_resolve_final(void **state)
{
	(void)state;
	sonde_logmine *m = new_miner(0);
	sonde_logmine_ref early = add(m, "login failed for alice from gateway port 443");
	text_is(m, early, "login failed for alice from gateway port <NUM>");
	assert_true(add(m, "login failed for alice from gateway port 0x1bb") == early);
	text_is(m, early, "login failed for alice from gateway port <*>");
	sonde_logmine_ref b = add(m, "login failed for bob from gateway port 80");
	sonde_logmine_ref c = add(m, "login failed for carol from gateway port 8080");
	assert_true(b != early && c != early && b != c);
	/* (refinement merges names only where the rest is the same text) */
	assert_true(add(m, "login failed for bob from gateway port 0x50") == b);
	assert_true(add(m, "login failed for carol from gateway port 0x1f90") == c);
	assert_true(sonde_logmine_refine(m) >= 2);
	sonde_logmine_ref fin = sonde_logmine_resolve(m, early);
	assert_true(fin != 0);
	assert_true(sonde_logmine_resolve(m, b) == fin);
	assert_true(sonde_logmine_resolve(m, c) == fin);
	text_is(m, early, "login failed for <*> from gateway port <*>");
	sonde_logmine_template t;
	assert_int_equal(sonde_logmine_get(m, b, &t), 0);
	assert_int_equal(t.count, 6);
	const char *want = "login failed for <*> from gateway port <*>";
	assert_true(t.id == sonde_logmine_id(want, strlen(want)));
	sonde_logmine_free(m);
}

static void test_stable_ids(void **state)
{
	(void)state;
	const char *line = "Received block blk_42 of size 67108864 from /10.251.42.84";
	sonde_logmine *a = new_miner(0), *b = new_miner(0);
	add(b, "something else first");
	sonde_logmine_ref ra = add(a, line), rb = add(b, line);
	sonde_logmine_template ta, tb;
	assert_int_equal(sonde_logmine_get(a, ra, &ta), 0);
	assert_int_equal(sonde_logmine_get(b, rb, &tb), 0);
	assert_true(ta.id == tb.id);
	assert_true(ta.id == sonde_logmine_id(ta.text, ta.text_len));
	/* the hash itself is part of the format: ids stored yesterday must match today */
	const char *text = "Received block <BLK> of size <NUM> from <IP>";
	assert_memory_equal(ta.text, text, strlen(text));
	assert_true(sonde_logmine_id(text, strlen(text)) == UINT64_C(0x2e4a14e0fe8c9111));
	/* the star rendering is for the Loghub ground truth */
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_logmine_render(a, ra, SONDE_LOGMINE_STAR, &out), 0);
	assert_string_equal(out.data, "Received block <*> of size <*> from <*>");
	sonde_buf_release(&out);
	sonde_logmine_free(a);
	sonde_logmine_free(b);
}

static void test_lru_bound(void **state)
{
	(void)state;
	sonde_logmine *m = new_miner(8);
	sonde_logmine_ref first = 0, last = 0;
	for (int i = 0; i < 200; i++) {
		/* a distinct word shape each time: a new template */
		char line[64];
		char w[8];
		for (int k = 0; k < 6; k++)
			w[k] = (char)('a' + (i / (k + 1) + k) % 26);
		w[6] = '\0';
		snprintf(line, sizeof(line), "%s event%c%c happened", w, 'a' + i % 26, 'a' + (i / 26) % 26);
		last = add(m, line);
		if (i == 0)
			first = last;
		/* a template used all along stays */
		add(m, "heartbeat from worker 7");
		assert_true(sonde_logmine_count(m) <= 8);
	}
	sonde_logmine_template t;
	assert_int_equal(sonde_logmine_get(m, first, &t), -ENOENT);
	assert_int_equal(sonde_logmine_get(m, last, &t), 0);
	sonde_logmine_ref hb;
	assert_int_equal(sonde_logmine_match(m, "heartbeat from worker 9", 23, &hb), 0);
	assert_int_equal(sonde_logmine_get(m, hb, &t), 0);
	assert_int_equal(t.count, 200);
	sonde_logmine_free(m);
}

static void test_params(void **state)
{
	(void)state;
	sonde_logmine *m = new_miner(0);
	sonde_logmine_ref r = 0;
	for (int i = 0; i < 10; i++) {
		char line[64];
		snprintf(line, sizeof(line), "retry %d of job-%c%d failed", i, 'a' + i, i);
		r = add(m, line);
	}
	text_is(m, r, "retry <NUM> of job-<*> failed");
	sonde_logmine_template t;
	assert_int_equal(sonde_logmine_get(m, r, &t), 0);
	assert_int_equal(t.nparams, 2);
	sonde_logmine_param p;
	assert_int_equal(sonde_logmine_param_get(m, r, 0, &p), 0);
	assert_int_equal(p.token, 1);
	assert_string_equal(p.name, "<NUM>");
	assert_int_equal(p.nvalues, SONDE_LOGMINE_PARAM_VALUES);
	assert_string_equal(p.values[0], "0");
	assert_string_equal(p.values[3], "3");
	assert_int_equal(sonde_logmine_param_get(m, r, 1, &p), 0);
	assert_string_equal(p.name, "<*>");
	assert_int_equal(sonde_logmine_param_get(m, r, 2, &p), -ENOENT);
	assert_memory_equal(t.example, "retry 0 of job-a0 failed", t.example_len);
	sonde_logmine_free(m);
}

typedef struct split_case {
	const char *line;
	const char *time, *level, *component, *content;
} split_case;

static void split_is(const sonde_loghdr *h, const split_case *c, bool want_match)
{
	sonde_loghdr_fields f;
	bool ok = sonde_loghdr_split(h, c->line, strlen(c->line), &f);
	if (ok != want_match)
		fail_msg("[%s]: matched %d, want %d", c->line, ok, want_match);
	const char *names[4] = {"time", "level", "component", "content"};
	const char *want[4] = {c->time, c->level, c->component, c->content};
	size_t off[4] = {f.time_off, f.level_off, f.component_off, f.content_off};
	size_t len[4] = {f.time_len, f.level_len, f.component_len, f.content_len};
	for (int i = 0; i < 4; i++) {
		if (!want[i])
			continue;
		if (len[i] != strlen(want[i]) || memcmp(c->line + off[i], want[i], len[i]) != 0)
			fail_msg("[%s]: %s got [%.*s], want [%s]", c->line, names[i], (int)len[i],
			         c->line + off[i], want[i]);
	}
}

static sonde_loghdr *hdr(const char *fmt)
{
	sonde_loghdr *h = NULL;
	char err[128];
	int rc = sonde_loghdr_new(fmt, &h, err, sizeof(err));
	if (rc != 0)
		fail_msg("format [%s]: %d %s", fmt, rc, err);
	return h;
}

static void test_header_formats(void **state)
{
	(void)state;
	sonde_loghdr *h = hdr("<Date> <Time> <Pid> <Level> <Component>: <Content>");
	split_is(h,
	         &(split_case){
	                 "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
	                 NULL, "INFO", "dfs.DataNode$PacketResponder", "PacketResponder 1 terminating"},
	         true);
	/* no match: the whole line is the message */
	split_is(h, &(split_case){"just a sentence", "", "", "", "just a sentence"}, false);
	sonde_loghdr_free(h);

	/* the optional group, present and absent; runs of spaces */
	h = hdr("<Month> <Date> <Time> <Level> <Component>([<PID>])?: <Content>");
	split_is(h,
	         &(split_case){"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown",
	                       "15:16:01", "combo", "sshd(pam_unix)", "check pass; user unknown"},
	         true);
	split_is(h,
	         &(split_case){"Jul  1 09:00:55 combo kernel: Linux version 2.6.5", "09:00:55", "combo",
	                       "kernel", "Linux version 2.6.5"},
	         true);
	sonde_loghdr_free(h);

	/* literal separators, with a backslash escape */
	h = hdr("<Time>\\|<Component>|<Pid>|<Content>");
	split_is(h,
	         &(split_case){"20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
	                       "20171223-22:15:29:606", NULL, "Step_LSC", "onStandStepChanged 3579"},
	         true);
	sonde_loghdr_free(h);
	h = hdr("<Date> <Time> <Level> [<Process>] <Component>: <Content>");
	split_is(h,
	         &(split_case){"2015-10-18 18:01:47,978 INFO [main] org.apache.App: Created app",
	                       "18:01:47,978", "INFO", "org.apache.App", "Created app"},
	         true);
	sonde_loghdr_free(h);

	/* bad formats */
	sonde_loghdr *bad = NULL;
	char err[128];
	assert_int_equal(sonde_loghdr_new("<Date> <Time>", &bad, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "Content"));
	assert_int_equal(sonde_loghdr_new("<Content> <Date>", &bad, err, sizeof(err)), -EINVAL);
	assert_int_equal(sonde_loghdr_new("(<Date> <Content>", &bad, err, sizeof(err)), -EINVAL);
	assert_int_equal(sonde_loghdr_new("<> <Content>", &bad, err, sizeof(err)), -EINVAL);
	assert_int_equal(sonde_loghdr_new("<Date <Content>", &bad, err, sizeof(err)), -EINVAL);
	assert_null(bad);
}

static void test_header_auto(void **state)
{
	(void)state;
	sonde_loghdr *h = hdr("auto");
	static const split_case cases[] = {
	        {"081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating",
	         "081109 203615", "INFO", "dfs.DataNode$PacketResponder", "PacketResponder 1 terminating"},
	        {"17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls to: yarn,curi",
	         "17/06/09 20:10:40", "INFO", "spark.SecurityManager", "Changing view acls to: yarn,curi"},
	        {"2015-10-18 18:01:47,978 WARN [main] org.apache.App: Created app", "2015-10-18 18:01:47,978",
	         "WARN", "org.apache.App", "Created app"},
	        {"Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown", "Jun 14 15:16:01",
	         "", "sshd(pam_unix)", "check pass; user unknown"},
	        {"2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack",
	         "2016-09-28 04:30:30", "Info", "CBS", "Loaded Servicing Stack"},
	        {"20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579", "20171223-22:15:29:606",
	         "", "Step_LSC", "onStandStepChanged 3579"},
	        {"- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 "
	         "RAS "
	         "KERNEL INFO instruction cache parity error corrected",
	         "1117838570", "INFO", "", "instruction cache parity error corrected"},
	        {"x.log 2017-05-16 00:00:00.008 25746 INFO nova.wsgi.server [req-1 - - -] 10.11.10.1 GET /v2",
	         "2017-05-16 00:00:00.008", "INFO", "nova.wsgi.server", "10.11.10.1 GET /v2"},
	        {"2024-05-01T12:00:00Z ERROR payment failed for order 7", "2024-05-01T12:00:00Z", "ERROR", "",
	         "payment failed for order 7"},
	        {"2024-05-01 12:00:00,123 - shop.cart - ERROR - cart 7 is empty", "2024-05-01 12:00:00,123",
	         "ERROR", "", "cart 7 is empty"},
	        {"2024/05/01 12:00:00 [error] 1234#0: *5 open() failed", "2024/05/01 12:00:00", "error", "",
	         "1234#0: *5 open() failed"},
	        /* no header at all: an error word inside a sentence is not a level */
	        {"connection error while reading", "", "", "", "connection error while reading"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		split_is(h, &cases[i], true);
	sonde_loghdr_free(h);
}

static void test_persistence(void **state)
{
	(void)state;
	sonde_logmine *a = new_miner(0);
	const char *lines[] = {
	        "Received block blk_1 of size 10 from /10.0.0.1",
	        "Received block blk_2 of size 20 from /10.0.0.2",
	        "Starting executor ID 3 on host node-a7",
	        "Starting executor ID 4 on host web-b9",
	        "Connected user=a1 db=main",
	        "Connected user=b22 db=main",
	        "shutdown requested",
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		add(a, lines[i]);
	sonde_logmine_refine(a);
	/* save: id, text, count */
	struct {
		uint64_t id, count;
		char text[128];
	} saved[16];
	size_t n = 0, cursor = 0;
	sonde_logmine_ref r;
	while (sonde_logmine_next(a, &cursor, &r)) {
		sonde_logmine_template t;
		assert_int_equal(sonde_logmine_get(a, r, &t), 0);
		saved[n].id = t.id;
		saved[n].count = t.count;
		snprintf(saved[n].text, sizeof(saved[n].text), "%.*s", (int)t.text_len, t.text);
		n++;
	}
	assert_int_equal(n, 4);
	/* reload into a fresh miner */
	sonde_logmine *b = new_miner(0);
	for (size_t i = 0; i < n; i++) {
		sonde_logmine_ref lr;
		assert_int_equal(
		        sonde_logmine_load(b, saved[i].text, strlen(saved[i].text), saved[i].count, &lr), 0);
		sonde_logmine_template t;
		assert_int_equal(sonde_logmine_get(b, lr, &t), 0);
		assert_true(t.id == saved[i].id);
		assert_int_equal(t.count, saved[i].count);
	}
	/* loading the same text again adds its count */
	assert_int_equal(sonde_logmine_load(b, saved[0].text, strlen(saved[0].text), 5, NULL), 0);
	assert_int_equal(sonde_logmine_count(b), 4);
	assert_int_equal(sonde_logmine_load(b, "   ", 3, 1, NULL), -EINVAL);
	/* later lines join the loaded templates, ids unchanged */
	const char *later[] = {"Starting executor ID 9 on host zz-1", "Connected user=c333 db=main",
	                       "Received block blk_3 of size 30 from /10.0.0.3"};
	for (size_t i = 0; i < 3; i++) {
		sonde_logmine_ref lr = add(b, later[i]);
		sonde_logmine_template t;
		assert_int_equal(sonde_logmine_get(b, lr, &t), 0);
		int found = 0;
		for (size_t k = 0; k < n; k++)
			found |= saved[k].id == t.id;
		if (!found)
			fail_msg("[%s] got a new template [%.*s]", later[i], (int)t.text_len, t.text);
	}
	assert_int_equal(sonde_logmine_count(b), 4);
	sonde_logmine_free(a);
	sonde_logmine_free(b);
}

static void test_null_free(void **state)
{
	(void)state;
	sonde_logmine_free(NULL);
	sonde_loghdr_free(NULL);
	sonde_logmine_config c;
	sonde_logmine_config_default(&c);
	c.max_templates = 0;
	sonde_logmine *m = NULL;
	assert_int_equal(sonde_logmine_new(&c, &m), -EINVAL);
	assert_null(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_masking),       cmocka_unit_test(test_routing_and_generalising),
	        cmocka_unit_test(test_refine_merges), cmocka_unit_test(test_resolve_final),
	        cmocka_unit_test(test_stable_ids),    cmocka_unit_test(test_lru_bound),
	        cmocka_unit_test(test_params),        cmocka_unit_test(test_header_formats),
	        cmocka_unit_test(test_header_auto),   cmocka_unit_test(test_persistence),
	        cmocka_unit_test(test_null_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
