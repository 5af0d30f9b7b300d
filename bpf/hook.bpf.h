/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How a program is declared: one way per kind of hook, so every program reads the same.
 *
 *   tp_btf, raw_tp        SEC("tp_btf/<event>") int BPF_PROG(<name>, <the event's arguments>)
 *                         libbpf's BPF_PROG: the arguments typed as the event's BTF has them.
 *   syscall tracepoints   AT_SYS_ENTER(<name>, <syscall>) { ... }
 *                         AT_SYS_EXIT(<name>, <syscall>) { ... }
 *                         The body has a typed ctx: struct trace_event_raw_sys_enter, the
 *                         arguments in ctx->args[0..5] (cast to what the syscall takes), or
 *                         struct trace_event_raw_sys_exit, the return value in ctx->ret.
 *                         AT_SYS_EXIT_RET(<name>, <syscall>, fn): the whole program is
 *                         return fn(ctx->ret), fn an int function of the return value.
 *   cgroup, iter          SEC("<kind>") int <name>(<the kind's context> *ctx)
 *
 * A program's name is spelled out where it is defined, never pasted together: the agent turns
 * programs off by name, and grep must find them. What a tracepoint program returns only tells
 * perf whether it may record the event as well: 0, or whatever the handler returned.
 */
#ifndef AITRAIL_HOOK_BPF_H
#define AITRAIL_HOOK_BPF_H

#define AT_SYS_ENTER(prog, sys)                                                                    \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                                 \
	int prog(struct trace_event_raw_sys_enter *ctx)

#define AT_SYS_EXIT(prog, sys)                                                                     \
	SEC("tracepoint/syscalls/sys_exit_" #sys)                                                  \
	int prog(struct trace_event_raw_sys_exit *ctx)

#define AT_SYS_EXIT_RET(prog, sys, fn)                                                             \
	AT_SYS_EXIT(prog, sys)                                                                     \
	{                                                                                          \
		return fn(ctx->ret);                                                               \
	}

#endif
