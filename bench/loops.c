// SPDX-License-Identifier: Apache-2.0
/*
 * The benchmark's workload: tight syscall loops, a paced file-event generator and a command
 * runner. Standalone on purpose (no project libraries): the bench copies this binary under the
 * name `claude` to make it a session root, and runs it under its own name for the untracked
 * case, so both cases execute exactly the same code.
 *
 * Every result is one JSON line on stdout; the driver (bench/bench.py) does the statistics.
 *
 *   loops [--loginuid N] open-ro ITERS ROUNDS              openat("/dev/null", O_RDONLY) + close
 *   loops [--loginuid N] open-wr ITERS ROUNDS FILE         openat(FILE, O_WRONLY|O_CREAT) + close
 *   loops [--loginuid N] write ITERS ROUNDS FILE           write(fd, 64 bytes)
 *   loops [--loginuid N] connect ITERS ROUNDS              TCP connect to a loopback listener
 *   loops [--loginuid N] rate PER_SEC SECONDS DIR [PROCS]  paced file creations, one event each
 *   loops [--loginuid N] run CMD [ARG...]                  run CMD, report wall and CPU time
 *
 * --loginuid sets the audit login uid before anything else, so auditd rules can select this
 * process and all its descendants with -F auid=N (auditd's only way to follow a process tree).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *obj)
{
	fprintf(stderr, "loops: failed to %s %s: %s\n", what, obj, strerror(errno));
	exit(1);
}

static long parse_pos(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v <= 0) {
		fprintf(stderr, "loops: invalid %s '%s': expected a positive integer\n", what, s);
		exit(2);
	}
	return v;
}

static void report(const char *mode, int round, long iters, uint64_t ns)
{
	printf("{\"mode\":\"%s\",\"round\":%d,\"iters\":%ld,\"ns\":%llu,\"ns_per_call\":%.2f}\n",
	       mode, round, iters, (unsigned long long)ns, (double)ns / (double)iters);
	fflush(stdout);
}

static void loop_open_ro(long iters)
{
	for (long i = 0; i < iters; i++) {
		int fd = openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0)
			die("open", "/dev/null");
		close(fd);
	}
}

static const char *g_file;

static void loop_open_wr(long iters)
{
	for (long i = 0; i < iters; i++) {
		int fd = openat(AT_FDCWD, g_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0)
			die("open", g_file);
		close(fd);
	}
}

static int g_wfd = -1;

static void loop_write(long iters)
{
	static const char buf[64] = "aitrail bench write loop, 64 bytes per call...................\n";

	/* Start each round at offset 0 so the file stays small and the page cache warm. */
	if (ftruncate(g_wfd, 0) || lseek(g_wfd, 0, SEEK_SET) < 0)
		die("truncate", g_file);
	for (long i = 0; i < iters; i++) {
		if (write(g_wfd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			die("write", g_file);
	}
}

static int g_lfd = -1;
static struct sockaddr_in g_laddr;

/*
 * The listener lives in this process: connect() completes against the backlog, accept() takes
 * the connection off it, and both ends close with SO_LINGER 0 so no TIME_WAIT socket piles up
 * and the ephemeral port range never runs out, however many iterations.
 */
static void listener_open(void)
{
	socklen_t len = sizeof(g_laddr);
	int one = 1;

	g_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (g_lfd < 0)
		die("create", "listening socket");
	setsockopt(g_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&g_laddr, 0, sizeof(g_laddr));
	g_laddr.sin_family = AF_INET;
	g_laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(g_lfd, (struct sockaddr *)&g_laddr, sizeof(g_laddr)))
		die("bind", "127.0.0.1:0");
	if (listen(g_lfd, 128))
		die("listen on", "127.0.0.1");
	if (getsockname(g_lfd, (struct sockaddr *)&g_laddr, &len))
		die("get address of", "listening socket");
}

static void close_rst(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void loop_connect(long iters)
{
	for (long i = 0; i < iters; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), s;

		if (c < 0)
			die("create", "socket");
		if (connect(c, (struct sockaddr *)&g_laddr, sizeof(g_laddr)))
			die("connect to", "loopback listener");
		s = accept4(g_lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s < 0)
			die("accept", "loopback connection");
		close_rst(c);
		close(s);
	}
}

static int run_loop(const char *mode, void (*fn)(long), long iters, long rounds)
{
	/* Warm-up round, not reported: page cache, dentry cache, branch predictors, CPU clock. */
	fn(iters / 4 + 1);
	for (int r = 0; r < rounds; r++) {
		uint64_t t0 = now_ns();

		fn(iters);
		report(mode, r, iters, now_ns() - t0);
	}
	return 0;
}

/*
 * Paced generator: every millisecond catch up to where the schedule says we should be, so the
 * offered rate is exact over the run when the process keeps up, and "achieved" says so when it
 * does not. Each creation of a file is one file_open event with write intent; names cycle
 * through a fixed set so the directory stays small.
 */
static long rate_worker(long per_sec, long seconds, const char *dir, int worker)
{
	long total = per_sec * seconds, done = 0;
	uint64_t t0 = now_ns(), late = (uint64_t)(seconds + 5) * 1000000000ull, t;
	char path[4096];

	while (done < total) {
		t = now_ns() - t0;
		long due = (long)((double)t * (double)per_sec / 1e9) + 1;

		if (due > total)
			due = total;
		for (; done < due; done++) {
			int fd;

			snprintf(path, sizeof(path), "%s/w%d-%ld", dir, worker, done & 1023);
			fd = openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			if (fd < 0)
				die("create", path);
			close(fd);
		}
		if (t > late)
			break; /* far behind schedule: stop and report what was achieved */
		if (done < total && now_ns() - t0 < (uint64_t)((double)(done + 1) * 1e9 / per_sec)) {
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		}
	}
	return done;
}

/* PROCS workers share the rate; each reports its count through its exit pipe. */
static int run_rate(long per_sec, long seconds, const char *dir, long procs)
{
	uint64_t t0 = now_ns(), t;
	long done = 0;
	int fds[64];

	if (procs > 64) {
		fprintf(stderr, "loops: invalid worker count %ld: at most 64\n", procs);
		return 2;
	}
	for (int w = 0; w < procs; w++) {
		int p[2];
		pid_t pid;

		if (pipe(p))
			die("create", "pipe");
		pid = fork();
		if (pid < 0)
			die("fork", "rate worker");
		if (pid == 0) {
			long n = rate_worker(per_sec / procs, seconds, dir, w);

			if (write(p[1], &n, sizeof(n)) != sizeof(n))
				_exit(1);
			_exit(0);
		}
		close(p[1]);
		fds[w] = p[0];
	}
	for (int w = 0; w < procs; w++) {
		long n = 0;

		if (read(fds[w], &n, sizeof(n)) != sizeof(n))
			die("read count of", "rate worker");
		close(fds[w]);
		done += n;
	}
	while (wait(NULL) > 0)
		;
	t = now_ns() - t0;
	printf("{\"mode\":\"rate\",\"target_per_s\":%ld,\"procs\":%ld,\"ops\":%ld,\"ns\":%llu,"
	       "\"achieved_per_s\":%.1f,\"pid\":%d}\n",
	       per_sec, procs, done, (unsigned long long)t, (double)done * 1e9 / (double)t, getpid());
	fflush(stdout);
	return 0;
}

static int run_cmd(char **argv)
{
	struct rusage ru;
	uint64_t t0 = now_ns(), wall;
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		die("fork", argv[0]);
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "loops: failed to execute %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("wait for", argv[0]);
	wall = now_ns() - t0;
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("{\"mode\":\"run\",\"wall_ns\":%llu,\"user_ns\":%llu,\"sys_ns\":%llu,\"status\":%d}\n",
	       (unsigned long long)wall,
	       (unsigned long long)ru.ru_utime.tv_sec * 1000000000ull + ru.ru_utime.tv_usec * 1000ull,
	       (unsigned long long)ru.ru_stime.tv_sec * 1000000000ull + ru.ru_stime.tv_usec * 1000ull,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	fflush(stdout);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static void set_loginuid(const char *v)
{
	int fd = open("/proc/self/loginuid", O_WRONLY);

	parse_pos(v, "login uid");
	if (fd < 0)
		die("open", "/proc/self/loginuid");
	if (write(fd, v, strlen(v)) != (ssize_t)strlen(v))
		die("write", "/proc/self/loginuid");
	close(fd);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loops [--loginuid N] open-ro|connect ITERS ROUNDS\n"
		"       loops [--loginuid N] open-wr|write ITERS ROUNDS FILE\n"
		"       loops [--loginuid N] rate PER_SEC SECONDS DIR [PROCS]\n"
		"       loops [--loginuid N] run CMD [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *mode;

	argv++, argc--;
	if (argc >= 2 && !strcmp(argv[0], "--loginuid")) {
		set_loginuid(argv[1]);
		argv += 2, argc -= 2;
	}
	if (argc < 1)
		usage();
	mode = argv[0];
	if (!strcmp(mode, "run")) {
		if (argc < 2)
			usage();
		return run_cmd(argv + 1);
	}
	if (!strcmp(mode, "rate")) {
		if (argc != 4 && argc != 5)
			usage();
		return run_rate(parse_pos(argv[1], "rate"), parse_pos(argv[2], "seconds"), argv[3],
				argc == 5 ? parse_pos(argv[4], "worker count") : 1);
	}
	if (argc < 3)
		usage();
	long iters = parse_pos(argv[1], "iterations"), rounds = parse_pos(argv[2], "rounds");

	if (!strcmp(mode, "open-ro") && argc == 3)
		return run_loop(mode, loop_open_ro, iters, rounds);
	if (!strcmp(mode, "connect") && argc == 3) {
		listener_open();
		return run_loop(mode, loop_connect, iters, rounds);
	}
	if (argc != 4)
		usage();
	g_file = argv[3];
	if (!strcmp(mode, "open-wr"))
		return run_loop(mode, loop_open_wr, iters, rounds);
	if (!strcmp(mode, "write")) {
		g_wfd = open(g_file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (g_wfd < 0)
			die("open", g_file);
		return run_loop(mode, loop_write, iters, rounds);
	}
	usage();
	return 2;
}
