// SPDX-License-Identifier: Apache-2.0
/* The provenance ledger's query (SQLite backend of store_query_provenance in collector/store.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <sqlite3.h>

#include "common/log.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_sqlite.h"
#include "common/util.h"

static void add_text(json_object *o, const char *k, sqlite3_stmt *s, int col)
{
	const char *v = (const char *)sqlite3_column_text(s, col);

	if (v && *v)
		json_object_object_add(o, k, json_object_new_string(v));
}

static json_object *match_row(sqlite3_stmt *s)
{
	json_object *m = json_object_new_object();
	uint64_t ts = (uint64_t)sqlite3_column_int64(s, 5);
	char buf[40];

	add_text(m, "path", s, 0);
	add_text(m, "session", s, 1);
	add_text(m, "tool", s, 2);
	add_text(m, "host", s, 3);
	add_text(m, "user", s, 4);
	format_rfc3339_ns(ts, buf, sizeof(buf));
	json_object_object_add(m, "ts", json_object_new_string(buf));
	json_object_object_add(m, "ts_ns", json_object_new_int64((int64_t)ts));
	add_text(m, "agent", s, 6);
	if (sqlite3_column_type(s, 7) != SQLITE_NULL)
		json_object_object_add(m, "pid", json_object_new_int64(sqlite3_column_int64(s, 7)));
	if (sqlite3_column_type(s, 8) != SQLITE_NULL)
		json_object_object_add(m, "size", json_object_new_int64(sqlite3_column_int64(s, 8)));
	add_text(m, "renamed_from", s, 9);
	return m;
}

int sqlite_store_query_provenance(struct store *store, const char *const *sha256, size_t n,
				  json_object **out)
{
	struct sqlite_store *st = sqlite_of(store);
	json_object *o, *results;
	sqlite3_stmt *s = NULL;
	int rc = 0;

	if (sqlite3_prepare_v2(st->db, "SELECT path, session_id, tool, host, user, ts, agent_id, pid,"
			       " size, renamed_from FROM provenance WHERE sha256 = ?1"
			       " ORDER BY ts LIMIT 1000", -1, &s, NULL) != SQLITE_OK) {
		log_error("failed to prepare the provenance query: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	o = json_object_new_object();
	results = json_object_new_array();
	json_object_object_add(o, "results", results);
	for (size_t i = 0; i < n && !rc; i++) {
		json_object *r = json_object_new_object(), *matches = json_object_new_array();

		json_object_object_add(r, "sha256", json_object_new_string(sha256[i]));
		json_object_object_add(r, "matches", matches);
		json_object_array_add(results, r);
		sqlite3_bind_text(s, 1, sha256[i], -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			json_object_array_add(matches, match_row(s));
		if (rc != SQLITE_DONE) {
			log_error("failed to query provenance: %s", sqlite3_errmsg(st->db));
			rc = -EIO;
			break;
		}
		rc = 0;
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	if (rc) {
		json_object_put(o);
		return rc;
	}
	*out = o;
	return 0;
}
