/* Fuzzes the `key = value` readers: lf_kv (text and spec strings, typed getters, size
 * lists), device profiles (lf_device_load), sweep files (lf_sweep_load, expanding a few
 * run ids and argvs) and grid files (lf_sweep_load_grid). The first byte picks the reader. */
#include <stdint.h>
#include <string.h>

#include "fuzz_io.h"
#include "lf_device.h"
#include "lf_kv.h"
#include "lf_sweep.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t pick = data[0] % 4;
    data++;
    size--;
    lf_err err;
    if (pick == 0) {
        lf_kv kv;
        if (lf_kv_parse_text((const char *)data, size, "fuzz", &kv, &err) == LF_OK) {
            for (size_t i = 0; i < kv.n; i++) {
                double d;
                uint64_t u;
                lf_kv_double(&kv, kv.items[i].key, 0, &d, &err);
                lf_kv_u64(&kv, kv.items[i].key, 0, &u, &err);
            }
            static const char *const valid[] = {"a", "b", NULL};
            lf_kv_check_known(&kv, valid, &err);
            lf_kv_free(&kv);
        }
        /* the same bytes as a spec string, up to the first NUL */
        char *spec = strndup((const char *)data, size);
        char name[64];
        if (spec && lf_kv_parse_spec(spec, &kv, name, sizeof name, &err) == LF_OK)
            lf_kv_free(&kv);
        /* and as a list of sizes (probe --chunks, --threads, moe-scenario --sizes) */
        uint64_t *sizes;
        size_t n_sizes;
        if (spec && lf_parse_size_list(spec, &sizes, &n_sizes, &err) == LF_OK)
            free(sizes);
        free(spec);
        return 0;
    }
    const char *path = fuzz_file(data, size);
    if (pick == 1) {
        lf_device d;
        lf_device_load(path, &d, &err);
    } else if (pick == 2) {
        lf_sweep s;
        if (lf_sweep_load(path, &s, &err) == LF_OK) {
            for (size_t i = 0; i < s.n_runs && i < 4; i++) {
                char id[LF_SWEEP_ID_MAX];
                lf_sweep_run_id(&s, i, id);
            }
            lf_sweep_free(&s);
        }
    } else {
        lf_sweep g;
        static const char *const valid[] = {"policy", "dram", "threads", "chunk", "engine", NULL};
        if (lf_sweep_load_grid(path, valid, &g, &err) == LF_OK) {
            for (size_t i = 0; i < g.n_runs && i < 4; i++)
                lf_sweep_get(&g, i, "policy");
            lf_sweep_free(&g);
        }
    }
    return 0;
}
