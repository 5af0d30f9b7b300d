/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protobuf-c message -> one JSON object, driven by the message descriptors, so new fields and
 * event bodies need no code here. Conventions (the agent's output and the collector's API):
 *   - proto field names are the JSON names; unset messages, empty strings and empty repeated
 *     fields are left out; numbers and booleans are always written;
 *   - a oneof member that is a message is flattened into its parent object;
 *   - a uint64 field named `ts` (Unix ns) is written as an RFC 3339 string with nanoseconds;
 *   - an integer field named `result` is written as 0 or the errno name ("ECONNREFUSED");
 *   - strings are escaped for JSON; bytes that are not valid UTF-8 are written as \u00XX (the
 *     byte value), so nothing is dropped.
 */
#ifndef AITRAIL_PBJSON_H
#define AITRAIL_PBJSON_H

#include <stddef.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

struct pbjson_buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Appends msg as a JSON object (no newline) to b. Returns 0 or -ENOMEM. */
int pbjson_append(struct pbjson_buf *b, const ProtobufCMessage *msg);
/* Appends s, len bytes, as a quoted JSON string. */
int pbjson_append_string(struct pbjson_buf *b, const char *s, size_t len);
void pbjson_buf_reset(struct pbjson_buf *b);
void pbjson_buf_free(struct pbjson_buf *b);

/* Writes msg and a newline to f. Returns 0, -ENOMEM or -EIO. */
int pbjson_write_line(FILE *f, const ProtobufCMessage *msg);

#endif
