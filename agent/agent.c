// SPDX-License-Identifier: Apache-2.0
/* The agent object's setup and teardown. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/loop.h"
#include "agent/proctable.h"
#include "agent/sessions.h"
#include "common/log.h"
#include "common/util.h"

static void read_id_file(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");

	out[0] = '\0';
	if (!f) {
		log_warn("failed to read %s: %s; session ids use an empty value", path,
			 strerror(errno));
		return;
	}
	if (fgets(out, len, f))
		out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

void agent_init(struct agent *a, struct agent_config *cfg)
{
	a->cfg = cfg;
	a->json_out = stdout;
	arena_init(&a->arena, 0);
	if (gethostname(a->hostname, sizeof(a->hostname) - 1))
		snprintf(a->hostname, sizeof(a->hostname), "unknown");
	read_id_file("/etc/machine-id", a->machine_id, sizeof(a->machine_id));
	read_id_file("/proc/sys/kernel/random/boot_id", a->boot_id, sizeof(a->boot_id));
	a->boot_to_unix = (int64_t)(now_realtime_ns() - now_boottime_ns());
}

void agent_free(struct agent *a)
{
	loop_free(a);
	sessions_free(a);
	proctable_free(a);
	arena_free(&a->arena);
}
