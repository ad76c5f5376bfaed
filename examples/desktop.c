/* What a desktop application does with libllm: the model loads on a worker thread while the UI
 * thread (here: main) stays responsive, draws a progress bar and offers a Cancel button; then one
 * chat turn streams its reply from the worker into the UI.
 *
 *   desktop MODEL.gguf [--cancel-at FRACTION] [--max-tokens N] [--io-delay-ms MS] [PROMPT]
 *
 * --cancel-at 0.5 "clicks Cancel" once the load passes 50%: the progress callback then returns 0
 * and the load fails with LLM_ERR_ABORTED, which the program reports (exit status 0: the cancel
 * worked; 1 if the load finished anyway or anything failed). */
#define _POSIX_C_SOURCE 200809L
#include <llm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

enum { PHASE_LOADING, PHASE_CHAT, PHASE_DONE };

/* Shared by the UI thread and the worker. The worker never draws: it publishes values that the
 * UI thread polls (atomics) or copies (the mutex-guarded reply), as a GUI toolkit requires. */
typedef struct {
    const char *prompt;
    int max_tokens, io_delay_ms;
    FILE *file;
    atomic_int phase;      /* worker -> UI: PHASE_* */
    atomic_int permille;   /* worker -> UI: load progress 0..1000 */
    atomic_int cancel;     /* UI -> worker: the Cancel button */
    pthread_mutex_t lock;  /* guards reply and reply_len */
    char reply[16384];
    size_t reply_len;
    llm_status status;     /* the worker's result, read once phase is PHASE_DONE */
    char error[512];
} app;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

/* Why a reader instead of llm_model_load_file: with mmap (the default) a load with a progress
 * callback prefaults the mapping in 64 MiB steps and reports each, but a model in the page cache
 * maps almost instantly; with LLM_OPT_USE_MMAP=0 the file is read in one call and progress comes
 * only after it. A reader reports after every read call, so the bar moves smoothly, and it is
 * what an app loading from its own storage (an archive, a download, an encrypted bundle) uses.
 * --io-delay-ms simulates such slow storage so that the load lasts long enough to watch. */
static size_t file_read(void *ud, void *buffer, size_t size) {
    app *a = ud;
    if (size > ((size_t)1 << 20)) size = (size_t)1 << 20; /* short reads are fine: 1 MiB steps */
    if (a->io_delay_ms > 0) sleep_ms(a->io_delay_ms);
    return fread(buffer, 1, size, a->file);
}
static int file_seek(void *ud, uint64_t offset) {
    return fseeko(((app *)ud)->file, (off_t)offset, SEEK_SET);
}
static uint64_t file_size(void *ud) {
    app *a = ud;
    off_t here = ftello(a->file), end = -1;
    if (fseeko(a->file, 0, SEEK_END) == 0) end = ftello(a->file);
    fseeko(a->file, here, SEEK_SET);
    return end < 0 ? 0 : (uint64_t)end;
}

/* Runs on the worker: publish the fraction, and stop (return 0) once Cancel was clicked. */
static int on_progress(void *ud, float progress) {
    app *a = ud;
    atomic_store(&a->permille, (int)(progress * 1000.0f));
    return !atomic_load(&a->cancel);
}

/* Runs on the worker: hand each piece of the reply to the UI; non-zero (Cancel) stops it. */
static int on_text(void *ud, const char *text, size_t len, int32_t token) {
    app *a = ud;
    (void)token;
    pthread_mutex_lock(&a->lock);
    if (len > sizeof a->reply - a->reply_len) len = sizeof a->reply - a->reply_len;
    memcpy(a->reply + a->reply_len, text, len);
    a->reply_len += len;
    pthread_mutex_unlock(&a->lock);
    return atomic_load(&a->cancel);
}

/* The worker: load, then one chat turn in the model's own chat template. Every libllm handle
 * lives and dies on this thread. (An instruction-tuned model such as SmolLM2 135M Instruct
 * answers; a base model such as Gemma 3 270M follows the template but often only echoes.) */
static void *worker(void *arg) {
    app *a = arg;
    llm_options *o = llm_options_new();
    llm_model *m = NULL;
    llm_context *c = NULL;
    llm_session *s = NULL;
    const void *err_on = o; /* the handle whose llm_last_error explains a failure */
    llm_finish finish = LLM_FINISH_NONE;
    llm_status st = o ? LLM_OK : LLM_ERR_OUT_OF_MEMORY;
    if (st == LLM_OK) {
        llm_options_set_progress(o, on_progress, a);
        llm_options_set_int(o, LLM_OPT_MAX_TOKENS, a->max_tokens);
        llm_options_set_float(o, LLM_OPT_TEMPERATURE, 0.0); /* greedy: the same reply every run */
        st = llm_model_load_reader(file_read, file_seek, file_size, a, o, &m);
    }
    if (st == LLM_OK) {
        atomic_store(&a->phase, PHASE_CHAT);
        st = llm_context_new(m, o, &c);
    }
    if (st == LLM_OK) {
        err_on = c;
        st = llm_session_new(c, o, &s);
    }
    if (st == LLM_OK) {
        err_on = s;
        st = llm_session_chat(s, "user", a->prompt);
    }
    if (st == LLM_OK) st = llm_session_generate(s, on_text, a, &finish);
    snprintf(a->error, sizeof a->error, "%s", st == LLM_OK ? "" : llm_last_error(err_on));
    if (st == LLM_OK && finish == LLM_FINISH_ABORTED) { /* Cancel clicked during the reply */
        st = LLM_ERR_ABORTED;
        snprintf(a->error, sizeof a->error, "the reply was stopped");
    }
    llm_session_free(s);
    llm_context_free(c);
    llm_model_free(m);
    llm_options_free(o);
    a->status = st;
    atomic_store(&a->phase, PHASE_DONE); /* seq_cst: status and error are visible before this */
    return NULL;
}

static void draw_bar(int permille, long ticks) {
    char bar[41];
    int fill = permille * 40 / 1000;
    for (int i = 0; i < 40; i++) bar[i] = i < fill ? '#' : '.';
    bar[40] = '\0';
    fprintf(stderr, "\rloading [%s] %3d%%  (ui tick %ld)", bar, permille / 10, ticks);
}

int main(int argc, char **argv) {
    const char *path = NULL;
    double cancel_at = -1.0;
    app a = {.prompt = "Write one sentence about the sea.", .max_tokens = 24, .io_delay_ms = 2};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cancel-at") && i + 1 < argc) cancel_at = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-tokens") && i + 1 < argc) a.max_tokens = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--io-delay-ms") && i + 1 < argc) a.io_delay_ms = atoi(argv[++i]);
        else if (!path) path = argv[i];
        else a.prompt = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: %s MODEL.gguf [--cancel-at FRACTION] [--max-tokens N] [--io-delay-ms MS] [PROMPT]\n",
                argv[0]);
        return 2;
    }
    if (!(a.file = fopen(path, "rb"))) {
        perror(path);
        return 1;
    }
    atomic_init(&a.phase, PHASE_LOADING);
    atomic_init(&a.permille, 0);
    atomic_init(&a.cancel, 0);
    pthread_mutex_init(&a.lock, NULL);
    pthread_t thread;
    if (pthread_create(&thread, NULL, worker, &a) != 0) {
        fprintf(stderr, "cannot start the worker thread\n");
        return 1;
    }

    /* The UI thread's event loop: wake every 20 ms, redraw, react to "clicks". It never waits on
     * the library, which the longest gap between ticks shows at the end. */
    long ticks = 0;
    size_t shown = 0;
    double last = now_ms(), worst_gap = 0.0;
    int phase = PHASE_LOADING, cancelled = 0;
    while (phase != PHASE_DONE) {
        sleep_ms(20);
        double t = now_ms();
        if (t - last > worst_gap) worst_gap = t - last;
        last = t;
        ticks++;
        int new_phase = atomic_load(&a.phase);
        if (phase == PHASE_LOADING) {
            int permille = atomic_load(&a.permille);
            draw_bar(new_phase == PHASE_CHAT ? 1000 : permille, ticks); /* CHAT: loaded */
            if (new_phase != PHASE_LOADING) fprintf(stderr, "\n");
            if (!cancelled && cancel_at >= 0.0 && permille >= (int)(cancel_at * 1000.0)) {
                atomic_store(&a.cancel, 1); /* the user clicked Cancel */
                cancelled = 1;
                fprintf(stderr, "\n[ui] Cancel clicked at %.1f%%\n", permille / 10.0);
            }
        }
        pthread_mutex_lock(&a.lock); /* show the part of the reply that arrived since last tick */
        fwrite(a.reply + shown, 1, a.reply_len - shown, stdout);
        shown = a.reply_len;
        pthread_mutex_unlock(&a.lock);
        fflush(stdout);
        phase = new_phase;
    }
    pthread_join(thread, NULL);
    fclose(a.file);
    pthread_mutex_destroy(&a.lock);

    printf("\n");
    fprintf(stderr, "[ui] %ld ticks, longest gap between ticks %.1f ms\n", ticks, worst_gap);
    if (a.status == LLM_ERR_ABORTED) {
        printf("cancelled: LLM_ERR_ABORTED (%s: %s)\n", llm_status_str(a.status), a.error);
        return cancelled ? 0 : 1;
    }
    if (a.status != LLM_OK) {
        printf("error: %s: %s\n", llm_status_str(a.status), a.error);
        return 1;
    }
    if (cancelled) {
        printf("the load finished before the cancel took effect\n");
        return 1;
    }
    printf("reply complete (%zu bytes)\n", shown);
    return 0;
}
