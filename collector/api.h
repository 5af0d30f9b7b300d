/* SPDX-License-Identifier: Apache-2.0 */
/* The query API (collector/api.c): /v1/sessions, /v1/agents, /v1/stats, ... as JSON. */
#ifndef AITRAIL_API_H
#define AITRAIL_API_H

#include "collector/http.h"

enum MHD_Result handle_api(struct server *srv, struct MHD_Connection *con, const char *method,
			   const char *url);

#endif
