// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Writes on a followed fd: what each write syscall returned is added to the fd's counts. */
#include "bpf/fileio.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The followed fd a write syscall is writing. */
AT_SYSCALL_MAP(fio_writing, struct at_fio_fd, 8192);

static __always_inline void fio_enter_write(__s32 fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_fio_fd key = { .tgid = id >> 32, .fd = fd };

	if (!bpf_map_lookup_elem(&fio_open, &key))
		return;
	at_keep_pending(&fio_writing, &id, &key);
}

static __always_inline int fio_exit_write(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct at_fio_state *st;
	struct at_fio_fd *key;

	key = bpf_map_lookup_elem(&fio_writing, &id);
	if (!key)
		return 0;
	if (ret > 0) {
		st = bpf_map_lookup_elem(&fio_open, key);
		if (st) {
			__sync_fetch_and_add(&st->bytes, ret);
			__sync_fetch_and_add(&st->writes, 1);
		}
	}
	bpf_map_delete_elem(&fio_writing, &id);
	return 0;
}

/* Each write syscall's first argument is the fd. */
#define FIO_WRITE_HOOKS(enter, exit, sys)                                                          \
	AT_SYS_ENTER(enter, sys)                                                                   \
	{                                                                                          \
		fio_enter_write((__s32)ctx->args[0]);                                              \
		return 0;                                                                          \
	}                                                                                          \
	AT_SYS_EXIT_RET(exit, sys, fio_exit_write)

FIO_WRITE_HOOKS(fio_e_write, fio_x_write, write)
FIO_WRITE_HOOKS(fio_e_pwrite64, fio_x_pwrite64, pwrite64)
FIO_WRITE_HOOKS(fio_e_writev, fio_x_writev, writev)
FIO_WRITE_HOOKS(fio_e_pwritev, fio_x_pwritev, pwritev)
FIO_WRITE_HOOKS(fio_e_pwritev2, fio_x_pwritev2, pwritev2)
