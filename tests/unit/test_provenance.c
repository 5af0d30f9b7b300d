// SPDX-License-Identifier: Apache-2.0
/* The provenance ledger: file_write events stored at ingest, looked up by content digest. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "coll_batch.h"
#include "common/log.h"
#include "collector/store.h"

#define T0 1764300000000000000ULL
#define SEC 1000000000ULL

#define H_A "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define H_B "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7"
#define H_NONE "0000000000000000000000000000000000000000000000000000000000000000"

struct fx {
	char dir[64], path[128];
	struct store *st;
	struct tb t;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	log_init("test", LOG_LVL_ERROR);
	snprintf(f->dir, sizeof(f->dir), "/tmp/aitrail-prov-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/db.sqlite", f->dir);
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

static int put(struct fx *f, Aitrail__V1__Batch *b)
{
	struct store_batch sb = { 0 };
	struct store_put_result res;
	const uint8_t **ptr = tb_alloc(&f->t, (b->n_events + 1) * sizeof(*ptr));
	size_t *plen = tb_alloc(&f->t, (b->n_events + 1) * sizeof(*plen));

	for (size_t i = 0; i < b->n_events; i++) {
		uint8_t *buf;

		plen[i] = aitrail__v1__event__get_packed_size(b->events[i]);
		buf = tb_alloc(&f->t, plen[i] + 1);
		aitrail__v1__event__pack(b->events[i], buf);
		ptr[i] = buf;
	}
	sb.agent_id = "ag-1";
	sb.boot_id = b->agent->boot_id;
	sb.seq = b->seq;
	sb.prev_hash = b->prev_hash.data;
	sb.prev_hash_len = b->prev_hash.len;
	memcpy(sb.hash, b->hash.data, WIRE_HASH_LEN);
	sb.hash_ok = 1;
	sb.n_events = b->n_events;
	sb.events = b->events;
	sb.packed = ptr;
	sb.packed_len = plen;
	sb.received_ns = T0 + 100 * SEC;
	return store_put_batch(f->st, &sb, &res);
}

static Aitrail__V1__Event *write_ev(struct fx *f, const char *sid, const char *path,
				    const char *sha, const char *from, uint64_t ts, uint64_t seq)
{
	Aitrail__V1__Event *ev = tb_event(&f->t, "file_write", ts, sid, "claude", 101, 100,
					  "claude", seq);
	Aitrail__V1__FileWrite *w = tb_alloc(&f->t, sizeof(*w));

	aitrail__v1__file_write__init(w);
	w->path = (char *)path;
	w->sha256 = (char *)sha;
	w->size = 5;
	if (from)
		w->renamed_from = (char *)from;
	if (!sha[0])
		w->not_hashed = (char *)"too_large";
	ev->body_case = AITRAIL__V1__EVENT__BODY_FILE_WRITE;
	ev->file_write = w;
	return ev;
}

static json_object *matches_of(json_object *o, size_t i)
{
	json_object *r = json_object_array_get_idx(json_object_object_get(o, "results"), i);

	return json_object_object_get(r, "matches");
}

static const char *mstr(json_object *m, size_t i, const char *k)
{
	return json_object_get_string(json_object_object_get(json_object_array_get_idx(m, i), k));
}

static void test_ledger(void **state)
{
	struct fx *f = *state;
	Aitrail__V1__Event *evs[4];
	const char *q[3] = { H_A, H_NONE, H_B };
	json_object *o, *m;

	evs[0] = write_ev(f, "s-1", "/src/app/main.py", H_A, NULL, T0 + SEC, 1);
	evs[1] = write_ev(f, "s-1", "/src/app/util.py", H_B, "/src/app/util.py.tmp.9", T0 + 2 * SEC,
			  2);
	evs[2] = write_ev(f, "s-2", "/src/other/copy.py", H_A, NULL, T0 + 3 * SEC, 3);
	evs[3] = write_ev(f, "s-2", "/src/big.bin", "", NULL, T0 + 4 * SEC, 4);
	assert_int_equal(put(f, tb_batch(&f->t, "ag-1", "boot-1", 1, NULL, evs, 4)), 0);

	assert_int_equal(store_query_provenance(f->st, q, 3, &o), 0);
	m = matches_of(o, 0);
	assert_int_equal(json_object_array_length(m), 2); /* same content, two sessions */
	assert_string_equal(mstr(m, 0, "session"), "s-1");
	assert_string_equal(mstr(m, 0, "path"), "/src/app/main.py");
	assert_string_equal(mstr(m, 0, "tool"), "claude");
	assert_string_equal(mstr(m, 0, "host"), "devbox1");
	assert_string_equal(mstr(m, 0, "user"), "alice");
	assert_string_equal(mstr(m, 1, "session"), "s-2");
	assert_int_equal(json_object_array_length(matches_of(o, 1)), 0);
	m = matches_of(o, 2);
	assert_int_equal(json_object_array_length(m), 1);
	assert_string_equal(mstr(m, 0, "renamed_from"), "/src/app/util.py.tmp.9");
	json_object_put(o);

	/* a resent batch is a duplicate: the ledger does not double */
	assert_int_equal(put(f, tb_batch(&f->t, "ag-1", "boot-1", 1, NULL, evs, 4)), 0);
	assert_int_equal(store_query_provenance(f->st, q, 1, &o), 0);
	assert_int_equal(json_object_array_length(matches_of(o, 0)), 2);
	json_object_put(o);

	/* the ledger outlives the retention of events */
	{
		uint64_t deleted = 0;

		assert_int_equal(store_prune(f->st, T0 + 1000 * SEC, 1000, &deleted), 0);
		assert_int_equal(deleted, 4);
		assert_int_equal(store_query_provenance(f->st, q, 1, &o), 0);
		assert_int_equal(json_object_array_length(matches_of(o, 0)), 2);
		json_object_put(o);
	}
}

static void test_bad_digests(void **state)
{
	struct fx *f = *state;
	const char *upper[1] = { "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824" };
	const char *shortd[1] = { "2cf24d" };
	const char *inj[1] = { "' OR 1=1 --" };
	json_object *o = NULL;

	assert_int_equal(store_query_provenance(f->st, upper, 1, &o), -EINVAL);
	assert_int_equal(store_query_provenance(f->st, shortd, 1, &o), -EINVAL);
	assert_int_equal(store_query_provenance(f->st, inj, 1, &o), -EINVAL);
	assert_int_equal(store_query_provenance(f->st, upper, STORE_PROV_MAX + 1, &o), -E2BIG);
	assert_null(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_digests, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
