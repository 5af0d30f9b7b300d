// SPDX-License-Identifier: Apache-2.0
/*
 * Policy versions per host group and the replay of stored events for `aitrail policy test`
 * (SQLite backend of the store_policy_* and store_replay functions in collector/store.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/log.h"
#include "collector/store.h"
#include "collector/store_sqlite.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS policy_versions ("
	" id INTEGER PRIMARY KEY, name TEXT NOT NULL, yaml TEXT NOT NULL, etag TEXT NOT NULL,"
	" pushed_ns INTEGER NOT NULL, grp TEXT NOT NULL DEFAULT '');";
/* databases from before host groups: their policies were the fleet's */
static const char add_group[] = "ALTER TABLE policy_versions ADD COLUMN grp TEXT NOT NULL "
				"DEFAULT ''";

int sqlite_policy_schema(struct sqlite_store *st)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("failed to create the policy_versions table: %s", msg ? msg : "?");
		sqlite3_free(msg);
		return -EIO;
	}
	if (sqlite3_exec(st->db, add_group, NULL, NULL, &msg) != SQLITE_OK) {
		bool had = msg && strstr(msg, "duplicate column");

		if (!had)
			log_error("failed to add the group column to policy_versions: %s",
				  msg ? msg : "?");
		sqlite3_free(msg);
		if (!had)
			return -EIO;
	}
	return 0;
}

int sqlite_store_policy_add(struct store *store, const char *group, const char *name,
			    const char *yaml, size_t len, const char *etag, uint64_t now_ns)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db, "INSERT INTO policy_versions (name, yaml, etag, pushed_ns,"
			       " grp) VALUES (?1, ?2, ?3, ?4, ?5)", -1, &s, NULL) != SQLITE_OK) {
		log_error("failed to store a policy version: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, yaml, (int)len, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, etag, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (int64_t)now_ns);
	sqlite3_bind_text(s, 5, group, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		log_error("failed to store a policy version: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	return 0;
}

static char *dup_text(sqlite3_stmt *s, int col, size_t *len)
{
	const char *v = (const char *)sqlite3_column_text(s, col);
	size_t n = (size_t)sqlite3_column_bytes(s, col);
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, v ? v : "", n);
		d[n] = '\0';
	}
	if (len)
		*len = n;
	return d;
}

int sqlite_store_policy_get(struct store *store, const char *group, struct store_policy *out)
{
	struct sqlite_store *st = sqlite_of(store);
	sqlite3_stmt *s = NULL;
	int rc, err = 0;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(st->db, "SELECT yaml, etag, name FROM policy_versions WHERE grp = ?1"
			       " ORDER BY id DESC LIMIT 1", -1, &s, NULL) != SQLITE_OK) {
		log_error("failed to read the current policy: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	sqlite3_bind_text(s, 1, group, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 0) > 0) {
		out->yaml = dup_text(s, 0, &out->len);
		out->etag = dup_text(s, 1, NULL);
		out->name = dup_text(s, 2, NULL);
		if (!out->yaml || !out->etag || !out->name) {
			store_policy_release(out);
			err = -ENOMEM;
		}
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		err = -ENOENT;
	} else {
		log_error("failed to read the current policy: %s", sqlite3_errmsg(st->db));
		err = -EIO;
	}
	sqlite3_finalize(s);
	return err;
}

int sqlite_store_replay(struct store *store, uint64_t since_ns, uint64_t until_ns,
			unsigned int kinds, store_replay_fn fn, void *arg, uint64_t *undecodable)
{
	struct sqlite_store *st = sqlite_of(store);
	static const struct {
		unsigned int kind;
		const char *cond;
	} conds[] = {
		{ STORE_EV_EXEC, "e.type = 'exec'" },
		{ STORE_EV_NET_CONNECT, "e.type = 'net_connect'" },
		{ STORE_EV_FILE, "e.type LIKE 'file_%'" },
		{ STORE_EV_NET_CLOSE, "e.type = 'net_close'" },
		{ STORE_EV_POLICY, "e.type = 'policy_decision'" },
		{ STORE_EV_SESSION_START, "e.type = 'session_start'" },
	};
	char sql[1024];
	sqlite3_stmt *s;
	size_t n;
	int rc;

	n = snprintf(sql, sizeof(sql), "SELECT e.pb, e.session_id, s.cwd FROM events e LEFT JOIN "
		     "sessions s ON s.id = e.session_id WHERE (?1 = 0 OR e.ts >= ?1) AND "
		     "(?2 = 0 OR e.ts <= ?2) AND (0");
	for (size_t i = 0; i < sizeof(conds) / sizeof(conds[0]); i++)
		if (kinds & conds[i].kind)
			n += snprintf(sql + n, sizeof(sql) - n, " OR %s", conds[i].cond);
	snprintf(sql + n, sizeof(sql) - n, ") ORDER BY e.ts, e.seq");
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		log_error("failed to prepare the replay query: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	sqlite3_bind_int64(s, 1, (int64_t)since_ns);
	sqlite3_bind_int64(s, 2, (int64_t)until_ns);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const void *pb = sqlite3_column_blob(s, 0);
		Aitrail__V1__Event *ev;

		ev = aitrail__v1__event__unpack(NULL, sqlite3_column_bytes(s, 0), pb);
		if (!ev) {
			(*undecodable)++;
			continue;
		}
		fn(arg, ev, (const char *)sqlite3_column_text(s, 1),
		   (const char *)sqlite3_column_text(s, 2));
		aitrail__v1__event__free_unpacked(ev, NULL);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		log_error("failed to replay events: %s", sqlite3_errmsg(st->db));
		return -EIO;
	}
	return 0;
}
