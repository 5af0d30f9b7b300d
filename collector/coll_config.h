/* SPDX-License-Identifier: Apache-2.0 */
/* The collector's configuration: defaults, then the YAML file, then command-line flags. */
#ifndef AITRAIL_COLL_CONFIG_H
#define AITRAIL_COLL_CONFIG_H

#include "collector/server.h"

/* Loads the YAML file over o. Errors are logged as "FILE:LINE: what"; returns 0 or -errno. */
int collector_config_load(struct collector_opts *o, const char *path);
/*
 * Sets one option by its config key (listen, db, heartbeat_s, ...); where names the origin for
 * errors ("--db", "FILE:LINE"). Returns 0, -ENOENT for an unknown key, -errno for a bad value.
 */
int collector_config_set(struct collector_opts *o, const char *key, const char *val,
			 const char *where);
/* Checks the whole configuration once everything is applied. */
int collector_config_check(const struct collector_opts *o);

#endif
