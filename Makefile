# llmflash: `make demo` runs the main job, `make test` the tests. Both install the
# Debian packages they need first (scripts/deps.sh), so a fresh Debian 12 machine
# needs no other step. The real rules are in mk/build.mk.
PREFIX ?= /usr/local
SUB = $(MAKE) --no-print-directory -f mk/build.mk

.PHONY: all test demo bench figures install clean deps check-valgrind fuzz
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
all:
	@scripts/deps.sh build
	@$(SUB) all
test:
	@scripts/deps.sh test
	@$(SUB) test
demo:
	@scripts/deps.sh build
	@$(SUB) all
	@scripts/demo.sh
bench:
	@scripts/deps.sh bench
	@$(SUB) all
	@bench/run_benchmarks.sh
fuzz:
	@scripts/deps.sh fuzz
	@$(SUB) fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS)
figures:
	@scripts/deps.sh build
	@$(SUB) all
	@plots/make_figures.sh
install:
	@scripts/deps.sh build
	@$(SUB) all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/llmflash/devices \
	  $(DESTDIR)$(PREFIX)/share/llmflash/experiments $(DESTDIR)$(PREFIX)/share/llmflash/plots
	install -m 755 build/llmflash $(DESTDIR)$(PREFIX)/bin/llmflash
	install -m 644 costmodel/devices/*.conf $(DESTDIR)$(PREFIX)/share/llmflash/devices/
	install -m 644 experiments/*.conf experiments/README.md $(DESTDIR)$(PREFIX)/share/llmflash/experiments/
	install -m 644 plots/*.gp plots/README.md $(DESTDIR)$(PREFIX)/share/llmflash/plots/
	install -m 755 plots/*.sh $(DESTDIR)$(PREFIX)/share/llmflash/plots/
check-valgrind:
	@scripts/deps.sh test
	@$(SUB) check-valgrind
clean:
	rm -rf build
