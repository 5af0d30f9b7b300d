/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AITRAIL_NETNAME_H
#define AITRAIL_NETNAME_H

#include <stddef.h>
#include <stdint.h>

/*
 * The host named by the first bytes a client wrote on a connection, into out. Returns the
 * name's source ("tls_sni", "http_connect", "http_host"), or NULL when the bytes name nothing.
 */
const char *netname_from_data(const uint8_t *d, size_t n, char *out, size_t outlen);

#endif
