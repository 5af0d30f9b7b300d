// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * io_uring: an open through a ring starts following a write (or reports a sensitive read)
 * when it completes, and a close through a ring ends it. The completion runs in a thread of the
 * same process (the submitter, an io-wq worker or the SQPOLL thread), which shares its fds.
 * Writes through a ring are not counted: the file_write says so.
 */
#include "bpf/fileio_open.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct fio_uring_req {
	__u64 flags; /* open: O_* */
	__s32 fd;    /* close */
	__u8 op;
	__u8 _pad[3];
};

/* LRU: a request whose completion never comes (a ring torn down) must not fill it for good */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct fio_uring_req);
} fio_uring SEC(".maps");

/* Renames through a ring, named at submission (the names the kernel copied), sent on success. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct at_fio_rename);
} fio_uring_renames SEC(".maps");

static __always_inline __u16 fio_kernel_name(char *dst, struct filename *fn)
{
	long n = bpf_probe_read_kernel_str(dst, AT_FIO_PATH_MAX, BPF_CORE_READ(fn, name));

	if (n <= 0) {
		at_count(AT_CNT_READ_KERN_FAIL);
		dst[0] = '\0';
		return 0;
	}
	return (__u16)n;
}

static __always_inline void fio_uring_rename(struct io_kiocb *req, __u64 key,
					     const struct at_session_ref *ref)
{
	struct io_rename *n = (void *)&req->cmd;
	__u32 zero = 0, pflags = 0;
	struct at_fio_rename *r = bpf_map_lookup_elem(&fio_rename_scratch, &zero);

	if (!r)
		return;
	at_fill_hdr(&r->hdr, AT_REC_FIO_RENAME, sizeof(*r), ref);
	r->rflags = BPF_CORE_READ(n, flags);
	r->rel1_len = fio_kernel_name(r->rel1, BPF_CORE_READ(n, oldpath));
	r->rel2_len = fio_kernel_name(r->rel2, BPF_CORE_READ(n, newpath));
	r->base1_len = fio_read_base(r->base1, BPF_CORE_READ(n, old_dfd), r->rel1, &pflags);
	r->base2_len = fio_read_base(r->base2, BPF_CORE_READ(n, new_dfd), r->rel2, &pflags);
	r->pflags = pflags;
	at_keep_pending(&fio_uring_renames, &key, r);
}

SEC("tp_btf/io_uring_submit_req")
int BPF_PROG(fio_uring_submit, struct io_kiocb *req)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct fio_uring_req q = {};
	struct at_session_ref *ref;
	__u64 key = (__u64)req;
	void *cmd = &req->cmd;

	ref = at_tracked(tgid);
	if (!ref)
		return 0;
	q.op = BPF_CORE_READ(req, opcode);
	if (q.op == IORING_OP_RENAMEAT) {
		fio_uring_rename(req, key, ref);
		return 0;
	}
	if (q.op == IORING_OP_OPENAT || q.op == IORING_OP_OPENAT2) {
		struct io_open *o = cmd;

		/* into the ring's own file table: no fd to follow */
		if (BPF_CORE_READ(o, file_slot))
			return 0;
		q.flags = BPF_CORE_READ(o, how.flags);
	} else if (q.op == IORING_OP_CLOSE) {
		struct io_close *c = cmd;
		struct at_fio_fd k = { .tgid = tgid };

		q.fd = BPF_CORE_READ(c, fd);
		k.fd = q.fd;
		if (!bpf_map_lookup_elem(&fio_open, &k))
			return 0; /* not a followed write */
	} else {
		return 0;
	}
	at_keep_pending(&fio_uring, &key, &q);
	return 0;
}

static __always_inline int fio_uring_completed(void *req, __s32 res)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct fio_uring_req *pq, q;
	struct at_session_ref *ref;
	struct at_fio_state *pst, st;
	struct at_fio_rename *rn;
	__u64 key = (__u64)req;
	struct at_fio_fd k;

	rn = bpf_map_lookup_elem(&fio_uring_renames, &key);
	if (rn) {
		if (res == 0) {
			rn->hdr.ts = bpf_ktime_get_boot_ns();
			at_output_file(rn, sizeof(*rn), AT_CNT_RB_FILEIO_FULL);
		}
		bpf_map_delete_elem(&fio_uring_renames, &key);
		return 0;
	}
	pq = bpf_map_lookup_elem(&fio_uring, &key);
	if (!pq)
		return 0;
	q = *pq;
	bpf_map_delete_elem(&fio_uring, &key);
	if (q.op != IORING_OP_CLOSE) {
		if (res >= 0)
			fio_opened(q.flags, res, AT_FIO_O_URING);
		return 0;
	}
	k.tgid = tgid;
	k.fd = q.fd;
	pst = bpf_map_lookup_elem(&fio_open, &k);
	if (res || !pst)
		return 0;
	st = *pst;
	ref = bpf_map_lookup_elem(&fio_procs, &tgid);
	if (bpf_map_delete_elem(&fio_open, &k) || !ref)
		return 0;
	fio_emit_close(AT_REC_FIO_CLOSE, ref, tgid, k.fd, &st, NULL);
	return 0;
}

SEC("tp_btf/io_uring_complete")
int BPF_PROG(fio_uring_complete, void *ring, void *req, struct io_uring_cqe *cqe)
{
	return fio_uring_completed(req, BPF_CORE_READ(cqe, res));
}

/* 6.1 and 6.12 pass io_uring_complete the result itself (agent/uring_decode.c loads one of the
 * two) */
SEC("?tp_btf/io_uring_complete")
int BPF_PROG(fio_uring_complete_res, void *ring, void *req, __u64 user_data, int res)
{
	return fio_uring_completed(req, res);
}
