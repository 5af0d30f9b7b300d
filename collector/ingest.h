/* SPDX-License-Identifier: Apache-2.0 */
/* Agent endpoints (collector/ingest.c): POST /v1/enroll, /v1/events, /v1/heartbeat; protobuf. */
#ifndef AITRAIL_INGEST_H
#define AITRAIL_INGEST_H

#include "collector/http.h"

enum MHD_Result handle_enroll(struct server *srv, struct MHD_Connection *con, struct request *r);
enum MHD_Result handle_events(struct server *srv, struct MHD_Connection *con, struct request *r);
enum MHD_Result handle_heartbeat(struct server *srv, struct MHD_Connection *con,
				 struct request *r);

#endif
