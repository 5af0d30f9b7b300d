/* SPDX-License-Identifier: Apache-2.0 */
/* POST /v1/policy/test (collector/policy_test.c): replay stored events through a policy. */
#ifndef AITRAIL_POLICY_TEST_H
#define AITRAIL_POLICY_TEST_H

#include "collector/http.h"

enum MHD_Result handle_policy_test(struct server *srv, struct MHD_Connection *con,
				   const char *method, struct request *r);

#endif
