/* SPDX-License-Identifier: Apache-2.0 */
/* Internals shared by the SQLite backend's files (store_sqlite.c, store_query.c). */
#ifndef AITRAIL_STORE_SQLITE_H
#define AITRAIL_STORE_SQLITE_H

#include <sqlite3.h>

enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_AGENT_ADD,
	ST_AGENT_BY_KEY,
	ST_AGENT_REVOKE,
	ST_AGENT_SEEN,
	ST_AGENT_HEARTBEAT,
	ST_AGENT_STATS,
	ST_BATCH_GET,
	ST_BATCH_BY_SEQ,
	ST_BATCH_ADD,
	ST_EVENT_ADD,
	ST_SESSION_TOUCH,
	ST_SESSION_START,
	ST_SESSION_END,
	ST_CHAIN_BREAK,
	ST_GAP_ADD,
	ST_PROV_ADD,
	ST__COUNT
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST__COUNT];
};

sqlite3_stmt *stmt_get(struct store *st, enum store_stmt id);
/* The policy_versions table, and its group column on older databases (store_policy.c). */
int store_policy_schema(struct store *st);

#endif
