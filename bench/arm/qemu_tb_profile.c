/* qemu_tb_profile.c - TCG plugin for qemu-user 7.2 (plugin API v1): execution count of every
 * translation block, and instruction counts between "step markers", for arm_cost.py.
 *
 * Build: gcc -O2 -shared -fPIC -o libtbprofile.so qemu_tb_profile.c
 * Run:   qemu-aarch64 -cpu cortex-a53 -L /usr/aarch64-linux-gnu \
 *          -plugin ./libtbprofile.so,out=FILE,marker=omp_get_wtime ./prog
 *
 * Extends the idea of the project's ../shared/arm/qemu_insn_count.c (inline counters, one guest
 * thread, deterministic): instead of one total it keeps a counter per translation block (TB),
 * keyed by the TB's start address and length, together with what the TB is: its symbol, its
 * instruction classes (FMA, loads, stores) and its raw instruction words. A TB is a basic block
 * as far as the guest's executed path is concerned (it ends at the first branch), so
 * count x instructions summed over TBs is the total, per symbol it is the per-function cost, and
 * the raw words let arm_cost.py hand the hot blocks to llvm-mca.
 *
 * marker=SYMBOL: every execution of the entry block of the symbol containing SYMBOL (the first TB translated in that symbol;
 * a function is always first entered at its entry) records the running instruction total. The
 * engine calls omp_get_wtime() before and after each step when profiling, so the differences
 * between consecutive markers are the steps' instruction counts. Needs a binary with symbols
 * (qemu-user knows the main executable's symbols only: link statically to see libc/libgomp).
 *
 * Output (out=FILE, else qemu's log): lines
 *   total N
 *   M i INSNS_AT_MARKER                        (one per marker execution, in order)
 *   T vaddr n_insns exec_count fma loads stores symbol hexwords
 * Counters are plain inline adds: exact with one guest thread, may lose counts with several.
 * The API is declared by hand (Debian ships no qemu-plugin.h); the declarations mirror QEMU 7.2's
 * public plugin ABI, QEMU_PLUGIN_VERSION 1.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t, void *);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *, qemu_plugin_vcpu_udata_cb_t,
                                          enum qemu_plugin_cb_flags, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *);
const char *qemu_plugin_insn_symbol(const struct qemu_plugin_insn *);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, qemu_plugin_udata_cb_t, void *);
void qemu_plugin_outs(const char *);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* One record per distinct (start address, length): a retranslated TB adds to the same counter. */
typedef struct Block {
  uint64_t vaddr;
  size_t n;
  uint64_t count; /* the inline-add target */
  unsigned fma, loads, stores;
  char *symbol;
  uint32_t *words;
  struct Block *next;
} Block;

enum { kBuckets = 1 << 16 };
static Block *table[kBuckets];
static uint64_t total;
static uint64_t *marks;
static size_t n_marks, cap_marks;
static char marker[128];
static uint64_t marker_entry;
static bool have_marker_entry;
static char out_path[512];

static Block *block_for(uint64_t vaddr, size_t n, bool *fresh) {
  size_t h = (size_t)((vaddr >> 2) ^ (vaddr >> 18) ^ n) & (kBuckets - 1);
  for (Block *b = table[h]; b; b = b->next)
    if (b->vaddr == vaddr && b->n == n) {
      *fresh = false;
      return b;
    }
  Block *b = calloc(1, sizeof *b);
  if (!b) abort();
  b->vaddr = vaddr;
  b->n = n;
  b->next = table[h];
  table[h] = b;
  *fresh = true;
  return b;
}

static void on_marker(unsigned int vcpu, void *udata) {
  (void)vcpu;
  (void)udata;
  if (n_marks == cap_marks) {
    cap_marks = cap_marks ? 2 * cap_marks : 4096;
    marks = realloc(marks, cap_marks * sizeof *marks);
    if (!marks) abort();
  }
  marks[n_marks++] = total;
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  const uint64_t vaddr = qemu_plugin_tb_vaddr(tb);
  bool fresh;
  Block *b = block_for(vaddr, n, &fresh);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, 1);
  const char *sym = n ? qemu_plugin_insn_symbol(qemu_plugin_tb_get_insn(tb, 0)) : NULL;
  if (marker[0] && sym && strstr(sym, marker)) {  /* substring: aliases such as gomp_ialias_omp_get_wtime */
    if (!have_marker_entry) {
      marker_entry = vaddr;
      have_marker_entry = true;
    }
    if (vaddr == marker_entry) qemu_plugin_register_vcpu_tb_exec_cb(tb, on_marker, QEMU_PLUGIN_CB_NO_REGS, NULL);
  }
  if (!fresh) return;
  b->symbol = strdup(sym && *sym ? sym : "?");
  b->words = calloc(n ? n : 1, sizeof *b->words);
  if (!b->symbol || !b->words) abort();
  for (size_t i = 0; i < n; ++i) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    if (qemu_plugin_insn_size(insn) == 4) memcpy(&b->words[i], qemu_plugin_insn_data(insn), 4);
    char *d = qemu_plugin_insn_disas(insn); /* e.g. "fmla v6.4s, v2.4s, v0.s[0]" */
    if (!d) continue;
    if (!strncmp(d, "fmla", 4) || !strncmp(d, "fmadd", 5)) ++b->fma;
    else if (!strncmp(d, "ld", 2)) ++b->loads;
    else if (!strncmp(d, "st", 2)) ++b->stores;
    free(d);
  }
}

static void on_atexit(qemu_plugin_id_t id, void *p) {
  (void)id;
  (void)p;
  FILE *f = out_path[0] ? fopen(out_path, "w") : NULL;
  char line[640];
  if (out_path[0] && !f) {
    snprintf(line, sizeof line, "qemu_tb_profile: cannot write %s\n", out_path);
    qemu_plugin_outs(line);
    return;
  }
#define EMIT(...)                                        \
  do {                                                   \
    if (f) fprintf(f, __VA_ARGS__);                      \
    else {                                               \
      snprintf(line, sizeof line, __VA_ARGS__);          \
      qemu_plugin_outs(line);                            \
    }                                                    \
  } while (0)
  EMIT("total %" PRIu64 "\n", total);
  for (size_t i = 0; i < n_marks; ++i) EMIT("M %zu %" PRIu64 "\n", i, marks[i]);
  for (size_t h = 0; h < kBuckets; ++h)
    for (Block *b = table[h]; b; b = b->next) {
      if (!b->count || !f) continue; /* blocks only to a file: too long for the log */
      fprintf(f, "T %" PRIx64 " %zu %" PRIu64 " %u %u %u %s ", b->vaddr, b->n, b->count, b->fma, b->loads, b->stores,
              b->symbol);
      for (size_t i = 0; i < b->n; ++i) fprintf(f, "%08" PRIx32, b->words[i]);
      fputc('\n', f);
    }
#undef EMIT
  if (f) fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
  (void)info;
  for (int i = 0; i < argc; ++i) {
    if (!strncmp(argv[i], "out=", 4)) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
    else if (!strncmp(argv[i], "marker=", 7)) snprintf(marker, sizeof marker, "%s", argv[i] + 7);
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
  qemu_plugin_register_atexit_cb(id, on_atexit, NULL);
  return 0;
}
