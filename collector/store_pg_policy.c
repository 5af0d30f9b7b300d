// SPDX-License-Identifier: Apache-2.0
/*
 * PostgreSQL backend: policy versions per host group, the replay of stored events for
 * `aitrail policy test` and reports, the provenance ledger's query, and retention pruning.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "collector/store.h"
#include "collector/store_backend.h"
#include "collector/store_pg.h"
#include "common/util.h"

int pg_store_policy_add(struct store *store, const char *group, const char *name,
			const char *yaml, size_t len, const char *etag, uint64_t now_ns)
{
	struct pg_params p = { 0 };
	char *text = strndup(yaml, len); /* text parameters end at a NUL, not at a length */
	int rc;

	if (!text)
		return -ENOMEM;
	pgp_text(&p, name);
	pgp_text(&p, text);
	pgp_text(&p, etag);
	pgp_i64(&p, (int64_t)now_ns);
	pgp_text(&p, group);
	rc = pg_cmd(pg_of(store), "store a policy version", "INSERT INTO policy_versions (name,"
		    " yaml, etag, pushed_ns, grp) VALUES ($1, $2, $3, $4, $5)", &p, NULL);
	free(text);
	return rc;
}

int pg_store_policy_get(struct store *store, const char *group, struct store_policy *out)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	PGresult *r;
	int err = 0;

	memset(out, 0, sizeof(*out));
	pgp_text(&p, group);
	r = pg_exec(st, "read the current policy", "SELECT yaml, etag, name FROM policy_versions"
		    " WHERE grp = $1 ORDER BY id DESC LIMIT 1", &p);
	if (!r)
		return -EIO;
	if (PQntuples(r) && PQgetlength(r, 0, 0) > 0) {
		out->len = (size_t)PQgetlength(r, 0, 0);
		out->yaml = strdup(PQgetvalue(r, 0, 0));
		out->etag = strdup(PQgetvalue(r, 0, 1));
		out->name = strdup(PQgetvalue(r, 0, 2));
		if (!out->yaml || !out->etag || !out->name) {
			store_policy_release(out);
			err = -ENOMEM;
		}
	} else {
		err = -ENOENT;
	}
	PQclear(r);
	return err;
}

/* the query below spells these bits out */
_Static_assert(STORE_EV_EXEC == 1 && STORE_EV_NET_CONNECT == 2 && STORE_EV_FILE == 4 &&
	       STORE_EV_NET_CLOSE == 8 && STORE_EV_POLICY == 16 && STORE_EV_SESSION_START == 32,
	       "replay kinds");

static const char replay_sql[] =
	"SELECT e.pb, e.session_id, s.cwd FROM events e LEFT JOIN sessions s ON s.id = e.session_id"
	" WHERE ($1::bigint = 0 OR e.ts >= $1) AND ($2::bigint = 0 OR e.ts <= $2)"
	" AND ((($3::bigint & 1) <> 0 AND e.type = 'exec')"
	" OR (($3::bigint & 2) <> 0 AND e.type = 'net_connect')"
	" OR (($3::bigint & 4) <> 0 AND e.type LIKE 'file_%')"
	" OR (($3::bigint & 8) <> 0 AND e.type = 'net_close')"
	" OR (($3::bigint & 16) <> 0 AND e.type = 'policy_decision')"
	" OR (($3::bigint & 32) <> 0 AND e.type = 'session_start'))"
	" ORDER BY e.ts, e.seq";

static void replay_row(const PGresult *r, store_replay_fn fn, void *arg, uint64_t *undecodable)
{
	Aitrail__V1__Event *ev = aitrail__v1__event__unpack(NULL, (size_t)PQgetlength(r, 0, 0),
							    (const uint8_t *)PQgetvalue(r, 0, 0));

	if (!ev) {
		(*undecodable)++;
		return;
	}
	fn(arg, ev, PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1),
	   PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2));
	aitrail__v1__event__free_unpacked(ev, NULL);
}

int pg_store_replay(struct store *store, uint64_t since_ns, uint64_t until_ns,
		    unsigned int kinds, store_replay_fn fn, void *arg, uint64_t *undecodable)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	PGresult *r;
	int err = 0;

	/* the kinds are bits of one parameter, so the statement text never varies */
	pgp_i64(&p, (int64_t)since_ns);
	pgp_i64(&p, (int64_t)until_ns);
	pgp_i64(&p, kinds);
	if (pg_alive(st))
		return -EIO;
	/* a row at a time, binary: a report over months must not hold every event in memory */
	if (!PQsendQueryParams(st->conn, replay_sql, p.n, NULL, p.v, p.len, p.fmt, 1) ||
	    !PQsetSingleRowMode(st->conn)) {
		log_error("failed to replay events: %s", PQerrorMessage(st->conn));
		return -EIO;
	}
	/* every result is read, even after an error, so the connection is ready for the next */
	while ((r = PQgetResult(st->conn))) {
		if (PQresultStatus(r) == PGRES_SINGLE_TUPLE && !err) {
			replay_row(r, fn, arg, undecodable);
		} else if (PQresultStatus(r) != PGRES_TUPLES_OK && !err) {
			log_error("failed to replay events: %s", PQresultErrorMessage(r));
			err = -EIO;
		}
		PQclear(r);
	}
	return err;
}

static json_object *match_row(const PGresult *r, int row)
{
	static const struct {
		const char *key;
		int col;
	} texts[] = { { "path", 0 }, { "session", 1 }, { "tool", 2 }, { "host", 3 },
		      { "user", 4 } };
	json_object *m = json_object_new_object();
	uint64_t ts = (uint64_t)pg_i64(r, row, 5);
	char buf[40];

	/* empty strings are left out, as the SQLite backend does */
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (*PQgetvalue(r, row, texts[i].col))
			json_object_object_add(m, texts[i].key,
					       json_object_new_string(PQgetvalue(r, row,
										 texts[i].col)));
	format_rfc3339_ns(ts, buf, sizeof(buf));
	json_object_object_add(m, "ts", json_object_new_string(buf));
	json_object_object_add(m, "ts_ns", json_object_new_int64((int64_t)ts));
	if (*PQgetvalue(r, row, 6))
		json_object_object_add(m, "agent", json_object_new_string(PQgetvalue(r, row, 6)));
	if (!PQgetisnull(r, row, 7))
		json_object_object_add(m, "pid", json_object_new_int64(pg_i64(r, row, 7)));
	if (!PQgetisnull(r, row, 8))
		json_object_object_add(m, "size", json_object_new_int64(pg_i64(r, row, 8)));
	if (*PQgetvalue(r, row, 9))
		json_object_object_add(m, "renamed_from",
				       json_object_new_string(PQgetvalue(r, row, 9)));
	return m;
}

int pg_store_query_provenance(struct store *store, const char *const *sha256, size_t n,
			      json_object **out)
{
	struct pg_store *st = pg_of(store);
	json_object *o, *results;

	o = json_object_new_object();
	results = json_object_new_array();
	json_object_object_add(o, "results", results);
	for (size_t i = 0; i < n; i++) {
		json_object *res = json_object_new_object(), *matches = json_object_new_array();
		struct pg_params p = { 0 };
		PGresult *r;

		json_object_object_add(res, "sha256", json_object_new_string(sha256[i]));
		json_object_object_add(res, "matches", matches);
		json_object_array_add(results, res);
		pgp_text(&p, sha256[i]);
		r = pg_exec(st, "query provenance", "SELECT path, session_id, tool, host, usr, ts,"
			    " agent_id, pid, size, renamed_from FROM provenance WHERE sha256 = $1"
			    " ORDER BY ts LIMIT 1000", &p);
		if (!r) {
			json_object_put(o);
			return -EIO;
		}
		for (int k = 0; k < PQntuples(r); k++)
			json_object_array_add(matches, match_row(r, k));
		PQclear(r);
	}
	*out = o;
	return 0;
}

int pg_store_prune(struct store *store, uint64_t before_ns, uint32_t max_rows, uint64_t *deleted)
{
	struct pg_store *st = pg_of(store);
	struct pg_params p = { 0 };
	int rc;

	*deleted = 0;
	pgp_i64(&p, (int64_t)before_ns);
	pgp_i64(&p, max_rows);
	/* small chunks: each is one short transaction, so ingest waits at most that long */
	rc = pg_cmd(st, "prune events", "DELETE FROM events WHERE id IN (SELECT id FROM events"
		    " WHERE ts < $1 ORDER BY ts LIMIT $2)", &p, deleted);
	if (rc || *deleted == max_rows)
		return rc;
	p.n = 1;
	return pg_cmd(st, "prune sessions", "DELETE FROM sessions"
		      " WHERE coalesce(end_ns, last_ns) < $1", &p, NULL);
}
