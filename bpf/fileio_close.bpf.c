// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The end of a followed write: close(2) of the fd, or the exit of its process with fds still
 * open. A close while a dup of the fd holds the same file hands the write over to the dup.
 */
#include "bpf/fileio.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The fd closes while a dup of it still holds the same file (the shell opened `> file`,
 * dup2'ed it onto stdout and closes the original before the command writes): the write is not
 * over. Its counts move to the dup and the agent is told to follow the write there.
 */
static __always_inline bool fio_hand_over(struct task_struct *task, const struct at_fio_fd *key,
					  const struct at_fio_state *st,
					  const struct at_session_ref *ref)
{
	struct at_fio_fd tk = { .tgid = key->tgid, .fd = st->twin - 1 };
	struct at_fio_handover h = {};
	struct at_fio_state *tw;

	if (!st->twin || tk.fd == key->fd)
		return false;
	tw = bpf_map_lookup_elem(&fio_open, &tk);
	if (!tw || at_fd_file(task, tk.fd) != at_fd_file(task, key->fd))
		return false;
	__sync_fetch_and_add(&tw->bytes, st->bytes);
	__sync_fetch_and_add(&tw->writes, st->writes);
	tw->twin = 0;
	at_fill_hdr(&h.hdr, AT_REC_FIO_HANDOVER, sizeof(h), ref);
	h.hdr.pid = key->tgid;
	h.from_fd = key->fd;
	h.to_fd = tk.fd;
	at_output_file(&h, sizeof(h), AT_CNT_RB_FILEIO_FULL);
	return true;
}

AT_SYS_ENTER(fio_enter_close, close)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct at_fio_fd key = { .tgid = tgid, .fd = (__s32)ctx->args[0] };
	struct at_session_ref *ref;
	struct at_fio_state *pst, st;

	pst = bpf_map_lookup_elem(&fio_open, &key);
	if (!pst)
		return 0;
	st = *pst;
	ref = bpf_map_lookup_elem(&fio_procs, &tgid);
	if (ref && fio_hand_over(task, &key, &st, ref)) {
		bpf_map_delete_elem(&fio_open, &key);
		return 0;
	}
	if (bpf_map_delete_elem(&fio_open, &key))
		return 0; /* a racing close of the same fd reported it */
	if (!ref)
		return 0;
	fio_emit_close(AT_REC_FIO_CLOSE, ref, tgid, key.fd, &st, at_fd_file(task, key.fd));
	return 0;
}

struct fio_exit_ctx {
	struct at_session_ref ref;
	__u32 tgid;
	__u32 found;
};

static long fio_exit_one(struct bpf_map *map, struct at_fio_fd *key, struct at_fio_state *st,
			 struct fio_exit_ctx *c)
{
	struct at_fio_fd k = *key;
	struct at_fio_state s = *st;

	if (k.tgid != c->tgid)
		return 0;
	if (bpf_map_delete_elem(&fio_open, &k))
		return 0;
	fio_emit_close(AT_REC_FIO_EXIT, &c->ref, c->tgid, k.fd, &s, NULL);
	c->found++;
	return 0;
}

/* Files still open when the process ends are closed by the kernel: report them here. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(fio_sched_exit, struct task_struct *p)
{
	struct fio_exit_ctx c = {};
	struct at_session_ref *ref;

	c.tgid = BPF_CORE_READ(p, tgid);
	ref = bpf_map_lookup_elem(&fio_procs, &c.tgid);
	if (!ref)
		return 0;
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	c.ref = *ref;
	bpf_for_each_map_elem(&fio_open, fio_exit_one, &c, 0);
	bpf_map_delete_elem(&fio_procs, &c.tgid);
	return 0;
}
