// SPDX-License-Identifier: Apache-2.0
/* The module table (agent/module.h) and the walks over it. */
#include <string.h>

#include "agent/module.h"
#include "common/log.h"
#include "common/util.h"

#define AGENT_MODULE_ROW(name) &name##_module,
const struct agent_module *const agent_modules[] = { AGENT_MODULES(AGENT_MODULE_ROW) };
#undef AGENT_MODULE_ROW
const size_t agent_n_modules = ARRAY_SIZE(agent_modules);

const struct agent_module *module_of_prog(const char *prog)
{
	const char *const *p;
	size_t i;

	for (i = 0; i < agent_n_modules; i++)
		for (p = agent_modules[i]->progs; p && *p; p++)
			if (!strncmp(prog, *p, strlen(*p)))
				return agent_modules[i];
	return NULL;
}

void modules_autoload(struct bpf_object *obj)
{
	size_t i;

	for (i = 0; i < agent_n_modules; i++)
		if (agent_modules[i]->autoload)
			agent_modules[i]->autoload(obj);
}

int modules_start(struct agent *a)
{
	size_t i;
	int err;

	for (i = 0; i < agent_n_modules; i++) {
		if (!agent_modules[i]->start)
			continue;
		err = agent_modules[i]->start(a);
		if (err) {
			log_error("failed to start the %s module: %s", agent_modules[i]->name,
				  strerror(err < 0 ? -err : err));
			return err;
		}
	}
	return 0;
}

void modules_sweep(struct agent *a)
{
	size_t i;

	for (i = 0; i < agent_n_modules; i++)
		if (agent_modules[i]->sweep)
			agent_modules[i]->sweep(a);
}

void modules_stop(struct agent *a)
{
	size_t i;

	for (i = agent_n_modules; i-- > 0;)
		if (agent_modules[i]->stop)
			agent_modules[i]->stop(a);
}
