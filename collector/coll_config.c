// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "collector/coll_config.h"
#include "common/log.h"
#include "common/util.h"

enum opt_kind { K_STR, K_U32, K_U64, K_FILE_TOKEN };

static const struct {
	const char *key;
	enum opt_kind kind;
	size_t off, size;
	uint64_t min, max;
} keys[] = {
#define S(k, f) { k, K_STR, offsetof(struct collector_opts, f), \
		  sizeof(((struct collector_opts *)0)->f), 0, 0 }
#define T(k, f) { k, K_FILE_TOKEN, offsetof(struct collector_opts, f), \
		  sizeof(((struct collector_opts *)0)->f), 0, 0 }
#define U(k, f, t, lo, hi) { k, t, offsetof(struct collector_opts, f), 0, lo, hi }
	S("listen", listen),
	S("admin_listen", admin_listen),
	S("db", db),
	S("tls_cert", tls_cert),
	S("tls_key", tls_key),
	S("tls_client_ca", tls_client_ca),
	S("enroll_token", enroll_token),
	T("enroll_token_file", enroll_token),
	S("admin_token", admin_token),
	T("admin_token_file", admin_token),
	U("heartbeat_s", heartbeat_s, K_U32, 1, 86400),
	U("silent_after", silent_after, K_U32, 1, 1000),
	U("max_body_bytes", max_body_bytes, K_U64, 1024, 1ULL << 32),
	U("max_inflated_bytes", max_inflated_bytes, K_U64, 1024, 1ULL << 34),
	U("max_batch_events", max_batch_events, K_U32, 1, 10000000),
	U("max_buffered_bytes", max_buffered_bytes, K_U64, 1024, 1ULL << 40),
	U("retention_days", retention_days, K_U32, 0, 36500),
	U("durable", durable, K_U32, 0, 1),
#undef S
#undef T
#undef U
};

static int read_token_file(const char *path, char *dst, size_t size, const char *where)
{
	FILE *f = fopen(path, "re");
	char buf[512];
	size_t n;

	if (!f) {
		log_error("%s: failed to read token file %s: %s", where, path, strerror(errno));
		return -EINVAL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!buf[0] || strlen(buf) >= size) {
		log_error("%s: token file %s: %s", where, path,
			  buf[0] ? "token too long" : "empty (want the token on the first line)");
		return -EINVAL;
	}
	memcpy(dst, buf, strlen(buf) + 1);
	return 0;
}

int collector_config_set(struct collector_opts *o, const char *key, const char *val,
			 const char *where)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char *dst = (char *)o + keys[i].off;
		uint64_t v;

		if (strcmp(keys[i].key, key))
			continue;
		switch (keys[i].kind) {
		case K_STR:
			if (strlen(val) >= keys[i].size) {
				log_error("%s: %s is too long (at most %zu characters)", where, key,
					  keys[i].size - 1);
				return -EINVAL;
			}
			memcpy(dst, val, strlen(val) + 1);
			return 0;
		case K_FILE_TOKEN:
			return read_token_file(val, dst, keys[i].size, where);
		case K_U32:
		case K_U64:
			if (parse_u64(val, keys[i].min, keys[i].max, &v)) {
				log_error("%s: %s: '%s' is not a number from %llu to %llu", where, key,
					  val, (unsigned long long)keys[i].min,
					  (unsigned long long)keys[i].max);
				return -EINVAL;
			}
			if (keys[i].kind == K_U32)
				*(uint32_t *)dst = (uint32_t)v;
			else
				*(uint64_t *)dst = v;
			return 0;
		}
	}
	return -ENOENT;
}

int collector_config_load(struct collector_opts *o, const char *path)
{
	yaml_parser_t p;
	yaml_event_t ev;
	FILE *f = fopen(path, "re");
	char key[64] = "", where[4200];
	int depth = 0, err = 0, done = 0, have_key = 0;

	if (!f) {
		log_error("failed to open config %s: %s", path, strerror(errno));
		return -errno;
	}
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	while (!done && !err) {
		if (!yaml_parser_parse(&p, &ev)) {
			log_error("%s:%zu: %s", path, p.problem_mark.line + 1,
				  p.problem ? p.problem : "YAML syntax error");
			err = -EINVAL;
			break;
		}
		snprintf(where, sizeof(where), "%s:%zu", path, ev.start_mark.line + 1);
		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
			if (++depth > 1) {
				log_error("%s: %s: expected a single value, not a mapping", where, key);
				err = -EINVAL;
			}
			break;
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SEQUENCE_START_EVENT:
			log_error("%s: %s: expected a single value, not a list", where,
				  have_key ? key : "top level");
			err = -EINVAL;
			break;
		case YAML_SCALAR_EVENT: {
			const char *v = (const char *)ev.data.scalar.value;

			if (depth != 1) {
				log_error("%s: expected 'key: value' lines", where);
				err = -EINVAL;
			} else if (!have_key) {
				snprintf(key, sizeof(key), "%s", v);
				have_key = 1;
			} else {
				err = collector_config_set(o, key, v, where);
				if (err == -ENOENT) {
					log_error("%s: unknown key '%s'", where, key);
					err = -EINVAL;
				}
				have_key = 0;
			}
			break;
		}
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	fclose(f);
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
