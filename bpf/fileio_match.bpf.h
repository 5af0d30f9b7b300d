/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel half of the sensitive-path matcher (agent/fileio_match.c is the other): whether a
 * file opened for reading may match a sensitive-path pattern, by its name, its extension, a
 * prefix of its name or the name of a directory above it. The agent fills the maps from its
 * patterns and decides; this only drops what cannot match. Used by fileio_open.bpf.h.
 */
#ifndef AITRAIL_FILEIO_MATCH_BPF_H
#define AITRAIL_FILEIO_MATCH_BPF_H

#include "bpf/common.bpf.h"
#include "bpf/fileio.h"

/* fio_cfg slots */
enum { FIO_CFG_FLAGS = 0, FIO_CFG_PREFIX_LENS = 1, FIO_CFG_MAX };
#define FIO_CFG_F_READS (1u << 0)    /* report sensitive reads at all */
#define FIO_CFG_F_ALL_READS (1u << 1) /* a pattern the maps cannot express: send every read */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FIO_CFG_MAX);
	__type(key, __u32);
	__type(value, __u32);
} fio_cfg SEC(".maps") __weak;

/*
 * Sensitive-path candidates, filled by the agent from its patterns: directory names, file
 * names, extensions (with the dot) and name prefixes. Only a key's presence counts.
 */
#define FIO_NAME_MAP(name)                                                                         \
	struct {                                                                                   \
		__uint(type, BPF_MAP_TYPE_HASH);                                                   \
		__uint(max_entries, 256);                                                          \
		__type(key, struct at_fio_key);                                                    \
		__type(value, __u8);                                                               \
	} name SEC(".maps") __weak

FIO_NAME_MAP(fio_dirs);
FIO_NAME_MAP(fio_names);
FIO_NAME_MAP(fio_exts);
FIO_NAME_MAP(fio_prefixes);

static __always_inline __u32 fio_cfg_get(__u32 slot)
{
	__u32 *v = bpf_map_lookup_elem(&fio_cfg, &slot);

	return v ? *v : 0;
}

struct fio_walk {
	__u64 dentry;
	__u32 hit;
};

static long fio_dir_step(__u32 i, void *vctx)
{
	struct fio_walk *w = vctx;
	struct dentry *d = (struct dentry *)w->dentry;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	struct at_fio_key k = {};

	if (!parent || parent == d)
		return 1;
	if (BPF_CORE_READ(parent, d_name.len) < AT_FIO_KEY_LEN &&
	    bpf_probe_read_kernel_str(k.name, sizeof(k.name),
				      BPF_CORE_READ(parent, d_name.name)) > 0 &&
	    bpf_map_lookup_elem(&fio_dirs, &k)) {
		w->hit = 1;
		return 1;
	}
	w->dentry = (__u64)parent;
	return 0;
}

/*
 * Name checks run as bpf_loop() callbacks: verified once, not once per iteration and call site.
 * base holds the file's name (NUL-padded), len its length.
 */
struct fio_name_ctx {
	struct at_fio_key base;
	struct at_fio_key k;
	__u32 len;
	__u32 lens; /* prefix lengths present in fio_prefixes, bit n = n bytes */
	__u32 dot;  /* index of the last '.' in base */
	__u32 hit;
};

static long fio_prefix_step(__u32 i, void *vctx)
{
	struct fio_name_ctx *c = vctx;
	__u32 j = i & (AT_FIO_KEY_LEN - 1);

	if (i >= c->len || i >= AT_FIO_KEY_LEN - 1)
		return 1;
	barrier_var(j);
	j &= AT_FIO_KEY_LEN - 1;
	c->k.name[j] = c->base.name[j];
	if ((c->lens & (1u << ((i + 1) & 31))) && bpf_map_lookup_elem(&fio_prefixes, &c->k)) {
		c->hit = 1;
		return 1;
	}
	return 0;
}

static long fio_dot_step(__u32 i, void *vctx)
{
	struct fio_name_ctx *c = vctx;

	if (i >= c->len)
		return 1;
	if (c->base.name[i & (AT_FIO_KEY_LEN - 1)] == '.')
		c->dot = i;
	return 0;
}

static long fio_ext_step(__u32 i, void *vctx)
{
	struct fio_name_ctx *c = vctx;
	__u32 src = c->dot + i, dst = i;

	if (src >= c->len || i >= AT_FIO_KEY_LEN - 1)
		return 1;
	dst &= AT_FIO_KEY_LEN - 1;
	src &= AT_FIO_KEY_LEN - 1;
	barrier_var(dst);
	barrier_var(src);
	c->k.name[dst & (AT_FIO_KEY_LEN - 1)] = c->base.name[src & (AT_FIO_KEY_LEN - 1)];
	return 0;
}

static __always_inline bool fio_sensitive(struct dentry *d)
{
	struct fio_name_ctx c = {};
	const unsigned char *name;
	struct fio_walk w = {};
	__u32 len, off;

	if (fio_cfg_get(FIO_CFG_FLAGS) & FIO_CFG_F_ALL_READS)
		return true;
	len = BPF_CORE_READ(d, d_name.len);
	name = BPF_CORE_READ(d, d_name.name);
	if (len < AT_FIO_KEY_LEN) {
		if (bpf_probe_read_kernel_str(c.base.name, sizeof(c.base.name), name) <= 0)
			return false;
		if (bpf_map_lookup_elem(&fio_names, &c.base))
			return true;
		c.len = len;
		c.lens = fio_cfg_get(FIO_CFG_PREFIX_LENS);
		if (c.lens) {
			bpf_loop(AT_FIO_KEY_LEN, fio_prefix_step, &c, 0);
			if (c.hit)
				return true;
		}
	} else {
		/* long names: their extension is in the last bytes */
		off = len - (AT_FIO_KEY_LEN - 1);
		if (bpf_probe_read_kernel(c.base.name, AT_FIO_KEY_LEN - 1, name + off))
			return false;
		c.len = AT_FIO_KEY_LEN - 1;
	}
	c.dot = AT_FIO_KEY_LEN;
	bpf_loop(AT_FIO_KEY_LEN, fio_dot_step, &c, 0);
	if (c.dot < AT_FIO_KEY_LEN) {
		__builtin_memset(&c.k, 0, sizeof(c.k));
		bpf_loop(AT_FIO_KEY_LEN, fio_ext_step, &c, 0);
		if (bpf_map_lookup_elem(&fio_exts, &c.k))
			return true;
	}
	w.dentry = (__u64)d;
	bpf_loop(AT_FIO_DIR_DEPTH, fio_dir_step, &w, 0);
	return w.hit;
}

#endif
