/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps shared by every program. All programs are compiled separately and linked into one
 * object, so the maps are __weak: the linker keeps one definition.
 */
#ifndef AITRAIL_MAPS_BPF_H
#define AITRAIL_MAPS_BPF_H

#include "bpf/aitrail.h"

#define AT_HEAP_SIZE (32 * 1024)

/*
 * Two map shapes every feature uses, AT_SCRATCH_MAP and AT_SYSCALL_MAP, built on AT_MAP_OF (a
 * BTF map definition without its name). The map's name is spelled out at each use so grep
 * finds it; in a header several objects include, __weak follows the macro, as heap's below.
 */
#define AT_MAP_OF(kind, k, v, n)                                                                   \
	struct {                                                                                   \
		__uint(type, kind);                                                                \
		__uint(max_entries, n);                                                            \
		__type(key, k);                                                                    \
		__type(value, v);                                                                  \
	}

/* Per-CPU scratch space for what does not fit the 512-byte stack: slots values of val. */
#define AT_SCRATCH_MAP(name, val, slots)                                                           \
	AT_MAP_OF(BPF_MAP_TYPE_PERCPU_ARRAY, __u32, val, slots) name SEC(".maps")

/* What a syscall's entry keeps for its exit, by thread (pid_tgid); n: calls in flight at once. */
#define AT_SYSCALL_MAP(name, val, n) AT_MAP_OF(BPF_MAP_TYPE_HASH, __u64, val, n) name SEC(".maps")

/* Every process of every session, by tgid. Seeded by the agent's /proc scan. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct at_session_ref);
} tracked SEC(".maps") __weak;

/*
 * Two lanes so a file flood can only cost file records: exec, exit, session and network
 * records have their own buffer. Sizes are set by the agent before load.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} rb_core SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 * 1024 * 1024);
} rb_file SEC(".maps") __weak;

/* [0]: until when (CLOCK_MONOTONIC ns) the agent reads rb_file on its own; see at_output_file */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} file_poll SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AT_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps") __weak;

/* Scratch space for building variable-length records before bpf_ringbuf_output. */
struct at_heap {
	__u8 buf[AT_HEAP_SIZE];
};

AT_SCRATCH_MAP(heap, struct at_heap, 1) __weak;

#endif
