// SPDX-License-Identifier: Apache-2.0
/*
 * Ring-buffer record -> the row of the module that decodes its type. The rows are the
 * modules' own (agent/module.h): nothing here names a module or a record type.
 */
#include <stddef.h>
#include <string.h>

#include "agent/dispatch.h"
#include "agent/emit.h"
#include "agent/module.h"

/* Record types are numbered below 128 (bpf/aitrail.h); the index is built on first use. */
#define DISPATCH_TYPES 128

const struct agent_rec *dispatch_find(uint32_t type)
{
	static const struct agent_rec *by_type[DISPATCH_TYPES];
	static bool indexed;
	const struct agent_rec *r;
	size_t i;

	if (!indexed) {
		for (i = 0; i < agent_n_modules; i++)
			for (r = agent_modules[i]->recs; r && r->type; r++)
				if (r->type < DISPATCH_TYPES && !by_type[r->type])
					by_type[r->type] = r;
		indexed = true;
	}
	return type < DISPATCH_TYPES ? by_type[type] : NULL;
}

int dispatch_record(struct agent *a, const void *data, size_t size)
{
	uint32_t type = 0;

	if (size >= sizeof(struct at_hdr))
		memcpy(&type, (const char *)data + offsetof(struct at_hdr, type), sizeof(type));
	return agent_emit_record(a, dispatch_find(type), data, size);
}
