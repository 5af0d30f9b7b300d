/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Destination classes: which vendor, registry or telemetry service a host name belongs to.
 * The built-in table (deploy/vendors.yaml lists the same entries) is always present; a vendor
 * file adds entries or overrides built-in ones of the same pattern. The most specific pattern
 * wins: an exact name beats any glob, and among globs the one with more literal characters.
 */
#ifndef AITRAIL_VENDOR_H
#define AITRAIL_VENDOR_H

#define VENDOR_PATTERN_MAX 128
#define VENDOR_NAME_MAX 48

/* Classes, as they appear in NetConnect.dst_class / NetClose.dst_class. */
#define VENDOR_CLASS_MODEL "model_vendor"
#define VENDOR_CLASS_TELEMETRY "telemetry"
#define VENDOR_CLASS_REGISTRY "package_registry"
#define VENDOR_CLASS_GIT "git_host"
#define VENDOR_CLASS_OTHER "other"

struct vendor_match {
	const char *dst_class; /* one of VENDOR_CLASS_*; "other" when nothing matched */
	const char *vendor;    /* "anthropic", "npm", ...; "" when nothing matched */
};

/* Classifies host (case-insensitive, a trailing dot ignored). Never fails. */
void vendor_classify(const char *host, struct vendor_match *m);

/* Adds (or overrides) one entry; -EINVAL for an unknown class or a bad pattern. */
int vendor_add(const char *pattern, const char *dst_class, const char *vendor);

/* Loads a vendor file (the deploy/vendors.yaml format); errors say FILE:LINE. -errno. */
int vendor_load_file(const char *path);

struct agent_config;
/*
 * Loads the configured vendor_file, or else vendors.yaml beside the config file when there is
 * one. -errno when a file is there but bad (it said FILE:LINE).
 */
int vendor_setup(const struct agent_config *c);

/* Back to the built-in table only. */
void vendor_reset(void);

#endif
