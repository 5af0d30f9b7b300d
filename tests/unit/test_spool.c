// SPDX-License-Identifier: Apache-2.0
/* agent/spool.c: ordered batches, acks, restarts (clean and killed), torn tails, size bound. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "agent/spool.h"

static char dir[128];

static void rm_rf(const char *d)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/aitrail-test-spool-%d", getpid());
	rm_rf(dir);
	return 0;
}

static int teardown(void **state)
{
	rm_rf(dir);
	return 0;
}

static Aitrail__V1__AgentInfo agent_info = AITRAIL__V1__AGENT_INFO__INIT;

static void append(struct spool *s, uint64_t seq, size_t pad)
{
	Aitrail__V1__Event ev = AITRAIL__V1__EVENT__INIT;
	char host[2048];

	assert_true(pad < sizeof(host));
	memset(host, 'h', pad);
	host[pad] = '\0';
	ev.type = (char *)"exec";
	ev.seq = seq;
	ev.ts = seq * 1000;
	ev.host = host;
	assert_int_equal(spool_append(s, &ev), 0);
}

/* Unpacks a batch body and checks its hash; returns the message (caller frees). */
static Aitrail__V1__Batch *open_batch(const struct spool_batch *sb, const uint8_t *prev)
{
	ProtobufCMessage *m;
	Aitrail__V1__Batch *b;
	uint8_t h[WIRE_HASH_LEN];
	char err[128];

	assert_int_equal(wire_unpack(&aitrail__v1__batch__descriptor, sb->body, sb->body_len, 1,
				     NULL, &m, err, sizeof(err)), 0);
	b = (Aitrail__V1__Batch *)m;
	assert_int_equal(b->seq, sb->seq);
	assert_int_equal(b->n_events, sb->n_events);
	assert_int_equal(wire_batch_hash(b, h), 0);
	assert_int_equal(b->hash.len, WIRE_HASH_LEN);
	assert_memory_equal(h, b->hash.data, WIRE_HASH_LEN);
	if (prev) {
		assert_int_equal(b->prev_hash.len, WIRE_HASH_LEN);
		assert_memory_equal(prev, b->prev_hash.data, WIRE_HASH_LEN);
	}
	return b;
}

static int count_segments(void)
{
	char path[200];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/spool", dir);
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)))
		n += strstr(de->d_name, ".seg") != NULL;
	closedir(d);
	return n;
}

static void test_batches_in_order(void **state)
{
	const struct spool_batch *sb;
	struct spool_stats st;
	Aitrail__V1__Batch *b;
	struct spool *s;
	uint64_t next, want = 1;
	uint8_t prev[WIRE_HASH_LEN];
	int have_prev = 0;

	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	assert_int_equal(next, 1);
	assert_int_equal(spool_next_batch(s, &agent_info, 100, 1 << 20, &sb), -ENODATA);
	for (uint64_t i = 1; i <= 250; i++)
		append(s, i, 100);
	assert_true(spool_pending_since(s) > 0);
	for (int k = 0; k < 3; k++) {
		assert_int_equal(spool_next_batch(s, &agent_info, 100, 1 << 20, &sb), 0);
		assert_int_equal(sb->seq, k + 1);
		b = open_batch(sb, have_prev ? prev : NULL);
		assert_int_equal(b->n_events, k < 2 ? 100 : 50);
		for (size_t i = 0; i < b->n_events; i++)
			assert_int_equal(b->events[i]->seq, want++);
		memcpy(prev, b->hash.data, WIRE_HASH_LEN);
		have_prev = 1;
		wire_free(&b->base);
		/* unacknowledged: the same batch again */
		assert_int_equal(spool_next_batch(s, &agent_info, 100, 1 << 20, &sb), 0);
		assert_int_equal(sb->seq, k + 1);
		assert_int_equal(spool_ack(s, k + 1), 0);
	}
	assert_int_equal(want, 251);
	spool_get_stats(s, &st);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.pending_events, 0);
	assert_int_equal(st.acked_seq, 250);
	assert_int_equal(spool_next_batch(s, &agent_info, 100, 1 << 20, &sb), -ENODATA);
	/* a stale ack changes nothing */
	assert_int_equal(spool_ack(s, 2), -ESRCH);
	spool_close(s);
}

/* Buffered appends (the agent's mode): the same batches, in order, across segment rotations. */
static void test_buffered_appends(void **state)
{
	const struct spool_batch *sb;
	Aitrail__V1__Batch *b;
	struct spool *s;
	uint64_t next, want = 1;

	/* 64 KiB bound: 4 KiB segments, so a burst spans several */
	assert_int_equal(spool_open(&s, dir, 1 << 16, SPOOL_DROP_OLDEST, &next), 0);
	spool_buffer_appends(s);
	for (uint64_t i = 1; i <= 40; i++)
		append(s, i, 1000);
	assert_int_equal(spool_next_batch(s, &agent_info, 100, 1 << 20, &sb), 0);
	b = open_batch(sb, NULL);
	assert_int_equal(b->n_events, 40);
	for (size_t i = 0; i < b->n_events; i++)
		assert_int_equal(b->events[i]->seq, want++);
	wire_free(&b->base);
	assert_int_equal(spool_ack(s, 1), 0);
	for (uint64_t i = 41; i <= 45; i++)
		append(s, i, 100);
	assert_int_equal(spool_flush_appends(s), 0);
	spool_close(s);
	assert_int_equal(spool_open(&s, dir, 1 << 16, SPOOL_DROP_OLDEST, &next), 0);
	assert_int_equal(next, 46);
	assert_int_equal(spool_next_batch(s, &agent_info, 100, 1 << 20, &sb), 0);
	assert_int_equal(sb->n_events, 5);
	spool_close(s);
}

static void test_byte_bound(void **state)
{
	const struct spool_batch *sb;
	Aitrail__V1__Batch *b;
	struct spool *s;
	uint64_t next;

	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	for (uint64_t i = 1; i <= 20; i++)
		append(s, i, 1000);
	assert_int_equal(spool_next_batch(s, &agent_info, 1000, 4096, &sb), 0);
	b = open_batch(sb, NULL);
	assert_true(b->n_events >= 1 && b->n_events <= 4);
	wire_free(&b->base);
	spool_close(s);
}

static void test_acked_segments_deleted(void **state)
{
	const struct spool_batch *sb;
	struct spool_stats st;
	struct spool *s;
	uint64_t next, i;

	/* 64 KiB bound -> 4 KiB segments */
	assert_int_equal(spool_open(&s, dir, 1 << 16, SPOOL_DROP_OLDEST, &next), 0);
	for (i = 1; i <= 40; i++)
		append(s, i, 500);
	assert_true(count_segments() >= 4);
	while (spool_next_batch(s, &agent_info, 1000, 1 << 20, &sb) == 0)
		assert_int_equal(spool_ack(s, sb->seq), 0);
	spool_get_stats(s, &st);
	assert_int_equal(st.acked_seq, 40);
	assert_true(count_segments() <= 1);
	spool_close(s);
}

static void test_restart_resends_inflight(void **state)
{
	const struct spool_batch *sb;
	struct spool_stats st;
	Aitrail__V1__Batch *b;
	struct spool *s;
	uint64_t next, i;
	uint8_t *copy;
	size_t len;

	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	for (i = 1; i <= 30; i++)
		append(s, i, 50);
	assert_int_equal(spool_next_batch(s, &agent_info, 10, 1 << 20, &sb), 0);
	assert_int_equal(spool_ack(s, 1), 0);
	assert_int_equal(spool_next_batch(s, &agent_info, 10, 1 << 20, &sb), 0);
	assert_int_equal(sb->seq, 2);
	len = sb->body_len;
	copy = malloc(len);
	memcpy(copy, sb->body, len);
	spool_close(s);

	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	assert_int_equal(next, 31);
	assert_int_equal(spool_next_batch(s, &agent_info, 10, 1 << 20, &sb), 0);
	assert_int_equal(sb->seq, 2);
	assert_int_equal(sb->body_len, len);
	assert_memory_equal(sb->body, copy, len);
	assert_int_equal(sb->n_events, 10);
	spool_get_stats(s, &st);
	assert_int_equal(st.events, 20);
	assert_int_equal(spool_ack(s, 2), 0);
	spool_get_stats(s, &st);
	assert_int_equal(st.events, 10);
	assert_int_equal(spool_next_batch(s, &agent_info, 100, 1 << 20, &sb), 0);
	assert_int_equal(sb->seq, 3);
	b = open_batch(sb, NULL);
	assert_int_equal(b->n_events, 10);
	assert_int_equal(b->events[0]->seq, 21);
	wire_free(&b->base);
	free(copy);
	spool_close(s);
}

/* A child appends and is killed without closing: nothing spooled is lost, seq continues. */
static void test_killed_writer(void **state)
{
	const struct spool_batch *sb;
	Aitrail__V1__Batch *b;
	struct spool *s;
	uint64_t next, want = 1;
	int status;
	pid_t pid;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next))
			_exit(1);
		for (uint64_t i = 1; i <= 500; i++)
			append(s, i, 30);
		if (spool_next_batch(s, &agent_info, 100, 1 << 20, &sb) || spool_ack(s, 1))
			_exit(2);
		for (uint64_t i = 501; i <= 700; i++)
			append(s, i, 30);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	/* and a torn frame at the end, as if killed mid-write */
	{
		char path[600];
		struct dirent **names;
		int n, fd;

		snprintf(path, sizeof(path), "%s/spool", dir);
		n = scandir(path, &names, NULL, alphasort);
		assert_true(n > 0);
		for (fd = n - 1; fd >= 0 && !strstr(names[fd]->d_name, ".seg"); fd--)
			;
		assert_true(fd >= 0);
		snprintf(path, sizeof(path), "%s/spool/%s", dir, names[fd]->d_name);
		fd = open(path, O_WRONLY | O_APPEND);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "\x40\x00\x00\x00\x01\x02", 6), 6);
		close(fd);
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}

	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	assert_int_equal(next, 701);
	{
		struct spool_stats st;

		spool_get_stats(s, &st);
		assert_int_equal(st.corrupt_bytes, 6);
		assert_int_equal(st.events, 600);
		/* the killed run is counted: its unspooled events are lost, number unknown */
		assert_int_equal(st.unclean_stops, 1);
	}
	want = 101;
	while (spool_next_batch(s, &agent_info, 64, 1 << 20, &sb) == 0) {
		b = open_batch(sb, NULL);
		for (size_t i = 0; i < b->n_events; i++)
			assert_int_equal(b->events[i]->seq, want++);
		assert_int_equal(b->n_gaps, 0);
		assert_int_equal(spool_ack(s, sb->seq), 0);
		wire_free(&b->base);
	}
	assert_int_equal(want, 701);
	/* new events continue the numbering after the restart */
	append(s, next, 30);
	assert_int_equal(spool_next_batch(s, &agent_info, 64, 1 << 20, &sb), 0);
	b = open_batch(sb, NULL);
	assert_int_equal(b->events[0]->seq, 701);
	wire_free(&b->base);
	spool_close(s);
	/* a clean stop adds nothing; the count stays */
	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	{
		struct spool_stats st;

		spool_get_stats(s, &st);
		assert_int_equal(st.unclean_stops, 1);
	}
	spool_close(s);
}

/* Collects everything a spool would deliver: events seen and events reported lost. */
static void drain(struct spool *s, uint64_t *events, uint64_t *gap_events, uint64_t *seen_max,
		  const char *reason)
{
	const struct spool_batch *sb;
	Aitrail__V1__Batch *b;
	uint64_t last = 0;

	while (spool_next_batch(s, &agent_info, 1000, 1 << 20, &sb) == 0) {
		b = open_batch(sb, NULL);
		for (size_t i = 0; i < b->n_events; i++) {
			assert_true(b->events[i]->seq > last);
			last = b->events[i]->seq;
			(*events)++;
		}
		for (size_t i = 0; i < b->n_gaps; i++) {
			assert_string_equal(b->gaps[i]->reason, reason);
			assert_true(b->gaps[i]->from_seq <= b->gaps[i]->to_seq);
			assert_true(b->gaps[i]->events <= b->gaps[i]->to_seq - b->gaps[i]->from_seq + 1);
			*gap_events += b->gaps[i]->events;
		}
		assert_int_equal(spool_ack(s, sb->seq), 0);
		wire_free(&b->base);
	}
	*seen_max = last;
}

static void test_full_drop_oldest(void **state)
{
	struct spool_stats st;
	struct spool *s;
	uint64_t next, ev = 0, gap = 0, last;

	assert_int_equal(spool_open(&s, dir, 1 << 16, SPOOL_DROP_OLDEST, &next), 0);
	for (uint64_t i = 1; i <= 2000; i++)
		append(s, i, 200);
	spool_get_stats(s, &st);
	assert_true(st.bytes <= 1 << 16);
	assert_true(st.dropped > 0);
	/* survives a restart before anything was sent */
	spool_close(s);
	assert_int_equal(spool_open(&s, dir, 1 << 16, SPOOL_DROP_OLDEST, &next), 0);
	assert_int_equal(next, 2001);
	drain(s, &ev, &gap, &last, "spool_full_drop_oldest");
	assert_int_equal(last, 2000); /* the newest are kept */
	assert_int_equal(ev + gap, 2000);
	spool_close(s);
}

static void test_full_drop_newest(void **state)
{
	struct spool *s;
	uint64_t next, ev = 0, gap = 0, last;

	assert_int_equal(spool_open(&s, dir, 1 << 16, SPOOL_DROP_NEWEST, &next), 0);
	for (uint64_t i = 1; i <= 2000; i++)
		append(s, i, 200);
	drain(s, &ev, &gap, &last, "spool_full_drop_newest");
	assert_true(last < 2000); /* the oldest are kept */
	assert_int_equal(ev, last);
	assert_int_equal(ev + gap, 2000);
	/* after draining there is room again */
	append(s, 2001, 200);
	drain(s, &ev, &gap, &last, "-");
	assert_int_equal(last, 2001);
	spool_close(s);
}

/* A new agent identity: batch numbering and the chain restart, nothing unacked is lost. */
static void test_new_chain(void **state)
{
	const struct spool_batch *sb;
	Aitrail__V1__Batch *b;
	struct spool_stats st;
	struct spool *s;
	uint64_t next, want = 11;

	assert_int_equal(spool_open(&s, dir, 1 << 16, SPOOL_DROP_NEWEST, &next), 0);
	for (uint64_t i = 1; i <= 30; i++)
		append(s, i, 50);
	assert_int_equal(spool_next_batch(s, &agent_info, 10, 1 << 20, &sb), 0);
	assert_int_equal(spool_ack(s, 1), 0);
	assert_int_equal(spool_next_batch(s, &agent_info, 10, 1 << 20, &sb), 0);
	assert_int_equal(sb->seq, 2);
	/* overflow while batch 2 is in flight: a gap waits for the next batch */
	for (uint64_t i = 31; i <= 2000; i++)
		append(s, i, 50);
	spool_get_stats(s, &st);
	assert_true(st.dropped > 0);
	assert_int_equal(spool_new_chain(s), 0);
	spool_close(s);
	/* and it survives a restart */
	assert_int_equal(spool_open(&s, dir, 1 << 16, SPOOL_DROP_NEWEST, &next), 0);
	assert_int_equal(spool_next_batch(s, &agent_info, 100000, 1 << 20, &sb), 0);
	assert_int_equal(sb->seq, 1);
	b = open_batch(sb, NULL);
	assert_int_equal(b->prev_hash.len, 0);
	assert_int_equal(b->events[0]->seq, 11);
	for (size_t i = 0; i < b->n_events; i++)
		assert_int_equal(b->events[i]->seq, want++);
	assert_int_equal(b->n_gaps, 1);
	assert_int_equal(b->gaps[0]->from_seq, want);
	assert_int_equal(b->gaps[0]->to_seq, 2000);
	assert_int_equal(b->gaps[0]->events, 2000 - want + 1);
	wire_free(&b->base);
	assert_int_equal(spool_ack(s, 1), 0);
	spool_get_stats(s, &st);
	assert_int_equal(st.events, 0);
	assert_int_equal(st.next_batch_seq, 2);
	spool_close(s);
}

static void test_one_agent_per_spool(void **state)
{
	struct spool *s, *t;
	uint64_t next;

	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	assert_int_equal(spool_open(&t, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), -EBUSY);
	spool_close(s);
	assert_int_equal(spool_open(&t, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	spool_close(t);
}

static void test_damaged_state(void **state)
{
	char path[200];
	struct spool *s;
	uint64_t next;
	FILE *f;

	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), 0);
	append(s, 1, 10);
	spool_close(s);
	snprintf(path, sizeof(path), "%s/spool/state", dir);
	f = fopen(path, "a");
	fputs("next_seq banana\n", f);
	fclose(f);
	assert_int_equal(spool_open(&s, dir, 1 << 20, SPOOL_DROP_OLDEST, &next), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batches_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_byte_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_acked_segments_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_resends_inflight, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffered_appends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_drop_oldest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_drop_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_agent_per_spool, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_state, setup, teardown),
	};

	log_init("test", LOG_LVL_ERROR + 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
