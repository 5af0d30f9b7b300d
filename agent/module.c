// SPDX-License-Identifier: Apache-2.0
/* The module table (agent/module.h) and the walks over it. */
#include <string.h>

#include "agent/module.h"
#include "agent/sweep.h"
#include "common/log.h"
#include "common/util.h"

#define AGENT_MODULE_ROW(name) &name##_module,
const struct agent_module *const agent_modules[] = { AGENT_MODULES(AGENT_MODULE_ROW) };
#undef AGENT_MODULE_ROW
const size_t agent_n_modules = ARRAY_SIZE(agent_modules);

/* Each module m in table order (i: its index). */
#define for_each_module(i, m) for ((i) = 0; (i) < agent_n_modules && ((m) = agent_modules[i]); (i)++)

const struct agent_module *module_of_prog(const char *prog)
{
	const struct agent_module *m;
	const char *const *p;
	size_t i;

	for_each_module(i, m)
		for (p = m->progs; p && *p; p++)
			if (!strncmp(prog, *p, strlen(*p)))
				return m;
	return NULL;
}

void modules_autoload(struct bpf_object *obj)
{
	const struct agent_module *m;
	size_t i;

	for_each_module(i, m)
		if (m->autoload)
			m->autoload(obj);
}

int modules_start(struct agent *a)
{
	const struct agent_module *m;
	size_t i;
	int err;

	for_each_module(i, m) {
		err = m->held ? sweeper_start(a, m->held) : 0;
		if (!err && m->start)
			err = m->start(a);
		if (err) {
			log_error("failed to start the %s module: %s", m->name,
				  strerror(err < 0 ? -err : err));
			return err;
		}
	}
	return 0;
}

void modules_sweep(struct agent *a)
{
	const struct agent_module *m;
	size_t i;

	for_each_module(i, m) {
		if (m->held)
			m->held->sweep(a, true);
		if (m->sweep)
			m->sweep(a);
	}
}

/* In reverse: the last started is the first stopped. */
void modules_stop(struct agent *a)
{
	size_t i;

	for (i = agent_n_modules; i-- > 0;)
		if (agent_modules[i]->stop)
			agent_modules[i]->stop(a);
}
