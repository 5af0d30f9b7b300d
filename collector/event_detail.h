/* SPDX-License-Identifier: Apache-2.0 */
/* The events table's detail column (collector/event_detail.c). */
#ifndef AITRAIL_EVENT_DETAIL_H
#define AITRAIL_EVENT_DETAIL_H

#include <stddef.h>

#include "proto/event.pb-c.h"

/* A one-line summary of an event's body, for tables and the timeline. */
void event_detail(const Aitrail__V1__Event *ev, char *buf, size_t len);

#endif
