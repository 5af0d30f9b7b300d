/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DNS messages of sessions (bpf/dns.h records; agent/dns_decode.c: the dns module) and the
 * names they teach: every address a session's own resolver answer gave for a name, so
 * net_connect can say which name the session meant when it connected to that address.
 */
#ifndef AITRAIL_DNS_DECODE_H
#define AITRAIL_DNS_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/dns.h"

#define DNS_NAME_MAX 256     /* presentation form, escapes included, NUL included */
#define DNS_MAX_ANSWERS 16
#define DNS_ANSWER_TEXT (2 * DNS_NAME_MAX + 16)

struct dns_addr {
	uint16_t family; /* AF_INET, AF_INET6 */
	uint8_t addr[16];
};

struct dns_parsed {
	uint16_t id;
	bool response;
	unsigned int rcode;
	uint16_t qtype;
	char qname[DNS_NAME_MAX];
	int n_answers;
	char answers[DNS_MAX_ANSWERS][DNS_ANSWER_TEXT]; /* "owner TYPE data" */
	int n_addrs;
	struct dns_addr addrs[DNS_MAX_ANSWERS];          /* A and AAAA data, for the name cache */
	bool incomplete;                                 /* ran out of bytes before the end */
};

/* Parses one DNS message. 0, or -EBADMSG when not even the header and question are there. */
int dns_parse(const uint8_t *msg, size_t len, struct dns_parsed *d);

/* "A", "AAAA", ... or "TYPE<n>"; "NOERROR", "NXDOMAIN", ... or "RCODE<n>". buf: 16 bytes. */
const char *dns_type_name(unsigned int type, char *buf, size_t len);
const char *dns_rcode_name(unsigned int rcode, char *buf, size_t len);

/* Remembers that this session resolved name to addr. */
void dns_names_learn(uint32_t root_pid, uint64_t root_start, const struct dns_addr *a,
		     const char *name);
/* The name this session last resolved to addr, or NULL. */
const char *dns_names_lookup(uint32_t root_pid, uint64_t root_start, uint16_t family,
			     const uint8_t *addr);
/* Whether an answer of this session gave addr for name (case-insensitive); may forget old ones. */
bool dns_names_answered(uint32_t root_pid, uint64_t root_start, uint16_t family,
			const uint8_t *addr, const char *name);
void dns_names_free(void);

#endif
