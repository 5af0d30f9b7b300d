/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel's loss and truncation counters, spelled once. Each row is one slot of the per-CPU
 * `counters` map: X(NAME, slot, field), where AT_CNT_NAME is what BPF programs count with and
 * `field` is the LossCounters field of proto/event.proto the agent reports it in (the agent's
 * stats fill and tests/unit/test_counters.c are driven by this list). Slots are numbered once
 * and never reused: append a new counter with the next free slot.
 */
#ifndef AITRAIL_COUNTERS_H
#define AITRAIL_COUNTERS_H

#define AT_COUNTERS(X)                                                                            \
	/* core ring buffer full: exec/exit/session/net record lost */                            \
	X(RB_CORE_FULL, 0, rb_core_full)                                                           \
	/* file ring buffer full: file change record (file_*) lost */                              \
	X(RB_FILE_FULL, 1, rb_file_full)                                                           \
	/* bpf_probe_read_user* failed: field left empty */                                        \
	X(READ_USER_FAIL, 2, read_user_fail)                                                       \
	/* path longer than the buffer or deeper than the walk */                                  \
	X(PATH_TRUNC, 3, path_trunc)                                                               \
	/* argv longer than AT_ARGV_MAX */                                                         \
	X(ARGV_TRUNC, 4, argv_trunc)                                                               \
	/* tracked-process map full: a descendant was not tracked */                               \
	X(TRACKED_FULL, 5, tracked_full)                                                           \
	/* environment longer than the scanned window */                                           \
	X(ENV_SCAN_TRUNC, 6, env_scan_trunc)                                                       \
	/* bpf_probe_read_kernel* failed */                                                        \
	X(READ_KERN_FAIL, 7, read_kern_fail)                                                       \
	/* syscall enter/exit pairing map full: record lost */                                     \
	X(PENDING_FULL, 8, pending_full)                                                           \
	/* open-connection map full: that connection's net_close lost */                           \
	X(NETCLOSE_FULL, 9, netclose_full)                                                         \
	/* file ring full: a write/read tracking record lost, so a file_write or file_read is      \
	 * missing or incomplete */                                                                \
	X(RB_FILEIO_FULL, 10, rb_fileio_full)                                                      \
	/* a DNS-over-TCP stream given up: its later messages lost */                              \
	X(DNS_TCP_UNPARSED, 11, dns_tcp_unparsed)

/* Loss and truncation counters, one slot each in the per-CPU `counters` map. */
enum at_counter {
#define AT_COUNTER_ENUM(name, slot, field) AT_CNT_##name = slot,
	AT_COUNTERS(AT_COUNTER_ENUM)
#undef AT_COUNTER_ENUM
	AT_CNT_MAX = 32, /* slots in the map */
};

#endif
