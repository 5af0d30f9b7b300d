// SPDX-License-Identifier: Apache-2.0
/*
 * The collector's configuration keys, one table for the YAML file and the command-line flags
 * (--max-body-bytes is max_body_bytes), so the two cannot drift apart.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/coll_config.h"
#include "common/log.h"
#include "common/util.h"
#include "common/yaml_doc.h"

/* A *_token_file key: the token is the file's first line. */
static int read_token_file(const struct yval *v)
{
	FILE *f = fopen(v->text, "re");
	char buf[512];
	size_t n;

	if (!f)
		return yval_err(v, "failed to read token file %s: %s", v->text, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0] || strlen(buf) >= v->key->size)
		return yval_err(v, "token file %s: %s", v->text,
				buf[0] ? "token too long" : "empty (want the token on the first line)");
	memcpy(v->val, buf, strlen(buf) + 1);
	return 0;
}

#define O struct collector_opts

static const struct ykey keys[] = {
	YK_STR("listen", O, listen),
	YK_STR("admin_listen", O, admin_listen),
	YK_STR("db", O, db),
	YK_STR("tls_cert", O, tls_cert),
	YK_STR("tls_key", O, tls_key),
	YK_STR("tls_client_ca", O, tls_client_ca),
	YK_STR("enroll_token", O, enroll_token),
	YK_SCALAR("enroll_token_file", O, enroll_token, read_token_file),
	YK_STR("admin_token", O, admin_token),
	YK_SCALAR("admin_token_file", O, admin_token, read_token_file),
	YK_UINT("heartbeat_s", O, heartbeat_s, 1, 86400),
	YK_UINT("silent_after", O, silent_after, 1, 1000),
	YK_UINT("max_body_bytes", O, max_body_bytes, 1024, 1ULL << 32),
	YK_UINT("max_inflated_bytes", O, max_inflated_bytes, 1024, 1ULL << 34),
	YK_UINT("max_batch_events", O, max_batch_events, 1, 10000000),
	YK_UINT("max_buffered_bytes", O, max_buffered_bytes, 1024, 1ULL << 40),
	YK_UINT("retention_days", O, retention_days, 0, 36500),
	YK_UINT("durable", O, durable, 0, 1),
};

#undef O

static const struct ytable table = YTABLE("", keys, .where = "top level");

int collector_config_set(struct collector_opts *o, const char *key, const char *val,
			 const char *where)
{
	struct ydoc d = YDOC_ORIGIN(where);

	return ytable_set(&d, &table, o, key, val);
}

int collector_config_load(struct collector_opts *o, const char *path)
{
	struct collector_opts tmp = *o;
	/* all of the file or none of it: a bad file leaves the defaults as they were */
	int err = ydoc_read_file(path, "config", &table, &tmp);

	if (!err)
		*o = tmp;
	return err;
}

int collector_config_check(const struct collector_opts *o)
{
	if (!o->db[0]) {
		log_error("no database: set --db PATH or 'db:' in the config");
		return -EINVAL;
	}
	if (!o->enroll_token[0])
		log_warn("no enroll token: agents cannot enroll (set --enroll-token or "
			 "--enroll-token-file)");
	if (!o->admin_token[0])
		log_warn("no admin token: the query API is disabled (set --admin-token or "
			 "--admin-token-file)");
	if (o->max_inflated_bytes < o->max_body_bytes) {
		log_error("max_inflated_bytes (%llu) is below max_body_bytes (%llu)",
			  (unsigned long long)o->max_inflated_bytes,
			  (unsigned long long)o->max_body_bytes);
		return -EINVAL;
	}
	if (o->max_buffered_bytes < o->max_body_bytes) {
		log_error("max_buffered_bytes (%llu) is below max_body_bytes (%llu): no body would fit",
			  (unsigned long long)o->max_buffered_bytes,
			  (unsigned long long)o->max_body_bytes);
		return -EINVAL;
	}
	return 0;
}
