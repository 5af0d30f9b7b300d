// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* dup, dup2, dup3, fcntl(F_DUPFD*): a write followed through the copies of its fd. */
#include "bpf/fileio.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct fio_dup_args {
	__s32 oldfd;
	__s32 newfd; /* dup2/dup3's target, -1 for dup and fcntl */
};

AT_SYSCALL_MAP(fio_duping, struct fio_dup_args, 4096);

static __always_inline void fio_dup_enter(__s32 oldfd, __s32 newfd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_fio_fd ok = { .tgid = id >> 32, .fd = oldfd };
	struct at_fio_fd nk = { .tgid = id >> 32, .fd = newfd };
	struct fio_dup_args a = { .oldfd = oldfd, .newfd = newfd };

	if (!at_tracked(id >> 32))
		return;
	/* only when the copied fd is followed, or dup2 is about to close one that is */
	if (!bpf_map_lookup_elem(&fio_open, &ok) &&
	    (newfd < 0 || !bpf_map_lookup_elem(&fio_open, &nk)))
		return;
	at_keep_pending(&fio_duping, &id, &a);
}

static __always_inline int fio_dup_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct fio_dup_args *pa, a;
	struct at_fio_state *old, st;
	struct at_session_ref *ref;
	struct at_fio_fd k;

	pa = bpf_map_lookup_elem(&fio_duping, &id);
	if (!pa)
		return 0;
	a = *pa;
	bpf_map_delete_elem(&fio_duping, &id);
	if (ret < 0 || ret == a.oldfd)
		return 0;
	ref = bpf_map_lookup_elem(&fio_procs, &tgid);
	if (!ref)
		return 0;
	/* dup2 onto a followed fd closed that fd's file without close(2): its write ends here */
	k.tgid = tgid;
	k.fd = (__s32)ret;
	old = bpf_map_lookup_elem(&fio_open, &k);
	if (old) {
		st = *old;
		if (!bpf_map_delete_elem(&fio_open, &k))
			fio_emit_close(AT_REC_FIO_CLOSE, ref, tgid, k.fd, &st, NULL);
	}
	k.fd = a.oldfd;
	old = bpf_map_lookup_elem(&fio_open, &k);
	if (!old)
		return 0;
	old->twin = (__s32)ret + 1;
	st = (struct at_fio_state){ .twin = a.oldfd + 1 };
	k.fd = (__s32)ret;
	if (bpf_map_update_elem(&fio_open, &k, &st, BPF_ANY))
		at_count(AT_CNT_PENDING_FULL);
	return 0;
}

AT_SYS_ENTER(fio_enter_dup, dup)
{
	fio_dup_enter((__s32)ctx->args[0], -1);
	return 0;
}

AT_SYS_ENTER(fio_enter_dup2, dup2)
{
	fio_dup_enter((__s32)ctx->args[0], (__s32)ctx->args[1]);
	return 0;
}

AT_SYS_ENTER(fio_enter_dup3, dup3)
{
	fio_dup_enter((__s32)ctx->args[0], (__s32)ctx->args[1]);
	return 0;
}

AT_SYS_ENTER(fio_enter_fcntl, fcntl)
{
	if (ctx->args[1] == F_DUPFD || ctx->args[1] == F_DUPFD_CLOEXEC)
		fio_dup_enter((__s32)ctx->args[0], -1);
	return 0;
}

AT_SYS_EXIT_RET(fio_exit_dup, dup, fio_dup_exit)
AT_SYS_EXIT_RET(fio_exit_dup2, dup2, fio_dup_exit)
AT_SYS_EXIT_RET(fio_exit_dup3, dup3, fio_dup_exit)
AT_SYS_EXIT_RET(fio_exit_fcntl, fcntl, fio_dup_exit)
