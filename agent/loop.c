// SPDX-License-Identifier: Apache-2.0
/*
 * The agent's one epoll loop. Everything that waits (ring buffers, signals, timers, and the
 * shipper's sockets) is an fd registered here, so the daemon has a single thread of control.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/loop.h"
#include "agent/sessions.h"
#include "common/log.h"

#define LOOP_MAX_FDS 64
#define LOOP_POLL_MS 1000

struct loop_entry {
	int fd;
	int is_timer;
	loop_fd_cb fd_cb;
	loop_timer_cb timer_cb;
	void *arg;
};

#define LOOP_MAX_RELOAD 8
#define LOOP_MAX_IDLE 4

struct loop;
static struct loop *get_loop(struct agent *a);

struct loop {
	int epfd;
	int stop;
	struct loop_entry entries[LOOP_MAX_FDS];
	struct {
		loop_timer_cb cb;
		void *arg;
	} reload[LOOP_MAX_RELOAD];
	int n_reload;
	struct {
		loop_timer_cb cb;
		void *arg;
	} idle[LOOP_MAX_IDLE];
	int n_idle;
};

int loop_on_reload(struct agent *a, loop_timer_cb cb, void *arg)
{
	struct loop *l = get_loop(a);

	if (!l)
		return -ENOMEM;
	if (l->n_reload >= LOOP_MAX_RELOAD)
		return -ENOSPC;
	l->reload[l->n_reload].cb = cb;
	l->reload[l->n_reload].arg = arg;
	l->n_reload++;
	return 0;
}

int loop_on_idle(struct agent *a, loop_timer_cb cb, void *arg)
{
	struct loop *l = get_loop(a);

	if (!l)
		return -ENOMEM;
	if (l->n_idle >= LOOP_MAX_IDLE)
		return -ENOSPC;
	l->idle[l->n_idle].cb = cb;
	l->idle[l->n_idle].arg = arg;
	l->n_idle++;
	return 0;
}

static struct loop *get_loop(struct agent *a)
{
	if (!a->loop) {
		struct loop *l = calloc(1, sizeof(*l));
		int i;

		if (!l)
			return NULL;
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (l->epfd < 0) {
			log_error("failed to create epoll instance: %s", strerror(errno));
			free(l);
			return NULL;
		}
		for (i = 0; i < LOOP_MAX_FDS; i++)
			l->entries[i].fd = -1;
		a->loop = l;
	}
	return a->loop;
}

static struct loop_entry *add_entry(struct agent *a, int fd, uint32_t events)
{
	struct loop *l = get_loop(a);
	struct epoll_event ev = { .events = events };
	int i;

	if (!l)
		return NULL;
	for (i = 0; i < LOOP_MAX_FDS; i++)
		if (l->entries[i].fd < 0)
			break;
	if (i == LOOP_MAX_FDS) {
		log_error("failed to watch fd %d: too many fds in the loop", fd);
		return NULL;
	}
	ev.data.ptr = &l->entries[i];
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		log_error("failed to watch fd %d: %s", fd, strerror(errno));
		return NULL;
	}
	memset(&l->entries[i], 0, sizeof(l->entries[i]));
	l->entries[i].fd = fd;
	return &l->entries[i];
}

int loop_add_fd(struct agent *a, int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	struct loop_entry *e = add_entry(a, fd, events);

	if (!e)
		return -EINVAL;
	e->fd_cb = cb;
	e->arg = arg;
	return 0;
}

int loop_del_fd(struct agent *a, int fd)
{
	struct loop *l = a->loop;
	int i;

	if (!l)
		return -ENOENT;
	for (i = 0; i < LOOP_MAX_FDS; i++) {
		if (l->entries[i].fd == fd) {
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			if (l->entries[i].is_timer)
				close(fd);
			l->entries[i].fd = -1;
			return 0;
		}
	}
	return -ENOENT;
}

int loop_add_timer(struct agent *a, uint32_t interval_ms, loop_timer_cb cb, void *arg)
{
	struct itimerspec its = {
		.it_interval = { interval_ms / 1000, (interval_ms % 1000) * 1000000L },
		.it_value = { interval_ms / 1000, (interval_ms % 1000) * 1000000L },
	};
	struct loop_entry *e;
	int fd;

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0) {
		log_error("failed to create timer: %s", strerror(errno));
		return -errno;
	}
	if (timerfd_settime(fd, 0, &its, NULL)) {
		log_error("failed to arm timer: %s", strerror(errno));
		close(fd);
		return -errno;
	}
	e = add_entry(a, fd, EPOLLIN);
	if (!e) {
		close(fd);
		return -EINVAL;
	}
	e->is_timer = 1;
	e->timer_cb = cb;
	e->arg = arg;
	return fd;
}

void loop_stop(struct agent *a)
{
	if (a->loop)
		a->loop->stop = 1;
}

static void on_signal(struct agent *a, int fd, uint32_t events, void *arg)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		struct loop *l = a->loop;
		int i;

		if (si.ssi_signo == SIGHUP) {
			if (!l->n_reload)
				log_info("received HUP: nothing to reload");
			for (i = 0; i < l->n_reload; i++)
				l->reload[i].cb(a, l->reload[i].arg);
			continue;
		}
		log_info("received %s, stopping", sigabbrev_np(si.ssi_signo) ?
			 sigabbrev_np(si.ssi_signo) : "signal");
		loop_stop(a);
	}
}

int loop_run(struct agent *a)
{
	struct loop *l = get_loop(a);
	struct epoll_event evs[16];
	sigset_t mask;
	int sfd, n, i;

	if (!l)
		return -ENOMEM;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL)) {
		log_error("failed to block signals: %s", strerror(errno));
		return -errno;
	}
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		log_error("failed to create signalfd: %s", strerror(errno));
		return -errno;
	}
	if (loop_add_fd(a, sfd, EPOLLIN, on_signal, NULL)) {
		close(sfd);
		return -EINVAL;
	}
	while (!l->stop) {
		n = epoll_wait(l->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), LOOP_POLL_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("failed to wait for events: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			struct loop_entry *e = evs[i].data.ptr;

			if (e->fd < 0)
				continue;
			if (e->is_timer) {
				uint64_t ticks;

				if (read(e->fd, &ticks, sizeof(ticks)) == sizeof(ticks))
					e->timer_cb(a, e->arg);
			} else {
				e->fd_cb(a, e->fd, evs[i].events, e->arg);
			}
		}
		sessions_flush_ended(a);
		for (i = 0; i < l->n_idle; i++)
			l->idle[i].cb(a, l->idle[i].arg);
		if (a->json_out)
			fflush(a->json_out);
	}
	loop_del_fd(a, sfd);
	close(sfd);
	return 0;
}

void loop_free(struct agent *a)
{
	struct loop *l = a->loop;
	int i;

	if (!l)
		return;
	for (i = 0; i < LOOP_MAX_FDS; i++)
		if (l->entries[i].fd >= 0 && l->entries[i].is_timer)
			close(l->entries[i].fd);
	close(l->epfd);
	free(l);
	a->loop = NULL;
}
