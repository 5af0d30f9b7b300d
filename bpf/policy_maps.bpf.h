/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Policy maps that programs outside policy.bpf.c use too: dns.bpf.c adds the addresses of a
 * session's DNS answers to pol_net. __weak, like maps.bpf.h: the linker keeps one definition.
 */
#ifndef AITRAIL_POLICY_MAPS_BPF_H
#define AITRAIL_POLICY_MAPS_BPF_H

#include "bpf/policy.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct at_pol_net_key);
	__type(value, struct at_pol_verdict);
} pol_net SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct at_pol_cfg);
} pol_cfg SEC(".maps") __weak;

/* Written by the agent with every policy; see struct at_pol_dns_key. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct at_pol_dns_key);
	__type(value, struct at_pol_dns_val);
} pol_dns SEC(".maps") __weak;

#endif
