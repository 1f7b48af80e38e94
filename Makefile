# SPDX-License-Identifier: AGPL-3.0-or-later
# sealmail — non-recursive build. Every lib/<layer>/*.c and sandbox/*.c goes
# into build/libsealmail.a; every handlers/<name>/ becomes build/<name> (lmtpd
# also links the SMTP engine of handlers/smtpd/, all but its main.c); every
# tests/unit/test_*.c becomes one cmocka test program; every tests/tools/*.c
# a helper program for the integration tests; every tests/fuzz/fuzz_*.c a
# fuzz target (libFuzzer with `make fuzz`, a corpus replayer in `make check`).

PREFIX    ?= /usr/local
DESTDIR   ?=
SYSCONFDIR ?= /etc
UNITDIR   ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
MANDIR    ?= $(PREFIX)/share/man
B         := build
PYTHON    := /usr/bin/python3

PKGS      := openssl libsystemd sqlcipher hiredis libseccomp libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libbsd (process titles, readpassphrase, strtonum) is linked statically: the
# few functions used, not two more shared objects mapped into every process,
# which every fork and exit of the accept loops pays for.
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -l:libbsd.a
# libunbound (the DNS resolver of lib/svc/dns.c, Debian libunbound-dev): its
# .pc names libevent-dev's .pc in Requires.private, which Debian does not
# pull in, so pkg-config may fail where the library is there: fall back to
# -lunbound. --as-needed: only the programs that resolve (queued, the DNS
# tools) record it, so no other handler maps it at every exec.
UNBOUND_PKG := libunbound
PKG_CFLAGS += $(shell pkg-config --cflags $(UNBOUND_PKG) 2>/dev/null)
PKG_LIBS   += -Wl,--push-state,--as-needed \
              $(shell pkg-config --libs $(UNBOUND_PKG) 2>/dev/null || echo -lunbound) \
              -Wl,--pop-state
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

CC        ?= cc
WARN      := -Wall -Wextra -Wformat=2 -Wshadow -Wvla -Wmissing-prototypes \
             -Wstrict-prototypes -Wno-unused-parameter -Werror
VERSION   := 0.1.0
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -DSEALMAIL_VERSION=\"$(VERSION)\" -g -fPIE -fstack-protector-strong \
             -fno-strict-aliasing -Ilib -Isandbox $(PKG_CFLAGS) \
             -DSQLITE_HAS_CODEC $(WARN)
LDFLAGS_BASE := -pie -Wl,-z,relro,-z,now

ifeq ($(SAN),1)
  CFLAGS_BASE += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                 -fno-sanitize-recover=undefined -DSEALMAIL_SAN=1
  LDFLAGS_BASE += -fsanitize=address,undefined
  B := build-san
else
  CFLAGS_BASE += -O2 -D_FORTIFY_SOURCE=2
endif
ifeq ($(TESTHOOKS),1)
  # Test builds only: a handler can be told to make a forbidden syscall
  # right after entering its sandbox (SEALMAIL_TEST_HOOK).
  CFLAGS_BASE += -DSEALMAIL_TEST_HOOKS=1
  B := $(B)-hooks
endif

ALL_CFLAGS  = $(CFLAGS_BASE) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS_BASE) $(LDFLAGS)

LIB_LAYERS := base sys proto crypto data svc login
LIB_SRCS  := $(foreach l,$(LIB_LAYERS),$(wildcard lib/$(l)/*.c)) $(wildcard sandbox/*.c)
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/obj/%.o)
LIBA      := $(B)/libsealmail.a

HANDLERS  := $(notdir $(patsubst %/,%,$(dir $(wildcard handlers/*/*.c))))
HANDLERS  := $(sort $(HANDLERS))
PROGS     := $(HANDLERS:%=$(B)/%)

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(B)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRCS:tests/fuzz/%.c=$(B)/tests/%-replay)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)

.SECONDARY:
.PHONY: all check check-unit check-integration check-fuzz check-systemd run deps \
        install bench fuzz soak clean format tests lint
all: $(PROGS)

tests: $(UNIT_BINS) $(TOOL_BINS) $(FUZZ_REPLAY)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# The SMTP server engine lives with smtpd and is built into lmtpd as well.
SMTP_ENGINE := $(filter-out handlers/smtpd/main.c,$(wildcard handlers/smtpd/*.c))
ENGINE_lmtpd := $(SMTP_ENGINE)
ENGINE_submitd := $(SMTP_ENGINE)

# One program per handlers/<name>/ directory.
define handler_rule
$(B)/$(1): $(patsubst %.c,$(B)/obj/%.o,$(wildcard handlers/$(1)/*.c) $(ENGINE_$(1))) $(LIBA)
	$(CC) $(ALL_LDFLAGS) -o $$@ $$^ $(PKG_LIBS)
endef
$(foreach h,$(HANDLERS),$(eval $(call handler_rule,$(h))))

# Unit tests find their data below the source tree wherever they are run from.
$(B)/obj/tests/unit/%.o: ALL_CFLAGS += -DSEALMAIL_SRCDIR='"$(CURDIR)"'

$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS) $(CMOCKA_LIBS)

# Fuzz targets that drive handler code name the handler sources they need
# (handlers are not in the library): FUZZ_EXTRA_<target>.
FUZZ_EXTRA_fuzz_fetch := handlers/imapd/fetch.c
FUZZ_EXTRA_fuzz_search := handlers/imapd/search.c

.SECONDEXPANSION:
$(B)/tests/%-replay: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/replay_main.o \
                     $$(addprefix $(B)/obj/,$$(addsuffix .o,$$(basename $$(FUZZ_EXTRA_$$*)))) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/obj/tests/fuzz/replay_main.o: tests/fuzz/replay_main.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/tests/%: $(B)/obj/tests/tools/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(PKG_LIBS)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

deps:
	@tests/deps.sh

# Includes follow the layers of lib/ (tests/lint/layers.py says which);
# long functions give their reason (tests/lint/funclen.py).
lint:
	@$(PYTHON) tests/lint/layers.py
	@$(PYTHON) tests/lint/funclen.py

# The whole test suite: unit, fuzz corpus replay, integration, real systemd.
check: deps
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory all tests
	@$(MAKE) --no-print-directory TESTHOOKS=1 all
	@B=$(B) PYTHON=$(PYTHON) tests/check.sh

check-unit: all tests
	@B=$(B) PYTHON=$(PYTHON) tests/check.sh unit

check-integration: all tests
	@$(MAKE) --no-print-directory TESTHOOKS=1 all
	@B=$(B) PYTHON=$(PYTHON) tests/check.sh integration

check-systemd: all tests
	@B=$(B) PYTHON=$(PYTHON) tests/check.sh systemd

run: deps
	@$(MAKE) --no-print-directory all
	@B=$(B) tests/devinstance.sh

bench: deps
	@$(MAKE) --no-print-directory all tests
	@B=$(B) tests/bench/run.sh

# libFuzzer builds (clang). Each target runs for FUZZ_SECONDS, or for
# FUZZ_RUNS executions when that is set (then FUZZ_SECONDS, when given too,
# caps the time); FUZZ_TARGETS="fuzz_a fuzz_b" runs a subset. The library is
# compiled once into build-fuzz/obj/.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
FUZZ_TARGETS ?= $(notdir $(FUZZ_BINS))
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -DSEALMAIL_VERSION=\"$(VERSION)\" -g -O1 -fsanitize=fuzzer,address,undefined \
               -fno-sanitize-recover=undefined -Ilib -Isandbox $(PKG_CFLAGS) -DSQLITE_HAS_CODEC
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build-fuzz/obj/%.o)
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CLANG   $<"
	@clang $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
build-fuzz/fuzz_%: build-fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB_OBJS) \
                   $$(addprefix build-fuzz/obj/,$$(addsuffix .o,$$(basename $$(FUZZ_EXTRA_fuzz_$$*))))
	clang $(FUZZ_CFLAGS) -o $@ $^ $(PKG_LIBS)
-include $(shell find build-fuzz/obj -name '*.d' 2>/dev/null)

# One line per target at the end: "fuzz: <target> <executions> execs".
fuzz: deps $(addprefix build-fuzz/,$(FUZZ_TARGETS))
	@for n in $(FUZZ_TARGETS); do f=build-fuzz/$$n; mkdir -p build-fuzz/corpus-$$n; \
	  if [ -z "$(FUZZ_RUNS)" ]; then lim="-max_total_time=$(FUZZ_SECONDS)"; \
	  elif [ "$(origin FUZZ_SECONDS)" = "command line" ]; then lim="-runs=$(FUZZ_RUNS) -max_total_time=$(FUZZ_SECONDS)"; \
	  else lim="-runs=$(FUZZ_RUNS)"; fi; \
	  echo "fuzz: $$n ($$lim)"; \
	  $$f $$lim -print_final_stats=1 build-fuzz/corpus-$$n tests/fuzz/corpus/$$n 2>build-fuzz/$$n.log \
	    || { tail -n 60 build-fuzz/$$n.log; exit 1; }; \
	  echo "fuzz: $$n $$(sed -n 's/^stat::number_of_executed_units: *//p' build-fuzz/$$n.log) execs"; done

# Crash-loop soak (tests/soak/soak.py): traffic while processes are killed,
# then every acknowledged message must be there exactly once.
SOAK_SECONDS ?= 300
soak: deps
	@$(MAKE) --no-print-directory all
	@SEALMAIL_BUILD=$(CURDIR)/$(B) $(PYTHON) tests/soak/soak.py $(SOAK_SECONDS)

install: all
	@B=$(B) DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" SYSCONFDIR="$(SYSCONFDIR)" \
	  UNITDIR="$(UNITDIR)" SYSUSERSDIR="$(SYSUSERSDIR)" TMPFILESDIR="$(TMPFILESDIR)" \
	  MANDIR="$(MANDIR)" HANDLERS="$(HANDLERS)" units/install.sh

format:
	clang-format -i $(wildcard lib/*/*.[ch] sandbox/*.[ch] handlers/*/*.[ch] tests/unit/*.c tests/tools/*.c tests/fuzz/*.c)

clean:
	rm -rf build build-san build-fuzz build-hooks build-san-hooks
