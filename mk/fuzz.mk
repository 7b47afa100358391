# Fuzzing (included by mk/build.mk): every tests/fuzz/fuzz_<name>.c defines
# LLVMFuzzerTestOneInput and is linked with clang's libFuzzer against the project's
# libraries, all built by clang with -fsanitize=fuzzer-no-link,address,undefined in
# build/fuzz/. Seeds: tests/fuzz/corpus/<name>/ (small, in the repository); new inputs a
# campaign finds go to build/fuzz/corpus/<name>/, never into the repository.
#   make fuzz FUZZ_SECONDS=60     each harness for 60 s, one after another
#   make fuzz FUZZ_RUNS=10000000  each harness for that many executions (a campaign)
#   make fuzz-build               the harnesses only
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=all -DLF_FUZZ -Wno-unknown-warning-option
FUZZ_DIRS    := common traces costmodel sim bench llama experiments
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS    := $(addprefix build/fuzz/fuzz_,$(FUZZ_NAMES))
FUZZ_LIBS    := $(foreach d,experiments llama bench sim costmodel traces common,build/fuzz/lib$(d).a)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<  [fuzz]"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(WARN) $(DEFS) -DLF_CFLAGS='"fuzz"' \
	    $(INC) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(foreach d,$(FUZZ_DIRS),$(eval build/fuzz/lib$(d).a: $$(patsubst %.c,build/fuzz/obj/%.o,$$(wildcard $(d)/*.c)) ; @rm -f $$@ && ar rcs $$@ $$^))

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIBS)
	@echo "  LINK  $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $^ $(PKG_LIBS) -o $@

fuzz: $(FUZZ_BINS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_RUNS=$(FUZZ_RUNS) scripts/fuzz.sh run $(FUZZ_NAMES)

-include $(shell find build/fuzz/obj -name '*.d' 2>/dev/null)
