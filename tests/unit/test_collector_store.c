// SPDX-License-Identifier: Apache-2.0
/* collector/store_sqlite.c on a temporary SQLite file: insert, dedup, chain, gaps, queries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "coll_batch.h"
#include "common/log.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_sqlite.h"

#define T0 1764300000000000000ULL /* 2025-11-28T03:20:00Z */
#define SEC 1000000000ULL

struct fx {
	char dir[64], path[128];
	struct store *st;
	struct tb t;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	log_init("test", LOG_LVL_ERROR);
	snprintf(f->dir, sizeof(f->dir), "/tmp/aitrail-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/c.db", f->dir);
	assert_int_equal(store_open(f->path, &f->st), 0);
	assert_int_equal(store_agent_add(f->st, "ag-1", "hash1", NULL, T0), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];

	store_close(f->st);
	tb_free(&f->t);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd))
		return -1;
	free(f);
	return 0;
}

/* Hands a Batch to the store the way collector/ingest.c does. */
static int put(struct fx *f, Aitrail__V1__Batch *b, struct store_put_result *res)
{
	struct store_batch sb = { 0 };
	const uint8_t **ptr = tb_alloc(&f->t, (b->n_events + 1) * sizeof(*ptr));
	size_t *plen = tb_alloc(&f->t, (b->n_events + 1) * sizeof(*plen));
	uint8_t md[WIRE_HASH_LEN];

	for (size_t i = 0; i < b->n_events; i++) {
		uint8_t *buf;

		plen[i] = aitrail__v1__event__get_packed_size(b->events[i]);
		buf = tb_alloc(&f->t, plen[i] + 1);
		aitrail__v1__event__pack(b->events[i], buf);
		ptr[i] = buf;
	}
	wire_batch_hash(b, md);
	sb.agent_id = "ag-1";
	sb.boot_id = b->agent->boot_id;
	sb.seq = b->seq;
	sb.prev_hash = b->prev_hash.data;
	sb.prev_hash_len = b->prev_hash.len;
	memcpy(sb.hash, b->hash.data, WIRE_HASH_LEN);
	sb.hash_ok = !memcmp(md, b->hash.data, WIRE_HASH_LEN);
	sb.n_events = b->n_events;
	sb.events = b->events;
	sb.packed = ptr;
	sb.packed_len = plen;
	sb.n_gaps = b->n_gaps;
	sb.gaps = b->gaps;
	sb.received_ns = T0 + 100 * SEC;
	return store_put_batch(f->st, &sb, res);
}

/* A session of claude (pid 100): bash (101) runs curl (102) which connects; bash writes. */
static Aitrail__V1__Batch *session_batch(struct fx *f, const char *sid, uint64_t seq,
					 const uint8_t *prev, uint64_t t)
{
	static const char *const claude_argv[] = { "claude", "--print", NULL };
	static const char *const bash_argv[] = { "bash", "-c", "curl example.com", NULL };
	static const char *const curl_argv[] = { "curl", "example.com", NULL };
	struct tb *tb = &f->t;
	Aitrail__V1__Event *ev[8];
	uint64_t s0 = (seq - 1) * 8 + 1;

	ev[0] = tb_event(tb, "session_start", t, sid, "claude", 100, 1, "claude", s0);
	tb_session_start(tb, ev[0], "/home/alice/proj", claude_argv);
	ev[1] = tb_event(tb, "exec", t + 1 * SEC, sid, "claude", 101, 100, "bash", s0 + 1);
	tb_exec(tb, ev[1], "/usr/bin/bash", bash_argv);
	ev[2] = tb_event(tb, "exec", t + 2 * SEC, sid, "claude", 102, 101, "curl", s0 + 2);
	tb_exec(tb, ev[2], "/usr/bin/curl", curl_argv);
	ev[3] = tb_event(tb, "net_connect", t + 3 * SEC, sid, "claude", 102, 101, "curl", s0 + 3);
	tb_connect(tb, ev[3], "93.184.216.34", 443, 0);
	ev[4] = tb_event(tb, "exit", t + 4 * SEC, sid, "claude", 102, 101, "curl", s0 + 4);
	tb_exit(tb, ev[4], 0);
	ev[5] = tb_event(tb, "file_write", t + 5 * SEC, sid, "claude", 101, 100, "bash", s0 + 5);
	tb_file(tb, ev[5], "/home/alice/proj/out.txt");
	ev[6] = tb_event(tb, "exit", t + 6 * SEC, sid, "claude", 101, 100, "bash", s0 + 6);
	tb_exit(tb, ev[6], 0);
	ev[7] = tb_event(tb, "session_end", t + 7 * SEC, sid, "claude", 100, 1, "claude", s0 + 7);
	tb_session_end(tb, ev[7], 0);
	return tb_batch(tb, "ag-1", "boot-a", seq, prev, ev, 8);
}

static json_object *get(json_object *o, const char *path)
{
	char buf[256], *save, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && o; tok = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, atoi(tok));
		else
			o = json_object_object_get(o, tok);
	}
	return o;
}

static int64_t geti(json_object *o, const char *path)
{
	json_object *v = get(o, path);

	assert_non_null(v);
	return json_object_get_int64(v);
}

static const char *gets_(json_object *o, const char *path)
{
	json_object *v = get(o, path);

	assert_non_null(v);
	return json_object_get_string(v);
}

static size_t count_events(struct fx *f, const char *sid, const char *type)
{
	struct event_filter ef = { .session_id = sid, .type = type };
	json_object *o;
	size_t n;
	int rc = store_query_events(f->st, &ef, &o);

	if (rc == -ENOENT)
		return 0; /* not even the session is known */
	assert_int_equal(rc, 0);
	n = json_object_array_length(get(o, "events"));
	json_object_put(o);
	return n;
}

static json_object *agent0(struct fx *f)
{
	json_object *o;

	assert_int_equal(store_query_agents(f->st, T0 + 100 * SEC, 3, 30, &o), 0);
	return o;
}

static void test_agents_keys(void **state)
{
	struct fx *f = *state;
	struct store_agent a;

	assert_int_equal(store_agent_by_key(f->st, "hash1", &a), 0);
	assert_string_equal(a.id, "ag-1");
	assert_int_equal(a.revoked, 0);
	assert_int_equal(store_agent_by_key(f->st, "nope", &a), -ENOENT);
	assert_int_equal(store_agent_revoke(f->st, "ag-1", T0), 0);
	assert_int_equal(store_agent_by_key(f->st, "hash1", &a), 0);
	assert_int_equal(a.revoked, 1);
	assert_int_equal(store_agent_revoke(f->st, "ag-nope", T0), -ENOENT);
}

static void test_insert_and_dedup(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	Aitrail__V1__Batch *b = session_batch(f, "s-1", 1, NULL, T0);
	json_object *o;

	assert_int_equal(put(f, b, &r), 0);
	assert_int_equal(r.status, STORE_STORED);
	assert_int_equal(r.stored, 8);
	assert_string_equal(r.chain_break, "");
	/* at-least-once delivery: the same batch again is acknowledged, not stored twice */
	assert_int_equal(put(f, b, &r), 0);
	assert_int_equal(r.status, STORE_DUPLICATE);
	assert_int_equal(r.stored, 0);
	assert_int_equal(count_events(f, "s-1", NULL), 8);
	assert_int_equal(count_events(f, "s-1", "exec"), 2);
	assert_int_equal(count_events(f, "s-1", "file"), 1);

	o = agent0(f);
	assert_int_equal(geti(o, "agents.0.batches_received"), 1);
	assert_int_equal(json_object_array_length(get(o, "agents.0.chain_breaks")), 0);
	assert_int_equal(json_object_array_length(get(o, "agents.0.batches_missing")), 0);
	json_object_put(o);
}

static void test_chain_and_missing(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	Aitrail__V1__Batch *b1 = session_batch(f, "s-1", 1, NULL, T0), *b2, *b3, *b4, *bad;
	uint8_t wrong[WIRE_HASH_LEN];
	json_object *o;

	assert_int_equal(put(f, b1, &r), 0);
	b2 = session_batch(f, "s-2", 2, b1->hash.data, T0 + 10 * SEC);
	b3 = session_batch(f, "s-3", 3, b2->hash.data, T0 + 20 * SEC);
	memset(wrong, 0xab, sizeof(wrong));
	b4 = session_batch(f, "s-4", 4, b3->hash.data, T0 + 30 * SEC);
	/* batch 2 never arrives; 3 chains to it, so nothing can be said about 3's link yet */
	assert_int_equal(put(f, b3, &r), 0);
	assert_string_equal(r.chain_break, "");
	/* batch 5 claims a previous hash that batch 4 does not have */
	bad = session_batch(f, "s-5", 5, wrong, T0 + 40 * SEC);
	assert_int_equal(put(f, b4, &r), 0);
	assert_int_equal(put(f, bad, &r), 0);
	assert_int_equal(r.status, STORE_STORED); /* stored, flagged: nothing is lost */
	assert_string_equal(r.chain_break, "prev_mismatch");
	/* batch 6 whose content does not match its hash */
	bad = session_batch(f, "s-6", 6, bad->hash.data, T0 + 50 * SEC);
	bad->events[0]->ts += 1;
	assert_int_equal(put(f, bad, &r), 0);
	assert_string_equal(r.chain_break, "hash_mismatch");
	/* a replay of batch 1 with other content: history rewritten */
	b1 = session_batch(f, "s-1x", 1, NULL, T0 + 60 * SEC);
	assert_int_equal(put(f, b1, &r), 0);
	assert_int_equal(r.status, STORE_DUPLICATE);
	assert_string_equal(r.chain_break, "replay_mismatch");
	assert_int_equal(count_events(f, "s-1x", NULL), 0);

	o = agent0(f);
	assert_int_equal(json_object_array_length(get(o, "agents.0.batches_missing")), 1);
	assert_int_equal(geti(o, "agents.0.batches_missing.0.from_seq"), 2);
	assert_int_equal(geti(o, "agents.0.batches_missing.0.to_seq"), 2);
	assert_int_equal(json_object_array_length(get(o, "agents.0.chain_breaks")), 3);
	assert_int_equal(geti(o, "agents.0.chain_breaks.0.seq"), 1);
	assert_string_equal(gets_(o, "agents.0.chain_breaks.0.kind"), "replay_mismatch");
	assert_string_equal(gets_(o, "agents.0.chain_breaks.1.kind"), "prev_mismatch");
	assert_int_equal(geti(o, "agents.0.chain_breaks.1.seq"), 5);
	assert_string_equal(gets_(o, "agents.0.chain_breaks.2.kind"), "hash_mismatch");
	json_object_put(o);

	/* batch 2 arrives late and fits both neighbours: no new break, no hole */
	assert_int_equal(put(f, b2, &r), 0);
	assert_string_equal(r.chain_break, "");
	o = agent0(f);
	assert_int_equal(json_object_array_length(get(o, "agents.0.batches_missing")), 0);
	assert_int_equal(json_object_array_length(get(o, "agents.0.chain_breaks")), 3);
	json_object_put(o);
}

static void test_gaps_and_heartbeat(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	Aitrail__V1__Batch *b = session_batch(f, "s-1", 1, NULL, T0);
	Aitrail__V1__Heartbeat hb = AITRAIL__V1__HEARTBEAT__INIT;
	Aitrail__V1__AgentStats stats = AITRAIL__V1__AGENT_STATS__INIT;
	Aitrail__V1__LossCounters lost = AITRAIL__V1__LOSS_COUNTERS__INIT;
	Aitrail__V1__Gap *gaps[1];
	json_object *o;

	gaps[0] = tb_gap(&f->t, 9, 20, "spool_full_drop_oldest");
	b->gaps = gaps;
	b->n_gaps = 1;
	assert_int_equal(put(f, b, &r), 0);
	o = agent0(f);
	/* no heartbeat yet and last seen at the batch: not silent at T0+100s with 30s x 3 */
	assert_false(json_object_get_boolean(get(o, "agents.0.silent")));
	assert_int_equal(geti(o, "agents.0.gaps.0.from_seq"), 9);
	assert_int_equal(geti(o, "agents.0.gaps.0.to_seq"), 20);
	assert_int_equal(geti(o, "agents.0.events_declared_lost"), 12);
	assert_string_equal(gets_(o, "agents.0.gaps.0.reason"), "spool_full_drop_oldest");
	json_object_put(o);

	lost.rb_core_full = 7;
	stats.lost = &lost;
	stats.events_emitted = 1234;
	hb.stats = &stats;
	hb.interval_s = 10;
	hb.last_batch_seq = 4;
	assert_int_equal(store_heartbeat(f->st, "ag-1", &hb, T0 + 50 * SEC), 0);
	o = agent0(f);
	assert_int_equal(geti(o, "agents.0.stats.lost.rb_core_full"), 7);
	assert_int_equal(geti(o, "agents.0.stats.events_emitted"), 1234);
	assert_int_equal(geti(o, "agents.0.batches_pending.from_seq"), 2);
	assert_int_equal(geti(o, "agents.0.batches_pending.to_seq"), 4);
	/* 50 s without news at a 10 s interval: silent after 3 intervals */
	assert_true(json_object_get_boolean(get(o, "agents.0.silent")));
	json_object_put(o);
}

static void test_sessions_query(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	Aitrail__V1__Batch *b1 = session_batch(f, "s-1", 1, NULL, T0);
	Aitrail__V1__Batch *b2 = session_batch(f, "s-2", 2, b1->hash.data, T0 + 3600 * SEC);
	struct session_filter sf = { 0 };
	json_object *o;

	b2->events[0]->session->tool = (char *)"codex";
	for (size_t i = 0; i < b2->n_events; i++)
		b2->events[i]->session->tool = (char *)"codex";
	wire_batch_hash(b2, b2->hash.data);
	assert_int_equal(put(f, b1, &r), 0);
	assert_int_equal(put(f, b2, &r), 0);

	assert_int_equal(store_query_sessions(f->st, &sf, &o), 0);
	assert_int_equal(json_object_array_length(get(o, "sessions")), 2);
	assert_string_equal(gets_(o, "sessions.0.id"), "s-2"); /* newest first */
	assert_string_equal(gets_(o, "sessions.1.user"), "alice");
	assert_string_equal(gets_(o, "sessions.1.cwd"), "/home/alice/proj");
	assert_string_equal(gets_(o, "sessions.1.argv.1"), "--print");
	assert_int_equal(geti(o, "sessions.1.events"), 8);
	assert_int_equal(geti(o, "sessions.1.start_ns"), T0);
	assert_int_equal(geti(o, "sessions.1.end_ns"), T0 + 7 * SEC);
	assert_int_equal(geti(o, "sessions.1.exit_code"), 0);
	json_object_put(o);

	sf.tool = "codex";
	assert_int_equal(store_query_sessions(f->st, &sf, &o), 0);
	assert_int_equal(json_object_array_length(get(o, "sessions")), 1);
	assert_string_equal(gets_(o, "sessions.0.id"), "s-2");
	json_object_put(o);

	sf.tool = NULL;
	sf.until_ns = T0 + 60 * SEC;
	assert_int_equal(store_query_sessions(f->st, &sf, &o), 0);
	assert_int_equal(json_object_array_length(get(o, "sessions")), 1);
	assert_string_equal(gets_(o, "sessions.0.id"), "s-1");
	json_object_put(o);

	sf.until_ns = 0;
	sf.since_ns = T0 + 60 * SEC;
	sf.user = "alice";
	sf.host = "devbox1";
	assert_int_equal(store_query_sessions(f->st, &sf, &o), 0);
	assert_int_equal(json_object_array_length(get(o, "sessions")), 1);
	assert_string_equal(gets_(o, "sessions.0.id"), "s-2");
	json_object_put(o);

	sf.host = "elsewhere";
	assert_int_equal(store_query_sessions(f->st, &sf, &o), 0);
	assert_int_equal(json_object_array_length(get(o, "sessions")), 0);
	json_object_put(o);
}

static void test_events_filters(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	struct event_filter ef = { .session_id = "s-1" };
	json_object *o;

	assert_int_equal(put(f, session_batch(f, "s-1", 1, NULL, T0), &r), 0);
	ef.since_ns = T0 + 2 * SEC;
	ef.until_ns = T0 + 5 * SEC;
	assert_int_equal(store_query_events(f->st, &ef, &o), 0);
	assert_int_equal(json_object_array_length(get(o, "events")), 4);
	assert_string_equal(gets_(o, "events.0.type"), "exec");
	assert_string_equal(gets_(o, "events.0.detail"), "curl example.com");
	assert_string_equal(gets_(o, "events.1.detail"), "tcp 93.184.216.34:443");
	assert_string_equal(gets_(o, "events.0.ts"), "2025-11-28T03:20:02.000000000Z");
	/* the whole event as the agent renders it: argv as an array, errno names, RFC 3339 */
	assert_string_equal(gets_(o, "events.0.event.argv.1"), "example.com");
	assert_string_equal(gets_(o, "events.0.event.ts"), "2025-11-28T03:20:02.000000000Z");
	assert_string_equal(gets_(o, "events.0.event.session.id"), "s-1");
	assert_int_equal(geti(o, "events.1.event.dport"), 443);
	json_object_put(o);
	ef.since_ns = ef.until_ns = 0;
	ef.limit = 3;
	assert_int_equal(store_query_events(f->st, &ef, &o), 0);
	assert_int_equal(json_object_array_length(get(o, "events")), 3);
	json_object_put(o);
	ef.session_id = "s-unknown";
	assert_int_equal(store_query_events(f->st, &ef, &o), -ENOENT);
}

static void test_timeline(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	json_object *o, *curl;

	assert_int_equal(put(f, session_batch(f, "s-1", 1, NULL, T0), &r), 0);
	assert_int_equal(store_query_timeline(f->st, "s-1", &o), 0);
	assert_int_equal(geti(o, "events"), 8);
	assert_string_equal(gets_(o, "session.tool"), "claude");
	assert_int_equal(geti(o, "session.end_ns"), T0 + 7 * SEC);
	assert_false(json_object_get_boolean(get(o, "truncated")));
	/* claude(100) -> bash(101) -> curl(102) */
	assert_int_equal(json_object_array_length(get(o, "processes")), 1);
	assert_int_equal(geti(o, "processes.0.pid"), 100);
	assert_int_equal(geti(o, "processes.0.children.0.pid"), 101);
	assert_string_equal(gets_(o, "processes.0.children.0.exe"), "/usr/bin/bash");
	curl = get(o, "processes.0.children.0.children.0");
	assert_non_null(curl);
	assert_int_equal(geti(curl, "pid"), 102);
	assert_string_equal(gets_(curl, "activity.0.type"), "exec");
	assert_string_equal(gets_(curl, "activity.1.type"), "net_connect");
	assert_string_equal(gets_(curl, "activity.2.type"), "exit");
	/* bash: its exec, then its write after curl ended, then its exit */
	assert_string_equal(gets_(o, "processes.0.children.0.activity.1.type"), "file_write");
	assert_string_equal(gets_(o, "processes.0.children.0.activity.1.detail"),
			    "/home/alice/proj/out.txt");
	json_object_put(o);
	assert_int_equal(store_query_timeline(f->st, "s-unknown", &o), -ENOENT);
}

/* A batch is one transaction: a failure half way stores none of it, and a resend succeeds. */
static void test_batch_atomic(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	Aitrail__V1__Batch *b = session_batch(f, "s-1", 1, NULL, T0);
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER fail_exit BEFORE INSERT ON events WHEN "
				      "NEW.type = 'exit' BEGIN SELECT RAISE(ABORT, 'injected'); "
				      "END;", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(put(f, b, &r), -EIO);
	assert_int_equal(count_events(f, "s-1", NULL), 0);
	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER fail_exit", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(put(f, b, &r), 0);
	assert_int_equal(r.status, STORE_STORED);
	assert_int_equal(count_events(f, "s-1", NULL), 8);
}

static void test_reopen_keeps_data(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	Aitrail__V1__Batch *b = session_batch(f, "s-1", 1, NULL, T0);

	assert_int_equal(put(f, b, &r), 0);
	store_close(f->st);
	assert_int_equal(store_open(f->path, &f->st), 0);
	assert_int_equal(put(f, b, &r), 0);
	assert_int_equal(r.status, STORE_DUPLICATE);
	assert_int_equal(count_events(f, "s-1", NULL), 8);
	/* a postgres:// spec goes to the PostgreSQL backend: no server here, so it fails to open */
	assert_int_equal(store_open("postgres:///aitrail?host=/nonexistent-aitrail-dir",
				    &(struct store *){ NULL }), -EIO);
}

static void test_policy_groups(void **state)
{
	struct fx *f = *state;
	struct store_policy p;
	sqlite3 *db;

	/* a database from before host groups: policy_versions without the grp column */
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE IF EXISTS policy_versions;"
				      "CREATE TABLE policy_versions (id INTEGER PRIMARY KEY,"
				      " name TEXT NOT NULL, yaml TEXT NOT NULL, etag TEXT NOT NULL,"
				      " pushed_ns INTEGER NOT NULL);"
				      "INSERT INTO policy_versions (name, yaml, etag, pushed_ns)"
				      " VALUES ('old.yaml', 'version: 1\n', '\"e0\"', 1);",
				      NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->path, &f->st), 0);
	/* the old policy is the fleet's */
	assert_int_equal(store_policy_get(f->st, "", &p), 0);
	assert_string_equal(p.name, "old.yaml");
	store_policy_release(&p);
	assert_int_equal(store_policy_get(f->st, "ci", &p), -ENOENT);
	assert_int_equal(store_policy_remove(f->st, "ci", T0), -ENOENT);
	assert_int_equal(store_policy_put(f->st, "ci", "ci.yaml", "version: 1\n#ci\n", 15,
					  "\"e1\"", T0), 0);
	assert_int_equal(store_policy_get(f->st, "ci", &p), 0);
	assert_string_equal(p.etag, "\"e1\"");
	assert_int_equal(p.len, 15);
	store_policy_release(&p);
	assert_int_equal(store_policy_remove(f->st, "ci", T0 + SEC), 0);
	assert_int_equal(store_policy_get(f->st, "ci", &p), -ENOENT);
	assert_int_equal(store_policy_remove(f->st, "", T0), -EINVAL);
	assert_int_equal(store_policy_put(f->st, "", "empty.yaml", "", 0, "\"e2\"", T0), -EINVAL);
}

static void test_prune(void **state)
{
	struct fx *f = *state;
	struct store_put_result r;
	Aitrail__V1__Batch *b1 = session_batch(f, "s-old", 1, NULL, T0);
	Aitrail__V1__Batch *b2 = session_batch(f, "s-new", 2, b1->hash.data, T0 + 86400 * SEC);
	struct session_filter sf = { 0 };
	uint64_t n;
	json_object *o;

	assert_int_equal(put(f, b1, &r), 0);
	assert_int_equal(put(f, b2, &r), 0);
	/* chunks of 5: the first call stops at the chunk, the second finishes */
	assert_int_equal(store_prune(f->st, T0 + 3600 * SEC, 5, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(store_prune(f->st, T0 + 3600 * SEC, 5, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(count_events(f, "s-old", NULL), 0);
	assert_int_equal(count_events(f, "s-new", NULL), 8);
	assert_int_equal(store_query_sessions(f->st, &sf, &o), 0);
	assert_int_equal(json_object_array_length(get(o, "sessions")), 1);
	json_object_put(o);
	/* a late resend of the pruned batch is still a duplicate, not stored again */
	assert_int_equal(put(f, b1, &r), 0);
	assert_int_equal(r.status, STORE_DUPLICATE);
	assert_int_equal(count_events(f, "s-old", NULL), 0);
}

static int synchronous(struct store *st)
{
	sqlite3_stmt *s;
	int v;

	assert_int_equal(sqlite3_prepare_v2(sqlite_of(st)->db, "PRAGMA synchronous", -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

static void test_durable(void **state)
{
	struct fx *f = *state;

	assert_int_equal(synchronous(f->st), 1); /* NORMAL */
	assert_int_equal(store_set_durable(f->st, 1), 0);
	assert_int_equal(synchronous(f->st), 2); /* FULL */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_agents_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_and_dedup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_and_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gaps_and_heartbeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_atomic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_keeps_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_groups, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
