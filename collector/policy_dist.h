/* SPDX-License-Identifier: Apache-2.0 */
/* GET/POST/DELETE /v1/policy (collector/policy_dist.c): the policy agents fetch. */
#ifndef AITRAIL_POLICY_DIST_H
#define AITRAIL_POLICY_DIST_H

#include "collector/http.h"

enum MHD_Result handle_policy(struct server *srv, struct MHD_Connection *con, const char *method,
			      struct request *r);

#endif
