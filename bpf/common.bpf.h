/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef AITRAIL_COMMON_BPF_H
#define AITRAIL_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "bpf/aitrail.h"
#include "bpf/consts.bpf.h"
#include "bpf/hook.bpf.h"
#include "bpf/maps.bpf.h"

static __always_inline void at_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

/* The one lookup every hook pays for every process; NULL means "not ours, do nothing". */
static __always_inline struct at_session_ref *at_tracked(__u32 tgid)
{
	return bpf_map_lookup_elem(&tracked, &tgid);
}

/*
 * Keeps val under key until the other half of the event takes it: a syscall's exit, an io_uring
 * request's completion. A full map loses that event; it is counted.
 */
static __always_inline void at_keep_pending(void *map, const void *key, const void *val)
{
	if (bpf_map_update_elem(map, key, val, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
}

static __always_inline void *at_heap(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&heap, &zero);
}

/* Fills the common header from the current task. */
static __always_inline void at_fill_hdr(struct at_hdr *h, __u32 type, __u32 size,
					const struct at_session_ref *s)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	h->ts = bpf_ktime_get_boot_ns();
	h->type = type;
	h->size = size;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->uid = (__u32)bpf_get_current_uid_gid();
	h->root_pid = s->root_pid;
	h->root_start = s->root_start;
	h->tool = s->tool;
	h->flags = s->flags & AT_F_NESTED_AGENT;
	bpf_get_current_comm(h->comm, sizeof(h->comm));
}

/*
 * Sends size bytes of data to ring buffer rb, counting a full buffer under cnt. size must be
 * provably bounded by the caller (mask it).
 */
static __always_inline int at_output_flags(void *rb, void *data, __u64 size, __u32 cnt,
					   __u64 flags)
{
	long err = bpf_ringbuf_output(rb, data, size, flags);

	if (err) {
		at_count(cnt);
		return (int)err;
	}
	return 0;
}

static __always_inline int at_output(void *rb, void *data, __u64 size, __u32 cnt)
{
	return at_output_flags(rb, data, size, cnt, 0);
}

/*
 * at_output to rb_file, without waking the agent while it polls that ring on its own timer: a
 * busy session's file events then cost the agent one wakeup per poll, not one each. A ring a
 * quarter full wakes it regardless.
 */
static __always_inline int at_output_file(void *data, __u64 size, __u32 cnt)
{
	__u32 zero = 0;
	__u64 *until = bpf_map_lookup_elem(&file_poll, &zero);
	__u64 flags = 0;

	if (until && bpf_ktime_get_ns() < *until &&
	    bpf_ringbuf_query(&rb_file, BPF_RB_AVAIL_DATA) <
		    bpf_ringbuf_query(&rb_file, BPF_RB_RING_SIZE) / 4)
		flags = BPF_RB_NO_WAKEUP;
	return at_output_flags(&rb_file, data, size, cnt, flags);
}

#endif
