/* A 60 fps game loop that lets an NPC think: each 16.6 ms frame does the game's own work, then
 * gives libllm a fixed slice of time with llm_session_step_timed, which returns when the slice
 * is used up even if the next token is not ready; the next frame continues where it stopped.
 *
 *   game_loop MODEL.gguf [--budget-ms MS] [--game-ms MS] [--max-tokens N] [--threads N]
 *
 *   [--check cpu|wall|none]
 *
 * At the end it prints the NPC's line and the timings. What the library controls is the length
 * of each inference slice, so that is what is checked: the exit status is 1 when a slice took
 * longer than budget + 2 ms, or the line did not finish. By default (--check cpu) a slice is
 * measured in CPU time of the process (with N threads: against N x the limit), which leaves
 * out the time the OS gave to other programs: on a loaded CI machine with two cores that alone
 * can stretch a 4 ms slice to 20 ms of wall time. --check wall measures the wall clock instead,
 * the right check on a quiet machine; --check none only requires the line to finish (for
 * sanitizer builds, whose timings mean nothing). Both, and the frame times, are reported. */
#define _POSIX_C_SOURCE 200809L
#include <llm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FRAME_MS (1000.0 / 60.0)
#define MAX_FRAMES 3000 /* 50 s of frames: a safety net, the line ends long before */
#define SLACK_MS 2.0    /* a slice may overrun its budget by this much */

static double clock_ms(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}
static double now_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

/* The game's own work for a frame (physics, AI, building the draw list): here a busy loop. */
static void game_work(double ms) {
    double end = now_ms() + ms;
    while (now_ms() < end) {
    }
}

/* Wait for the next vertical blank, as a vsynced swap would. */
static void wait_until(double t_ms) {
    struct timespec t = {(time_t)(t_ms / 1e3), (long)((t_ms - (double)(time_t)(t_ms / 1e3) * 1e3) * 1e6)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) != 0) {
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The value below which the fraction q of the n samples lie (sorts a copy into scratch). */
static double percentile(const double *v, int n, double q, double *scratch) {
    if (n == 0) return 0.0;
    memcpy(scratch, v, (size_t)n * sizeof *v);
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_double);
    return scratch[(int)(q * (double)(n - 1) + 0.5)];
}

int main(int argc, char **argv) {
    const char *path = NULL;
    double budget_ms = 4.0, game_ms = 2.0;
    int max_tokens = 16, threads = 1;
    const char *check = "cpu";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--budget-ms") && i + 1 < argc) budget_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--game-ms") && i + 1 < argc) game_ms = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-tokens") && i + 1 < argc) max_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--check") && i + 1 < argc) check = argv[++i];
        else if (!path && argv[i][0] != '-') path = argv[i];
        else path = NULL, i = argc; /* unknown flag: show the usage */
    }
    int check_wall = !strcmp(check, "wall"), check_cpu = !strcmp(check, "cpu");
    if (!path || budget_ms <= 0.0 || budget_ms + game_ms > FRAME_MS || threads < 1 ||
        !(check_wall || check_cpu || !strcmp(check, "none"))) {
        fprintf(stderr, "usage: %s MODEL.gguf [--budget-ms MS] [--game-ms MS] [--max-tokens N] [--threads N]"
                        " [--check cpu|wall|none]\n"
                        "  (budget + game work must fit in a %.1f ms frame)\n", argv[0], FRAME_MS);
        return 2;
    }

    /* Loading screen: everything that is not time-sliced happens before the loop. One thread by
     * default: the game keeps the other cores, and the slice runs on the game's own thread. */
    llm_options *o = llm_options_new();
    llm_options_set_int(o, LLM_OPT_THREADS, threads);
    llm_options_set_int(o, LLM_OPT_MAX_TOKENS, max_tokens);
    llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0.0); /* greedy: the same line every run */
    llm_model *m = NULL;
    llm_context *c = NULL;
    llm_session *s = NULL;
    const void *err_on = o;
    llm_status st = llm_model_load_file(path, o, &m);
    if (st == LLM_OK) st = llm_context_new(m, o, &c);
    if (st == LLM_OK) err_on = c, st = llm_session_new(c, o, &s);
    if (st == LLM_OK) err_on = s, st = llm_session_add_stop(s, "\n"); /* the line ends at a newline */
    /* Feeding is not time-sliced: do it when the dialogue opens (a short prompt takes a few
     * frames' worth of time once), or on a worker thread with its own context. */
    double feed_ms = now_ms();
    if (st == LLM_OK)
        st = llm_session_feed_text(s, "A fantasy role-playing game. The player meets the village guard.\n"
                                      "Player: Good morning! Is the road to the castle safe?\nGuard:",
                                   -1, LLM_FEED_ADD_BOS);
    feed_ms = now_ms() - feed_ms;
    if (st != LLM_OK) {
        fprintf(stderr, "error: %s: %s\n", llm_status_str(st), llm_last_error(err_on));
        llm_session_free(s), llm_context_free(c), llm_model_free(m), llm_options_free(o);
        return 1;
    }

    static double frame_t[MAX_FRAMES], infer_t[MAX_FRAMES], infer_cpu[MAX_FRAMES], scratch[MAX_FRAMES];
    char line[4096];
    size_t line_len = 0;
    int frames = 0, tokens = 0, not_ready = 0;
    llm_finish finish = LLM_FINISH_NONE;
    const int64_t budget_us = (int64_t)(budget_ms * 1000.0);
    double vblank = now_ms();
    while (finish == LLM_FINISH_NONE && frames < MAX_FRAMES && st == LLM_OK) {
        double start = now_ms();
        game_work(game_ms);

        /* The NPC's slice of this frame. */
        int32_t token = -1;
        const char *text = NULL;
        size_t len = 0;
        double cpu0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), t0 = now_ms();
        st = llm_session_step_timed(s, budget_us, &token, &text, &len, &finish);
        double t1 = now_ms(), cpu1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        infer_t[frames] = t1 - t0;
        infer_cpu[frames] = cpu1 - cpu0; /* all the library's threads; the game has no others */
        if (token >= 0) tokens++;
        else if (finish == LLM_FINISH_NONE) not_ready++; /* continues next frame */
        if (len > sizeof line - 1 - line_len) len = sizeof line - 1 - line_len;
        if (len) memcpy(line + line_len, text, len), line_len += len; /* the speech bubble grows */

        /* Present and wait for the next vblank; a late frame skips to the following one. */
        vblank += FRAME_MS;
        if (vblank > now_ms()) wait_until(vblank);
        else vblank = now_ms();
        frame_t[frames++] = now_ms() - start;
    }
    line[line_len] = '\0';
    if (st != LLM_OK) fprintf(stderr, "error: %s: %s\n", llm_status_str(st), llm_last_error(s));

    double worst_frame = 0, worst_infer = 0, worst_cpu = 0, total_infer = 0;
    int over_wall = 0, over_cpu = 0;
    const double limit = budget_ms + SLACK_MS, cpu_limit = limit * threads;
    for (int i = 0; i < frames; i++) {
        if (frame_t[i] > worst_frame) worst_frame = frame_t[i];
        if (infer_t[i] > worst_infer) worst_infer = infer_t[i];
        if (infer_cpu[i] > worst_cpu) worst_cpu = infer_cpu[i];
        over_wall += infer_t[i] > limit;
        over_cpu += infer_cpu[i] > cpu_limit;
        total_infer += infer_t[i];
    }
    int finished = finish == LLM_FINISH_EOG || finish == LLM_FINISH_LENGTH || finish == LLM_FINISH_STOP;
    int pass = st == LLM_OK && finished && !(check_wall && over_wall) && !(check_cpu && over_cpu);
    printf("Guard:%s\n", line);
    printf("prompt fed in %.0f ms before the loop; %d tokens in %d frames (%d not-ready slices), finish %d, "
           "%.1f ms of inference in all\n", feed_ms, tokens, frames, not_ready, (int)finish, total_infer);
    double p99_frame = percentile(frame_t, frames, 0.99, scratch);
    printf("frame time: worst %.2f ms, p99 %.2f ms, median %.2f ms (target %.2f ms, game work %.1f ms)\n",
           worst_frame, p99_frame, percentile(frame_t, frames, 0.5, scratch), FRAME_MS, game_ms);
    printf("inference slice, wall clock: worst %.2f ms, p99 %.2f ms, median %.2f ms, %d over the %.1f ms limit\n",
           worst_infer, percentile(infer_t, frames, 0.99, scratch), percentile(infer_t, frames, 0.5, scratch),
           over_wall, limit);
    printf("inference slice, CPU time (%d thread%s): worst %.2f ms, p99 %.2f ms, median %.2f ms, "
           "%d over the %.1f ms limit\n", threads, threads > 1 ? "s" : "", worst_cpu,
           percentile(infer_cpu, frames, 0.99, scratch), percentile(infer_cpu, frames, 0.5, scratch), over_cpu,
           cpu_limit);
    printf("game_loop: %s frames=%d worst_frame=%.2fms p99_frame=%.2fms worst_infer_wall=%.2fms "
           "worst_infer_cpu=%.2fms budget=%.1fms check=%s\n", pass ? "PASS" : "FAIL", frames, worst_frame,
           p99_frame, worst_infer, worst_cpu, budget_ms, check);
    llm_session_free(s);
    llm_context_free(c);
    llm_model_free(m);
    llm_options_free(o);
    return pass ? 0 : 1;
}
