/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's one epoll loop (agent/loop.c). Everything that waits (ring buffers, signals,
 * timers, and the shipper's sockets) is an fd registered here.
 */
#ifndef AITRAIL_LOOP_H
#define AITRAIL_LOOP_H

#include <stdint.h>

struct agent;

typedef void (*loop_fd_cb)(struct agent *a, int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(struct agent *a, void *arg);

/* Watches fd for events (EPOLLIN, ...) and calls cb from the loop. */
int loop_add_fd(struct agent *a, int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_del_fd(struct agent *a, int fd);
/* Calls cb every interval_ms from the loop (a timerfd). */
int loop_add_timer(struct agent *a, uint32_t interval_ms, loop_timer_cb cb, void *arg);
/* Calls cb from the loop on SIGHUP (e.g. reload a policy file). */
int loop_on_reload(struct agent *a, loop_timer_cb cb, void *arg);
/* cb runs at the end of every loop iteration, after the events it brought were emitted */
int loop_on_idle(struct agent *a, loop_timer_cb cb, void *arg);
int loop_run(struct agent *a);
void loop_stop(struct agent *a);
void loop_free(struct agent *a);

#endif
