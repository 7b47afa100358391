/* The policy registry: the one name -> create table, spec parsing ("name:k=v,..."),
 * key checking, and freeing. Adding a policy: its file and one row here. */
#include "lf_policy.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lf_pol.h"

typedef struct {
    const char *name;
    lf_pol_create_fn create;
    const char *const *keys; /* NULL-terminated valid keys */
} entry;

static const char *const k_none[] = {NULL};
static const char *const k_hybrid[] = {"fraction", NULL};
static const char *const k_cap[] = {"capacity", NULL};
static const char *const k_window[] = {"k", "capacity", NULL};
static const char *const k_lfu[] = {"capacity", "history", NULL};
static const char *const k_fwlru[] = {"capacity", "w", "history", NULL};
static const char *const k_hot[] = {"n", "prefix", "capacity", NULL};
static const char *const k_belady[] = {"capacity", "future", NULL};

static const entry table[] = {
    {"naive", lf_pol_naive_create, k_none},
    {"hybrid", lf_pol_hybrid_create, k_hybrid},
    {"sparse", lf_pol_sparse_create, k_cap},
    {"window", lf_pol_window_create, k_window},
    {"lru", lf_pol_lru_create, k_cap},
    {"lfu", lf_pol_lfu_create, k_lfu},
    {"fwlru", lf_pol_fwlru_create, k_fwlru},
    {"hot", lf_pol_hot_create, k_hot},
    {"belady", lf_pol_belady_create, k_belady},
};
#define N_ENTRIES (sizeof table / sizeof table[0])

static char names[256];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void build_names(void)
{
    size_t len = 0;
    for (size_t i = 0; i < N_ENTRIES; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                                table[i].name);
}

const char *lf_policy_names(void)
{
    pthread_once(&names_once, build_names);
    return names;
}

int lf_policy_create(const char *spec, const lf_policy_ctx *ctx, lf_policy **out, lf_err *err)
{
    *out = NULL;
    if (!spec || !*spec)
        return lf_fail(err, LF_EINVAL, "empty policy spec (known policies: %s)",
                       lf_policy_names());
    if (!ctx)
        return lf_fail(err, LF_EINVAL, "policy '%s': no context given", spec);
    lf_kv kv;
    char name[64];
    int rc = lf_kv_parse_spec(spec, &kv, name, sizeof name, err);
    if (rc)
        return rc;
    const entry *e = NULL;
    for (size_t i = 0; i < N_ENTRIES && !e; i++)
        if (strcmp(table[i].name, name) == 0)
            e = &table[i];
    if (!e) {
        rc = lf_fail(err, LF_EINVAL, "unknown policy '%s' in '%s' (known policies: %s)", name,
                     spec, lf_policy_names());
        goto done;
    }
    if ((rc = lf_kv_check_known(&kv, e->keys, err)) != LF_OK)
        goto done;
    lf_policy *p = calloc(1, sizeof *p);
    if (!p) {
        rc = lf_fail(err, LF_ENOMEM, "policy '%s': out of memory", spec);
        goto done;
    }
    p->name = e->name;
    if ((rc = e->create(ctx, &kv, p, err)) != LF_OK) {
        free(p);
        goto done;
    }
    *out = p;
done:
    lf_kv_free(&kv);
    return rc;
}

void lf_policy_free(lf_policy *p)
{
    if (!p)
        return;
    if (p->destroy)
        p->destroy(p);
    free(p);
}
