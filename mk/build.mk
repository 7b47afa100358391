# Two builds from the same sources: build/ (optimised) and build/asan/ (the test build,
# -fsanitize=address,undefined). One static library per source folder, one binary.
PKGS    := gsl hdf5 json-c liburing libcrypto
LIBDIRS := common traces costmodel sim bench llama experiments
INC     := $(addprefix -I,$(LIBDIRS))
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -lpthread -lm
# libhdf5 is linked from its archive when libhdf5-dev ships one (Debian's does): the
# shared library pulls in libcurl (its S3 driver) and through it some 30 TLS, LDAP and
# Kerberos libraries, whose loading cost every llmflash process 9 ms of CPU before main
# (`llmflash --version`: 11.8 -> 3.1 ms, perf stat -r 30). The archive's objects that
# llmflash calls need only szip and zlib (its filters).
HDF5_A := $(firstword $(wildcard $(addsuffix /libhdf5.a,$(patsubst -L%,%,$(shell pkg-config --libs-only-L hdf5)))))
ifneq ($(HDF5_A),)
PKG_LIBS := $(shell pkg-config --libs $(filter-out hdf5,$(PKGS))) $(HDF5_A) -lsz -lz -ldl \
            -lpthread -lm
# The other libraries from their archives too when every one is there (Debian's -dev
# packages ship them): their relocations and symbol lookups cost every process 2.7 ms
# of CPU before main, libcrypto's most (`llmflash version` 6.6 -> 3.9 ms, `sim --tokens
# 2` 12.4 -> 9.8 ms, perf stat -r 20); a sweep or a test starts hundreds. Only libc and
# libm stay shared. ($(CC) -print-file-name prints the bare name when it finds none.)
STATIC_A := $(foreach l,gsl gslcblas json-c uring crypto sz aec z,$(shell $(CC) -print-file-name=lib$(l).a))
ifeq ($(filter-out /%,$(STATIC_A)),)
PKG_LIBS := $(HDF5_A) $(STATIC_A) -ldl -lpthread -lm
endif
endif
WARN    := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-format-truncation
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
# The revision meta.json names, "-dirty" when tracked files differ from it. lf_meta.o is
# rebuilt when it changes (a stamp rewritten only then): before, it kept the revision of
# the last build that recompiled lf_meta.c, 16 commits stale in the runs of 2026-12-02.
GITREV  := $(shell r=$$(git rev-parse --short HEAD 2>/dev/null) || r=unknown; \
             [ "$$r" = unknown ] || git diff-index --quiet HEAD -- 2>/dev/null || r=$$r-dirty; \
             echo $$r)
GITREV_STAMP := build/gitrev.stamp
$(shell mkdir -p build && { [ "$$(cat $(GITREV_STAMP) 2>/dev/null)" = "$(GITREV)" ] || \
        echo "$(GITREV)" >$(GITREV_STAMP); })
DEFS    := -DLF_VERSION='"$(VERSION)"' -DLF_GITREV='"$(GITREV)"'

# Loops start on 32-byte boundaries: the replay's hot loops ran 6-8% faster or slower
# with where an unrelated change put them (a function moved by 80 bytes); aligned, both
# layouts ran at the faster speed (sim/README.md, "Seventh pass").
REL_FLAGS  := -O3 -g -falign-loops=32
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

TESTS := $(patsubst tests/%.c,%,$(wildcard tests/test_*.c))

.PHONY: all test check-valgrind
all: build/llmflash build/cpu_time

# $(1) = build dir, $(2) = flags
define VARIANT
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	@echo "  CC    $$<  [$(1)]"
	@$$(CC) $(2) $$(WARN) $$(DEFS) -DLF_CFLAGS='"$(2)"' $$(INC) $$(PKG_CFLAGS) -MMD -MP -c $$< -o $$@

$(foreach d,$(LIBDIRS),
$(1)/lib$(d).a: $$(patsubst %.c,$(1)/obj/%.o,$$(wildcard $(d)/*.c))
	@mkdir -p $$(dir $$@)
	@rm -f $$@ && ar rcs $$@ $$^
)

$(1)/LIBS := $(foreach d,experiments llama bench sim costmodel traces common,$(1)/lib$(d).a)

$(1)/obj/sim/lf_meta.o: $(GITREV_STAMP)

$(1)/llmflash: $$(patsubst %.c,$(1)/obj/%.o,$$(wildcard cli/*.c)) $$($(1)/LIBS)
	@echo "  LINK  $$@"
	@$$(CC) $(2) $$^ $$(PKG_LIBS) -o $$@

$(1)/cpu_time: bench/tools/cpu_time.c
	@echo "  CC    $$<  [$(1)]"
	@$$(CC) $(2) $$(WARN) $$< -o $$@

$(1)/tests/%: $(1)/obj/tests/%.o $(1)/obj/tests/lf_test.o $$($(1)/LIBS)
	@mkdir -p $$(dir $$@)
	@echo "  LINK  $$@"
	@$$(CC) $(2) $$^ $$(PKG_LIBS) -lcmocka -o $$@

-include $$(shell find $(1)/obj -name '*.d' 2>/dev/null)
endef

$(eval $(call VARIANT,build,$(REL_FLAGS)))
$(eval $(call VARIANT,build/asan,$(ASAN_FLAGS)))

include mk/fuzz.mk

# the fuzz harnesses' smoke (tests/test_fuzz.c) needs them built: with clang only
HAVE_CLANG := $(shell command -v $(FUZZ_CC) >/dev/null 2>&1 && echo 1)
test: build/asan/llmflash build/llmflash build/cpu_time $(addprefix build/asan/tests/,$(TESTS)) $(if $(HAVE_CLANG),fuzz-build)
	@scripts/run_tests.sh build/asan $(TESTS)

check-valgrind: build/llmflash build/cpu_time $(addprefix build/tests/,$(TESTS))
	@VALGRIND=1 scripts/run_tests.sh build $(TESTS)
.SECONDARY:
