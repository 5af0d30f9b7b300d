# SPDX-License-Identifier: Apache-2.0
# aitrail: one Makefile, out-of-tree build into $(OUTPUT).
#
#   make            build everything into build/
#   make deps       install the Debian packages the build and tests need
#   make check      unit tests (no root)
#   make test       deps + build + unit tests + end-to-end tests (root) + a VM smoke boot
#   make run        deps + build + collector (SQLite) + agent on this host
#   make test-vm    the agent on Debian's 6.1 and 6.12 kernels under qemu (root; ~4 min here)
#   make bench      benchmarks
#   make vmlinux    regenerate bpf/include/$(ARCH)/vmlinux.h from this kernel's BTF
#
# New sources are picked up by wildcard: add bpf/X.bpf.c, agent/X.c, collector/X.c, common/X.c,
# cli/X.c, proto/X.proto, tests/unit/test_X.c, tests/fixtures/X.c without touching this file.

OUTPUT ?= build
V ?= 0
ARCH ?= $(shell uname -m | sed 's/x86_64/x86/' | sed 's/aarch64/arm64/')

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
PROTOC_C ?= protoc-c
LLVM_STRIP ?= llvm-strip

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

DEB_PKGS := build-essential clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev pkg-config \
	protobuf-c-compiler libprotobuf-c-dev libcurl4-openssl-dev libmicrohttpd-dev \
	libsqlite3-dev sqlite3 libpq-dev postgresql libgnutls28-dev libyaml-dev libjson-c-dev libcmocka-dev libssl-dev openssl \
	iproute2 python3 procps auditd

# Only the VM tier needs these (qemu, a static shell for the guest's init, depmod): make test-vm
# and the smoke boot at the end of make test
VM_DEB_PKGS := qemu-system-x86 busybox-static kmod

PKGS := libbpf libelf zlib libprotobuf-c libcurl libmicrohttpd sqlite3 yaml-0.1 json-c libpq gnutls
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral
CFLAGS ?= -O2 -g
# One include root: every project include names its directory ("bpf/policy.h", "agent/agent.h");
# generated headers live under the same names in $(OUTPUT) ("proto/event.pb-c.h").
ALL_CFLAGS := $(CFLAGS) -std=gnu11 -D_GNU_SOURCE $(WARN) -MMD -MP -I. -I$(OUTPUT) $(PKG_CFLAGS)
LDLIBS := -Wl,--as-needed $(PKG_LIBS) -lssl -lcrypto -lpthread -lm

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I. -Ibpf/include/$(ARCH) \
	-Wall -Werror -Wno-unused-function
# clang -target bpf does not see the system include dirs, so pass gcc's (as libbpf-bootstrap does)
CLANG_BPF_SYS_INCLUDES := $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_HDRS := $(wildcard bpf/*.h)
SKEL := $(OUTPUT)/bpf/aitrail.skel.h

PROTO_SRCS := $(wildcard proto/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(OUTPUT)/proto/%.pb-c.c,$(PROTO_SRCS))
PROTO_H := $(PROTO_C:.c=.h)

COMMON_SRCS := $(wildcard common/*.c)
AGENT_SRCS := $(filter-out agent/main.c,$(wildcard agent/*.c))
COLL_SRCS := $(filter-out collector/main.c,$(wildcard collector/*.c))
CLI_SRCS := $(wildcard cli/*.c)

COMMON_OBJS := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(COMMON_SRCS)) \
	$(patsubst $(OUTPUT)/proto/%.c,$(OUTPUT)/obj/proto/%.o,$(PROTO_C))
AGENT_OBJS := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(AGENT_SRCS))
COLL_OBJS := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(COLL_SRCS))
CLI_OBJS := $(patsubst %.c,$(OUTPUT)/obj/%.o,$(CLI_SRCS))

LIBCOMMON := $(OUTPUT)/libcommon.a
LIBAGENT := $(OUTPUT)/libagent.a
LIBCOLL := $(OUTPUT)/libcollector.a

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))
FIXTURE_SRCS := $(wildcard tests/fixtures/*.c)
FIXTURE_BINS := $(patsubst tests/fixtures/%.c,$(OUTPUT)/tests/fixtures/%,$(FIXTURE_SRCS))
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(patsubst bench/%.c,$(OUTPUT)/bench/%,$(BENCH_SRCS))
# Test-only loaders that drive agent modules against the real kernel (tests/tools/X.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(patsubst tests/tools/%.c,$(OUTPUT)/tests/tools/%,$(TOOL_SRCS))

BINS :=
ifneq ($(wildcard agent/main.c),)
BINS += $(OUTPUT)/aitrail-agent
endif
ifneq ($(wildcard collector/main.c),)
BINS += $(OUTPUT)/aitrail-collector
endif
ifneq ($(CLI_SRCS),)
BINS += $(OUTPUT)/aitrail
endif

.PHONY: all deps deps-vm check test test-e2e test-vm run bench vmlinux clean fmt
.DELETE_ON_ERROR:
.SECONDARY:

all: $(BINS) $(UNIT_BINS) $(FIXTURE_BINS) $(BENCH_BINS) $(TOOL_BINS)

# Installs only what is missing, so it is cheap to run before every test or run.
define install_missing
	@missing=""; for p in $(1); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || \
			missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		if [ "$$(id -u)" != 0 ]; then echo "make deps: must run as root to install:$$missing" >&2; exit 1; fi; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
			>$(or $(TMPDIR),/tmp)/aitrail-apt.log 2>&1 || \
			{ echo "make deps: apt-get failed, see $(or $(TMPDIR),/tmp)/aitrail-apt.log" >&2; exit 1; }; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PKGS))

deps-vm: deps
	$(call install_missing,$(VM_DEB_PKGS))

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/proto $(OUTPUT)/tests $(OUTPUT)/tests/fixtures:
	$(Q)mkdir -p $@

# --- BPF: each bpf/X.bpf.c is compiled alone, then all are linked into one object and skeleton
$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(CLANG_BPF_SYS_INCLUDES) -MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@ 2>/dev/null || true

$(OUTPUT)/aitrail.bpf.o: $(BPF_OBJS)
	$(call msg,BPFLINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(SKEL): $(OUTPUT)/aitrail.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name aitrail > $@

# --- protobuf-c
$(OUTPUT)/proto/%.pb-c.c $(OUTPUT)/proto/%.pb-c.h: proto/%.proto | $(OUTPUT)/proto
	$(call msg,PROTOC,$<)
	$(Q)$(PROTOC_C) --c_out=$(OUTPUT)/proto -Iproto $<

$(OUTPUT)/obj/proto/%.o: $(OUTPUT)/proto/%.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes -c $< -o $@

# --- C objects; agent objects may include the skeleton, all may include protobuf headers.
# Header dependencies come from the compiler (-MMD -MP, the .d files included at the end); the
# generated headers are order-only so they exist before the first compile.
$(OUTPUT)/obj/agent/%.o: agent/%.c | $(PROTO_H) $(SKEL)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(OUTPUT)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBAGENT): $(AGENT_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBCOLL): $(COLL_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/aitrail-agent: $(OUTPUT)/obj/agent/main.o $(LIBAGENT) $(LIBCOMMON)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/aitrail-collector: $(OUTPUT)/obj/collector/main.o $(LIBCOLL) $(LIBCOMMON)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/aitrail: $(CLI_OBJS) $(LIBCOMMON)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

# Unit tests link against every library; the archive linker pulls in only what each test uses.
$(OUTPUT)/tests/test_%: tests/unit/test_%.c $(LIBAGENT) $(LIBCOLL) $(LIBCOMMON) | $(OUTPUT)/tests $(SKEL)
	$(call msg,TEST,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Wno-missing-prototypes $< $(LIBAGENT) $(LIBCOLL) $(LIBCOMMON) \
		$(LDLIBS) -lcmocka -o $@

# Fixtures are standalone programs: no project libraries, so they behave like foreign processes.
$(OUTPUT)/tests/fixtures/%: tests/fixtures/%.c | $(OUTPUT)/tests/fixtures
	$(call msg,FIXTURE,$@)
	$(Q)$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror $< -o $@

# Bench workloads are standalone too: the bench runs them under an agent's name as a session.
$(OUTPUT)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(call msg,BENCH,$@)
	$(Q)$(CC) -O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror $< -o $@
$(OUTPUT)/tests/tools/%: tests/tools/%.c $(SKEL) $(PROTO_H) $(LIBAGENT) $(LIBCOMMON)
	@mkdir -p $(@D)
	$(call msg,TOOL,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $< $(LIBAGENT) $(LIBCOMMON) $(LDLIBS) -o $@

check: $(UNIT_BINS)
	$(Q)tests/run-unit.sh $(OUTPUT)/tests

test-e2e: all
	$(Q)tests/e2e/run.sh $(OUTPUT)

# ends with a smoke boot of one fleet kernel under qemu (tests/vm; AITRAIL_VM_SMOKE=0: without)
test: deps-vm
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/run-all.sh $(OUTPUT)

# Kernels are Debian packages fetched once into $(OUTPUT)/vm; the table goes to docs/kernels.md
test-vm: deps-vm
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tests/vm/vmtest.py --build $(OUTPUT) --docs docs/kernels.md

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)deploy/run-local.sh $(OUTPUT)

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/run.sh $(OUTPUT)

vmlinux:
	$(Q)mkdir -p bpf/include/$(ARCH)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > bpf/include/$(ARCH)/vmlinux.h

fmt:
	clang-format -i $(wildcard agent/*.[ch] collector/*.[ch] common/*.[ch] cli/*.[ch] bpf/*.[ch])

clean:
	rm -rf $(OUTPUT)

-include $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)
