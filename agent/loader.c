// SPDX-License-Identifier: Apache-2.0
/*
 * Kernel side bring-up: probe what this kernel offers, open the one skeleton (every module's
 * programs), size and fill it from the configuration, let each module turn off what this kernel
 * cannot run, load, seed the session maps, attach.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/agent.h"
#include "agent/dispatch.h"
#include "agent/loader.h"
#include "agent/loop.h"
#include "agent/module.h"
#include "agent/procscan.h"
#include "bpf/aitrail.skel.h"
#include "agent/partsoff.h"
#include "common/util.h"
#include "bpf/session.h"
#include "common/log.h"

#define BPF_FS_MAGIC_ 0xcafe4a11
#define MAX_LOAD_RETRIES 16

/* names of programs the verifier refused during the last load attempt */
static char failed_progs[MAX_LOAD_RETRIES][64];
static int n_failed_progs;

static void note_failed_prog(const char *msg)
{
	const char *p = strstr(msg, "prog '"), *q;
	size_t n;
	int i;

	if (!p || (!strstr(msg, "failed to load") && !strstr(msg, "load failed")))
		return;
	p += 6;
	q = strchr(p, '\'');
	if (!q)
		return;
	n = q - p;
	if (n >= sizeof(failed_progs[0]))
		return;
	for (i = 0; i < n_failed_progs; i++)
		if (!strncmp(failed_progs[i], p, n) && failed_progs[i][n] == '\0')
			return;
	if (n_failed_progs < MAX_LOAD_RETRIES) {
		memcpy(failed_progs[n_failed_progs], p, n);
		failed_progs[n_failed_progs][n] = '\0';
		n_failed_progs++;
	}
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *msg = NULL, *line, *save = NULL;
	va_list cp;

	va_copy(cp, ap);
	if (vasprintf(&msg, fmt, cp) < 0)
		msg = NULL;
	va_end(cp);
	if (!msg)
		return 0;
	note_failed_prog(msg);
	/* libbpf warns during feature probing too: everything it says is for --verbose; the
	 * verifier log comes as one multi-line message, logged line by line */
	if (log_min_level <= LOG_LVL_DEBUG)
		for (line = strtok_r(msg, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			log_msg(LOG_LVL_DEBUG, "libbpf", 0, "%s", line);
	free(msg);
	return 0;
}

static int kernel_version(int *major, int *minor)
{
	struct utsname u;

	if (uname(&u) || sscanf(u.release, "%d.%d", major, minor) != 2)
		return -EINVAL;
	return 0;
}

int loader_probe(void)
{
	int major = 0, minor = 0;

	if (geteuid() != 0) {
		log_error("failed to start: aitrail-agent must run as root (it loads BPF programs)");
		return -EPERM;
	}
	if (kernel_version(&major, &minor)) {
		log_error("failed to read the kernel version from uname");
		return -EINVAL;
	}
	if (major < 5 || (major == 5 && minor < 8)) {
		log_error("failed to start: kernel %d.%d is too old, aitrail needs Linux 5.8 or newer "
			  "(BPF ring buffer, tp_btf)", major, minor);
		return -ENOTSUP;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		log_error("failed to start: this kernel has no BTF (/sys/kernel/btf/vmlinux: %s); "
			  "aitrail needs a kernel built with CONFIG_DEBUG_INFO_BTF=y", strerror(errno));
		return -ENOTSUP;
	}
	libbpf_set_print(libbpf_print);
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) != 1) {
		log_error("failed to start: this kernel has no BPF ring buffer (needs Linux 5.8+)");
		return -ENOTSUP;
	}
	return 0;
}

/* Syscall tracepoints are found through tracefs; pinning needs bpffs. Mount what is missing. */
static void mount_filesystems(void)
{
	struct statfs st;

	if (access("/sys/kernel/tracing/events", F_OK) &&
	    access("/sys/kernel/debug/tracing/events", F_OK)) {
		if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL))
			log_warn("failed to mount tracefs on /sys/kernel/tracing: %s; syscall "
				 "tracepoints will not attach", strerror(errno));
		else
			log_info("mounted tracefs on /sys/kernel/tracing");
	}
	if (statfs("/sys/fs/bpf", &st) || st.f_type != BPF_FS_MAGIC_) {
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
			log_warn("failed to mount bpffs on /sys/fs/bpf: %s", strerror(errno));
		else
			log_info("mounted bpffs on /sys/fs/bpf");
	}
}

static int fill_rodata(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	uint32_t n_argv = 0, n_env = 0;
	int i;

	for (i = 0; i < c->n_tools; i++) {
		n_argv += c->tools[i].n_argv;
		n_env += c->tools[i].n_env;
	}
	if (n_argv > AT_SIG_MAX_PATTERNS || n_env > AT_SIG_MAX_PATTERNS) {
		log_error("failed to load signatures: %u argv patterns and %u env markers configured, "
			  "the kernel tables hold %d of each", n_argv, n_env, AT_SIG_MAX_PATTERNS);
		return -E2BIG;
	}
	a->skel->rodata->sess_n_argv = n_argv;
	a->skel->rodata->sess_n_env = n_env;
	for (i = 0; i < c->n_tools; i++) {
		int j;

		for (j = 0; j < c->tools[i].n_argv; j++)
			a->skel->rodata->sess_argv_first[(uint8_t)c->tools[i].argv[j][0]] = 1;
		for (j = 0; j < c->tools[i].n_env; j++)
			a->skel->rodata->sess_env_first[(uint8_t)c->tools[i].env[j][0]] = 1;
	}
	return 0;
}

static int put_name(int fd, const char *name, const void *val)
{
	char key[AT_SIG_NAME_LEN] = {};

	strncpy(key, name, sizeof(key) - 1);
	if (bpf_map_update_elem(fd, key, val, BPF_ANY))
		return -errno;
	return 0;
}

static int put_pattern(int fd, uint32_t idx, const char *pat, uint16_t tool)
{
	struct at_sig_pattern p = {};

	p.len = strnlen(pat, sizeof(p.pat) - 1);
	memcpy(p.pat, pat, p.len);
	p.tool = tool;
	if (bpf_map_update_elem(fd, &idx, &p, BPF_ANY))
		return -errno;
	return 0;
}

static int fill_signatures(struct agent *a)
{
	const struct agent_config *c = a->cfg;
	int names = bpf_map__fd(a->skel->maps.sig_names);
	int interp = bpf_map__fd(a->skel->maps.sig_interp);
	int argv = bpf_map__fd(a->skel->maps.sig_argv);
	int env = bpf_map__fd(a->skel->maps.sig_env);
	uint32_t na = 0, ne = 0;
	uint8_t one = 1;
	int i, j, err = 0;

	for (i = 0; i < c->n_interpreters && !err; i++)
		err = put_name(interp, c->interpreters[i], &one);
	for (i = 0; i < c->n_tools && !err; i++) {
		uint16_t tool = i + 1;

		for (j = 0; j < c->tools[i].n_names && !err; j++)
			err = put_name(names, c->tools[i].names[j], &tool);
		for (j = 0; j < c->tools[i].n_argv && !err; j++)
			err = put_pattern(argv, na++, c->tools[i].argv[j], tool);
		for (j = 0; j < c->tools[i].n_env && !err; j++)
			err = put_pattern(env, ne++, c->tools[i].env[j], tool);
	}
	if (err)
		log_error("failed to fill the signature maps: %s", strerror(-err));
	return err;
}

static bool is_core_prog(const char *name)
{
	const struct agent_module *m = module_of_prog(name);

	return m && m->core;
}

/* Opens and loads the skeleton, turning off programs this kernel refuses (not the core ones). */
static int open_and_load(struct agent *a)
{
	char off[MAX_LOAD_RETRIES][64];
	int n_off = 0, attempt, err, i;

	for (attempt = 0; attempt < MAX_LOAD_RETRIES; attempt++) {
		struct bpf_program *prog;

		a->skel = aitrail__open();
		if (!a->skel) {
			log_error("failed to open the BPF object: %s", strerror(errno));
			return -errno;
		}
		bpf_map__set_max_entries(a->skel->maps.rb_core, a->cfg->rb_core_kb * 1024);
		bpf_map__set_max_entries(a->skel->maps.rb_file, a->cfg->rb_file_kb * 1024);
		bpf_map__set_max_entries(a->skel->maps.tracked, a->cfg->max_tracked);
		err = fill_rodata(a);
		if (err)
			return err;
		modules_autoload(a->skel->obj);
		for (i = 0; i < n_off; i++) {
			prog = bpf_object__find_program_by_name(a->skel->obj, off[i]);
			if (prog)
				bpf_program__set_autoload(prog, false);
		}
		n_failed_progs = 0;
		err = aitrail__load(a->skel);
		if (!err)
			return 0;
		if (n_failed_progs == 0) {
			log_error("failed to load the BPF object: %s (run with --verbose for the "
				  "verifier log)", strerror(-err));
			return err;
		}
		for (i = 0; i < n_failed_progs; i++) {
			if (is_core_prog(failed_progs[i])) {
				log_error("failed to load program %s, which session tracking needs: %s "
					  "(run with --verbose for the verifier log)", failed_progs[i],
					  strerror(-err));
				return err;
			}
			if (n_off < MAX_LOAD_RETRIES) {
				log_warn("program %s does not load on this kernel: turned off, its "
					 "events will be missing (--verbose shows why)", failed_progs[i]);
				part_off(failed_progs[i], "the verifier refused it");
				memcpy(off[n_off++], failed_progs[i], sizeof(off[0]));
			}
		}
		aitrail__destroy(a->skel);
		a->skel = NULL;
	}
	log_error("failed to load the BPF object: too many programs refused");
	return -EINVAL;
}

static int on_record(void *ctx, void *data, size_t size)
{
	return dispatch_record(ctx, data, size);
}

/*
 * While records flow, the agent reads the rings every RING_POLL_MS on a timer and tells the
 * kernel so (file_poll): file records then do not wake it one by one. Once a poll finds
 * nothing, records wake it again; a last sweep RING_SWEEP_MS later collects any record that
 * raced with the switch.
 */
#define RING_POLL_MS 10
#define RING_SWEEP_MS 1000

static int poll_tfd = -1;
static bool sweeping;

static void set_poll(struct agent *a, uint64_t until_ns, uint64_t timer_ns)
{
	struct itimerspec its = {
		.it_value = { timer_ns / 1000000000ULL, timer_ns % 1000000000ULL },
	};
	uint32_t zero = 0;

	if (bpf_map_update_elem(bpf_map__fd(a->skel->maps.file_poll), &zero, &until_ns, BPF_ANY))
		log_debug("failed to update file_poll: %s", strerror(errno));
	if (timerfd_settime(poll_tfd, TFD_TIMER_ABSTIME, &its, NULL))
		log_warn("failed to arm the ring poll timer: %s", strerror(errno));
}

static int consume(struct agent *a)
{
	int n = ring_buffer__consume(a->rb);

	if (n < 0)
		log_warn("failed to read the ring buffers: %s", strerror(-n));
	return n;
}

static void poll_next(struct agent *a)
{
	uint64_t next = now_mono_ns() + RING_POLL_MS * 1000000ULL;

	sweeping = false;
	set_poll(a, next, next);
}

static void on_ring(struct agent *a, int fd, uint32_t events, void *arg)
{
	if (consume(a) > 0 && poll_tfd >= 0)
		poll_next(a);
}

static void on_poll(struct agent *a, int fd, uint32_t events, void *arg)
{
	uint64_t ticks;

	if (read(fd, &ticks, sizeof(ticks)) < 0)
		return;
	if (consume(a) > 0) {
		poll_next(a);
		return;
	}
	if (sweeping) {
		sweeping = false;
		set_poll(a, 0, 0);
		return;
	}
	/* quiet: records wake the agent again from now on */
	sweeping = true;
	set_poll(a, 0, now_mono_ns() + RING_SWEEP_MS * 1000000ULL);
	if (consume(a) > 0)
		poll_next(a);
}

static bool prog_loaded(struct bpf_object *obj, const char *name)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, name);

	return prog && bpf_program__fd(prog) >= 0;
}

/*
 * One line saying which optional parts (the modules' rows) this kernel runs, and why each one
 * that doesn't is off, for whoever reads the start log.
 */
static void log_parts(struct agent *a)
{
	struct bpf_object *obj = a->skel->obj;
	const struct agent_part *p;
	struct bpf_program *prog;
	char parts[512] = "", off[4096];
	size_t i, len = 0;
	int n = 0;

	bpf_object__for_each_program(prog, obj)
		n += bpf_program__fd(prog) >= 0;
	for (i = 0; i < agent_n_modules; i++)
		for (p = agent_modules[i]->parts; p && p->what && len < sizeof(parts); p++)
			len += snprintf(parts + len, sizeof(parts) - len, "%s%s %s",
					len ? ", " : "", p->what,
					prog_loaded(obj, p->prog) ? p->on : p->off);
	parts_off_format(off, sizeof(off));
	log_info("kernel programs: %d loaded; %s%s", n, parts, off);
}

int loader_start(struct agent *a)
{
	int err;

	mount_filesystems();
	err = open_and_load(a);
	if (err)
		goto cleanup;
	err = fill_signatures(a);
	if (err)
		goto cleanup;
	/* seed sessions already running before attach, so their children are tracked from fork */
	err = procscan_run(a);
	if (err)
		goto cleanup;
	err = aitrail__attach(a->skel);
	if (err) {
		log_error("failed to attach the BPF programs: %s", strerror(-err));
		goto cleanup;
	}
	log_parts(a);
	a->rb = ring_buffer__new(bpf_map__fd(a->skel->maps.rb_core), on_record, a, NULL);
	if (!a->rb) {
		err = -errno;
		log_error("failed to open the core ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	err = ring_buffer__add(a->rb, bpf_map__fd(a->skel->maps.rb_file), on_record, a);
	if (err) {
		log_error("failed to open the file ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	err = loop_add_fd(a, ring_buffer__epoll_fd(a->rb), EPOLLIN, on_ring, NULL);
	if (err)
		goto cleanup;
	/* without the poll timer every record wakes the agent: slower, nothing lost */
	poll_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (poll_tfd < 0 || loop_add_fd(a, poll_tfd, EPOLLIN, on_poll, NULL)) {
		log_warn("failed to set up the ring poll timer: %s", strerror(errno));
		if (poll_tfd >= 0)
			close(poll_tfd);
		poll_tfd = -1;
	}
	return 0;
cleanup:
	loader_stop(a);
	return err;
}

/* Detaches, then reads what the kernel wrote before that: nothing accepted is dropped. */
void loader_drain(struct agent *a)
{
	if (a->skel)
		aitrail__detach(a->skel);
	if (a->rb)
		ring_buffer__consume(a->rb);
}

void loader_stop(struct agent *a)
{
	if (poll_tfd >= 0) {
		if (a->loop)
			loop_del_fd(a, poll_tfd);
		close(poll_tfd);
		poll_tfd = -1;
	}
	if (a->rb) {
		if (a->loop)
			loop_del_fd(a, ring_buffer__epoll_fd(a->rb));
		ring_buffer__free(a->rb);
		a->rb = NULL;
	}
	aitrail__destroy(a->skel);
	a->skel = NULL;
}

int loader_read_counters(struct agent *a, uint64_t *out)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t *vals;
	uint32_t k;
	int fd, i;

	if (!a->skel || ncpu <= 0)
		return -ENODEV;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	fd = bpf_map__fd(a->skel->maps.counters);
	for (k = 0; k < AT_CNT_MAX; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals))
			continue;
		for (i = 0; i < ncpu; i++)
			out[k] += vals[i];
	}
	free(vals);
	return 0;
}
