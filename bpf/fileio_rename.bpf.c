// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Renames: carry a just-written file over to its final name. The names are kept at entry and
 * read, with the directories they resolve against, after a successful exit.
 */
#include "bpf/fileio.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Syscall enter -> exit, by thread. */
struct fio_rename_args {
	__u64 oldname;
	__u64 newname;
	__s32 olddfd;
	__s32 newdfd;
	__u32 flags;
	__u32 _pad;
};

AT_SYSCALL_MAP(fio_renaming, struct fio_rename_args, 1024);

static __always_inline void fio_enter_rename(__s32 olddfd, __u64 oldname, __s32 newdfd,
					     __u64 newname, __u32 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fio_rename_args a = {
		.oldname = oldname, .newname = newname, .olddfd = olddfd, .newdfd = newdfd,
		.flags = flags,
	};

	if (!at_tracked(id >> 32))
		return;
	at_keep_pending(&fio_renaming, &id, &a);
}

static __always_inline __u16 fio_read_name(char *dst, __u64 uptr, __u32 *pflags)
{
	long n = bpf_probe_read_user_str(dst, AT_FIO_PATH_MAX, (const void *)uptr);

	if (n <= 0) {
		at_count(AT_CNT_READ_USER_FAIL);
		dst[0] = '\0';
		return 0;
	}
	return (__u16)n;
}

static __always_inline int fio_exit_rename_common(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fio_rename_args *pa, a;
	struct at_session_ref *ref;
	struct at_fio_rename *r;
	__u32 zero = 0, pflags = 0;

	pa = bpf_map_lookup_elem(&fio_renaming, &id);
	if (!pa)
		return 0;
	a = *pa;
	bpf_map_delete_elem(&fio_renaming, &id);
	ref = at_tracked(id >> 32);
	if (ret != 0 || !ref)
		return 0;
	r = bpf_map_lookup_elem(&fio_rename_scratch, &zero);
	if (!r)
		return 0;
	at_fill_hdr(&r->hdr, AT_REC_FIO_RENAME, sizeof(*r), ref);
	r->rflags = a.flags;
	r->rel1_len = fio_read_name(r->rel1, a.oldname, &pflags);
	r->rel2_len = fio_read_name(r->rel2, a.newname, &pflags);
	r->base1_len = fio_read_base(r->base1, a.olddfd, r->rel1, &pflags);
	r->base2_len = fio_read_base(r->base2, a.newdfd, r->rel2, &pflags);
	r->pflags = pflags;
	at_output_file(r, sizeof(*r), AT_CNT_RB_FILEIO_FULL);
	return 0;
}

AT_SYS_ENTER(fio_enter_rename1, rename)
{
	fio_enter_rename(AT_FDCWD, ctx->args[0], AT_FDCWD, ctx->args[1], 0);
	return 0;
}

AT_SYS_ENTER(fio_enter_renameat, renameat)
{
	fio_enter_rename((__s32)ctx->args[0], ctx->args[1], (__s32)ctx->args[2], ctx->args[3], 0);
	return 0;
}

AT_SYS_ENTER(fio_enter_renameat2, renameat2)
{
	fio_enter_rename((__s32)ctx->args[0], ctx->args[1], (__s32)ctx->args[2], ctx->args[3],
			 (__u32)ctx->args[4]);
	return 0;
}

AT_SYS_EXIT_RET(fio_exit_rename, rename, fio_exit_rename_common)
AT_SYS_EXIT_RET(fio_exit_renameat, renameat, fio_exit_rename_common)
AT_SYS_EXIT_RET(fio_exit_renameat2, renameat2, fio_exit_rename_common)
