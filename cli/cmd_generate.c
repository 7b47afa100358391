/* llmflash generate: run a llama2.c checkpoint (dense, or with its FFN streamed from a
 * weights file through the executor) and print the text or the token ids. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "lf_cli.h"
#include "lf_cli_llama.h"
#include "lf_cli_num.h"
#include "lf_llama.h"
#include "lf_llama_stream.h"
#include "lf_time.h"
#include "lf_tok.h"

static const char *CMD = "generate";

static void help(void)
{
    printf("usage: llmflash generate --checkpoint M.bin --tokenizer T.bin --steps N\n"
           "                         [--prompt TEXT] [--temperature 0] [--seed S] [--print-ids]\n"
           "                         [--weights W [--policy window:k=4] [--threshold X]\n"
           "                          [--relative] [--engine psync] [--inflight 4]\n"
           "                          [--dram-fraction 1 | --dram-bytes B]]\n\n"
           "Runs a llama2.c checkpoint (legacy or version-1 fp32 export) in C and prints the\n"
           "generated text. The loop is llama2.c's: the sequence starts with BOS, the prompt is\n"
           "fed, then tokens are sampled until N positions (prompt included, at most seq_len)\n"
           "or until the model produces BOS. Temperature 0 is greedy decoding and gives the\n"
           "same tokens as llama2.c's run.c; a temperature > 0 samples with a GSL mt19937\n"
           "generator seeded by --seed (same seed, same text).\n\n"
           "options:\n");
    lf_cli_llama_help(stdout, LF_LLAMA_CHECKPOINT | LF_LLAMA_TOKENIZER | LF_LLAMA_PROMPT |
                                  LF_LLAMA_STEPS | LF_LLAMA_TEMPERATURE | LF_LLAMA_SEED);
    printf("  --print-ids         print the token ids (space-separated, BOS first) instead of\n"
           "                      the text\n\n"
           "streaming the FFN from flash (greedy only):\n"
           "  --weights W         weights file made by 'llmflash weights make --checkpoint'.\n"
           "                      The dense model runs first and records, per position and\n"
           "                      layer, the neurons whose |h| passes the threshold; then the\n"
           "                      model runs again on the same tokens with attention and\n"
           "                      embeddings in DRAM and each layer's FFN computed only over\n"
           "                      the neurons the policy keeps in the executor's DRAM manager,\n"
           "                      read from W by the I/O engine. Printed: the streamed model's\n"
           "                      greedy choices, then 'stream:' lines with the agreement\n"
           "                      (positions whose argmax equals the dense run's, mean and\n"
           "                      max |logit difference|) and the bytes read against reading\n"
           "                      every layer's whole FFN at every position.\n"
           "  --policy SPEC       loading policy (default window:k=4)\n");
    lf_cli_llama_help(stdout, LF_LLAMA_THRESHOLD | LF_LLAMA_RELATIVE);
    printf("                      (default 0: every neuron, so the tokens equal the dense\n"
           "                      run's)\n"
           "  --engine E          I/O engine: psync (O_DIRECT, default), io_uring, buffered\n"
           "  --inflight N        reads in flight (default 4)\n"
           "  --dram-fraction F   DRAM budget as a fraction of the model (default 1)\n"
           "  --dram-bytes B      DRAM budget in bytes instead (e.g. 64m; above the model\n"
           "                      when a predictor's rank makes the resident part larger)\n"
           "  --predictor-rank R  load the sets of a rank-R SVD predictor of the gate and up\n"
           "                      projections ('trace predict --method svd') instead of the\n"
           "                      threshold's exact sets: real predictor errors\n"
           "  --predictor-scale S its threshold multiplier (default 1; < 1 raises recall)\n\n"
           "example:\n"
           "  llmflash generate --checkpoint ../shared/data/stories260K.bin \\\n"
           "      --tokenizer ../shared/data/tok512.bin --prompt \"Once upon a time\" \\\n"
           "      --steps 128\n"
           "  llmflash weights make --checkpoint ../shared/data/stories260K.bin \\\n"
           "      --file /var/tmp/s260k.w\n"
           "  llmflash generate --checkpoint ../shared/data/stories260K.bin \\\n"
           "      --tokenizer ../shared/data/tok512.bin --steps 256 --weights /var/tmp/s260k.w \\\n"
           "      --threshold 0.1 --relative --policy window:k=4\n");
}

/* Prints a decoded piece, skipping single bytes that are control codes (as run.c). */
static void put_piece(const char *p)
{
    if (!p[0])
        return;
    if (!p[1]) {
        unsigned char b = (unsigned char)p[0];
        if (!((b >= 0x20 && b < 0x7f) || b == '\n' || b == '\t' || b == '\r' || b == ' '))
            return;
    }
    fputs(p, stdout);
}

static void print_ids_or_text(const lf_tok *tok, const int32_t *ids, uint32_t n, int print_ids)
{
    for (uint32_t i = 0; i < n; i++) {
        if (print_ids)
            printf(i ? " %d" : "%d", ids[i]);
        else if (i > 0)
            put_piece(lf_tok_decode(tok, ids[i - 1], ids[i]));
    }
    printf("\n");
}

static void print_stream(const lf_tok *tok, const lf_llama_stream_result *r, int print_ids)
{
    print_ids_or_text(tok, r->stream_ids, r->n_stream, print_ids);
    printf("stream: positions=%u identical=%u share=%.4f first_diff=%u mean_abs_logit_diff=%.6g "
           "max_abs_logit_diff=%.6g sparsity=%.4f\n",
           r->positions, r->same, r->positions ? (double)r->same / r->positions : 0.0,
           r->first_diff, r->mean_abs_logit_diff, r->max_abs_logit_diff, r->sparsity);
    printf("stream: bytes_read=%llu reads=%llu dense_bytes=%llu saved=%.4f mean_resident=%.1f "
           "io_ms=%.3f mem_ms=%.3f compute_ms=%.3f\n",
           (unsigned long long)r->bytes_read, (unsigned long long)r->reads,
           (unsigned long long)r->dense_bytes,
           r->dense_bytes ? 1.0 - (double)r->bytes_read / (double)r->dense_bytes : 0.0,
           r->mean_resident, r->io_ms, r->mem_ms, r->compute_ms);
    printf("stream: predictor_recall=%.4f predictor_precision=%.4f\n", r->pred_recall,
           r->pred_precision);
}

int cmd_generate(int argc, char **argv)
{
    lf_cli_llama lo;
    lf_cli_llama_init(&lo);
    int print_ids = 0;
    lf_llama_stream_opts so;
    memset(&so, 0, sizeof so);
    uint64_t inflight = 0;
    static const struct option own[] = {
        {"print-ids", no_argument, 0, 'i'},         {"weights", required_argument, 0, 'w'},
        {"policy", required_argument, 0, 'P'},      {"engine", required_argument, 0, 'e'},
        {"inflight", required_argument, 0, 'f'},    {"dram-fraction", required_argument, 0, 'd'},
        {"dram-bytes", required_argument, 0, 'B'},
        {"predictor-rank", required_argument, 0, 'R'},
        {"predictor-scale", required_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'}};
    struct option opts[sizeof own / sizeof own[0] + 16];
    memcpy(opts, own, sizeof own);
    lf_cli_llama_opts(LF_LLAMA_CHECKPOINT | LF_LLAMA_TOKENIZER | LF_LLAMA_PROMPT |
                          LF_LLAMA_STEPS | LF_LLAMA_TEMPERATURE | LF_LLAMA_SEED |
                          LF_LLAMA_THRESHOLD | LF_LLAMA_RELATIVE,
                      opts, sizeof own / sizeof own[0], sizeof opts / sizeof opts[0]);
    lf_cli_reset_getopt();
    int c, u = LF_EXIT_OK;
    while ((c = lf_cli_getopt(CMD, argc, argv, "h", opts, NULL)) != -1) {
        if (lf_cli_llama_option(CMD, c, optarg, &lo, &u)) {
            if (u)
                return u;
            continue;
        }
        switch (c) {
        case 'i': print_ids = 1; break;
        case 'w': so.weights = optarg; break;
        case 'P': so.policy = optarg; break;
        case 'e': so.engine = optarg; break;
        case 'd':
            u = lf_cli_double(CMD, "--dram-fraction", optarg, 1e-9, 1, &so.dram_fraction);
            break;
        case 'B':
            u = lf_cli_size(CMD, "--dram-bytes", optarg, 1, UINT64_MAX, &so.dram_bytes);
            break;
        case 'f':
            u = lf_cli_u64(CMD, "--inflight", optarg, 1, 4096, &inflight);
            so.inflight = (uint32_t)inflight;
            break;
        case 'R':
            u = lf_cli_u64(CMD, "--predictor-rank", optarg, 1, 1u << 20, &inflight);
            so.predictor_rank = (uint32_t)inflight;
            break;
        case 'S':
            u = lf_cli_double(CMD, "--predictor-scale", optarg, 0, 1e6, &so.predictor_scale);
            break;
        case 'h': help(); return LF_EXIT_OK;
        default: return lf_cli_bad_option(CMD, argc, argv);
        }
        if (u)
            return u;
    }
    const char *ckpt = lo.checkpoint, *tokp = lo.tokenizer, *prompt = lo.prompt ? lo.prompt : "";
    uint64_t steps = lo.steps, seed = lo.seed;
    double temperature = lo.temperature;
    so.threshold = lo.threshold > 0 ? lo.threshold : 0;
    so.relative = lo.relative;
    if (optind < argc)
        return lf_cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!ckpt || !tokp || !steps)
        return lf_cli_usage(CMD, "--checkpoint, --tokenizer and --steps are required");
    if (so.weights && temperature != 0.0)
        return lf_cli_usage(CMD, "--weights runs greedy decoding: drop --temperature");
    if (!so.weights && (so.policy || so.engine || so.inflight || so.threshold > 0 ||
                        so.relative || so.dram_fraction > 0 || so.dram_bytes || so.predictor_rank ||
                        so.predictor_scale > 0))
        return lf_cli_usage(CMD, "--policy, --threshold, --relative, --engine, --inflight, "
                                 "--dram-fraction, --dram-bytes and --predictor-* need --weights");
    if (so.relative && so.threshold > 1)
        return lf_cli_usage(CMD, "--threshold %g with --relative: expected 0..1", so.threshold);
    /* the null engine reads nothing (it is run's and the tests'): generate's output would
     * come from weights never read, presented as the streamed model's */
    if (so.engine && strcmp(so.engine, "null") == 0)
        return lf_cli_usage(CMD, "--engine null: expected psync, io_uring or buffered (generate "
                            "streams the weights it computes with)");
    so.steps = (uint32_t)steps;

    lf_err err = {0};
    lf_llama m;
    lf_tok tok;
    if (lf_llama_open(&m, ckpt, &err))
        return lf_cli_error(CMD, &err);
    if (lf_tok_load(&tok, tokp, m.cfg.vocab_size, &err)) {
        lf_llama_close(&m);
        return lf_cli_error(CMD, &err);
    }
    int32_t *prompt_ids = NULL, *ids = NULL;
    uint32_t n_prompt = 0, n_ids = 0;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    int rc = rng ? LF_OK : lf_fail(&err, LF_ENOMEM, "out of memory");
    if (!rc) {
        gsl_rng_set(rng, (unsigned long)seed);
        rc = lf_tok_encode(&tok, prompt, 1, 0, &prompt_ids, &n_prompt, &err);
        if (rc)
            lf_err_prefix(&err, "--prompt (with the tokenizer %s)", tokp);
    }
    lf_llama_stream_result sr;
    memset(&sr, 0, sizeof sr);
    if (!rc && so.weights) {
        rc = lf_llama_stream(&m, prompt_ids, n_prompt, &so, &sr, &err);
        if (!rc)
            print_stream(&tok, &sr, print_ids);
        lf_llama_stream_result_free(&sr);
        free(prompt_ids);
        gsl_rng_free(rng);
        lf_tok_free(&tok);
        lf_llama_close(&m);
        return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
    }
    double t0 = lf_now();
    if (!rc)
        rc = lf_llama_generate(&m, prompt_ids, n_prompt, (uint32_t)steps, (float)temperature, rng,
                               NULL, NULL, &ids, &n_ids, &err);
    double dt = lf_now() - t0;
    if (!rc) {
        print_ids_or_text(&tok, ids, n_ids, print_ids);
        fprintf(stderr, "llmflash generate: %u positions in %.3f s (%.0f tok/s)\n",
                n_ids ? n_ids - 1 : 0, dt, dt > 0 ? (n_ids ? n_ids - 1 : 0) / dt : 0.0);
    }
    free(ids);
    free(prompt_ids);
    gsl_rng_free(rng);
    lf_tok_free(&tok);
    lf_llama_close(&m);
    return rc ? lf_cli_error(CMD, &err) : LF_EXIT_OK;
}
