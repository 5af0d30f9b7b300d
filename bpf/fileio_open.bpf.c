// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Opens by syscall: the flags are kept at entry, the fd is looked at on exit. */
#include "bpf/fileio_open.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Syscall enter -> exit, by thread. */
struct fio_open_args {
	__u64 flags;
};

AT_SYSCALL_MAP(fio_opening, struct fio_open_args, 8192);

static __always_inline void fio_enter_open(__u64 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fio_open_args a = { .flags = flags };

	if (!at_tracked(id >> 32))
		return;
	at_keep_pending(&fio_opening, &id, &a);
}

static __always_inline int fio_exit_open(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fio_open_args *pa;
	__u64 flags;

	pa = bpf_map_lookup_elem(&fio_opening, &id);
	if (!pa)
		return 0;
	flags = pa->flags;
	bpf_map_delete_elem(&fio_opening, &id);
	fio_opened(flags, ret, 0);
	return 0;
}

AT_SYS_ENTER(fio_enter_openat, openat)
{
	fio_enter_open(ctx->args[2]);
	return 0;
}

AT_SYS_ENTER(fio_enter_open1, open)
{
	fio_enter_open(ctx->args[1]);
	return 0;
}

AT_SYS_ENTER(fio_enter_creat, creat)
{
	fio_enter_open(O_CREAT | O_WRONLY | O_TRUNC);
	return 0;
}

AT_SYS_ENTER(fio_enter_openat2, openat2)
{
	__u64 flags = 0;

	if (!at_tracked(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* struct open_how starts with the flags */
	bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[2]);
	fio_enter_open(flags);
	return 0;
}

AT_SYS_EXIT_RET(fio_exit_openat, openat, fio_exit_open)
AT_SYS_EXIT_RET(fio_exit_open1, open, fio_exit_open)
AT_SYS_EXIT_RET(fio_exit_creat, creat, fio_exit_open)
AT_SYS_EXIT_RET(fio_exit_openat2, openat2, fio_exit_open)
