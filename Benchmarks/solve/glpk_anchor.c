/* GLPK anchor for `dpm solve --mps FILE --repeat N --drift F --seed S`: the same instance, the same cold solve,
 * and the same warm re-solves under the same drift (SplitMix64(seed), one draw per finite row bound in row order,
 * one draw for both sides of an equality row). Warm = glp_simplex (dual, then primal) without presolve from the
 * previous basis after changing row bounds. Prints one JSON line with the keys dpm prints.
 *
 * Build: gcc -O2 -o glpk_anchor glpk_anchor.c -lglpk      Run: ./glpk_anchor FILE.mps [free|fixed] N F S */
#include <glpk.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t state;
static uint64_t next_u64(void) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double next_unit(void) { return (double)(next_u64() >> 11) * 0x1p-53; }

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}
static int by_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static int by_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(int argc, char **argv) {
    if (argc < 6) { fprintf(stderr, "usage: %s FILE.mps free|fixed REPEAT DRIFT SEED\n", argv[0]); return 2; }
    int repeat = atoi(argv[3]);
    double drift = atof(argv[4]);
    state = strtoull(argv[5], NULL, 10);
    glp_term_out(GLP_OFF);
    glp_prob *lp = glp_create_prob();
    if (glp_read_mps(lp, strcmp(argv[2], "fixed") == 0 ? GLP_MPS_DECK : GLP_MPS_FILE, NULL, argv[1]) != 0) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    int m = glp_get_num_rows(lp);
    int *type = malloc(sizeof(int) * (m + 1));
    double *lb = malloc(sizeof(double) * (m + 1)), *ub = malloc(sizeof(double) * (m + 1));
    for (int i = 1; i <= m; i++) { type[i] = glp_get_row_type(lp, i); lb[i] = glp_get_row_lb(lp, i); ub[i] = glp_get_row_ub(lp, i); }

    glp_smcp parm;
    glp_init_smcp(&parm);
    parm.msg_lev = GLP_MSG_OFF;
    parm.presolve = GLP_OFF;
    uint64_t start = now_ns();
    glp_adv_basis(lp, 0);
    glp_simplex(lp, &parm);
    double cold_us = (now_ns() - start) / 1e3;
    int status = glp_get_status(lp);
    printf("{\"solver\": \"glpk\", \"status\": \"%s\", \"objective\": %.10g, \"iterations\": %d, \"cold_us\": %.3f",
           status == GLP_OPT ? "optimal" : (status == GLP_NOFEAS ? "infeasible" : (status == GLP_UNBND ? "unbounded" : "other")),
           glp_get_obj_val(lp), glp_get_it_cnt(lp), cold_us);
    if (repeat > 0) {
        double *us = malloc(sizeof(double) * repeat);
        int *its = malloc(sizeof(int) * repeat), optimal = 0;
        parm.meth = GLP_DUALP;
        for (int r = 0; r < repeat; r++) {
            for (int i = 1; i <= m; i++) {
                double f, low = lb[i], high = ub[i];
                switch (type[i]) {
                case GLP_FX: f = 1 - drift + 2 * drift * next_unit(); glp_set_row_bnds(lp, i, GLP_FX, low * f, low * f); break;
                case GLP_LO: glp_set_row_bnds(lp, i, GLP_LO, low * (1 - drift + 2 * drift * next_unit()), 0); break;
                case GLP_UP: glp_set_row_bnds(lp, i, GLP_UP, 0, high * (1 - drift + 2 * drift * next_unit())); break;
                case GLP_DB: {
                    double nl = low * (1 - drift + 2 * drift * next_unit());
                    double nh = high * (1 - drift + 2 * drift * next_unit());
                    glp_set_row_bnds(lp, i, nl < nh ? GLP_DB : GLP_FX, nl, nl < nh ? nh : nl);
                    break;
                }
                default: break;
                }
            }
            int before = glp_get_it_cnt(lp);
            uint64_t t0 = now_ns();
            glp_simplex(lp, &parm);
            us[r] = (now_ns() - t0) / 1e3;
            its[r] = glp_get_it_cnt(lp) - before;
            if (glp_get_status(lp) == GLP_OPT) optimal++;
        }
        qsort(us, repeat, sizeof(double), by_double);
        qsort(its, repeat, sizeof(int), by_int);
        int p99 = (int)ceil(repeat * 0.99) - 1;
        printf(", \"repeat\": %d, \"drift\": %g, \"seed\": %s, \"warm_optimal\": %d, \"median_us\": %.3f, \"p99_us\": %.3f, \"median_iterations\": %d",
               repeat, drift, argv[5], optimal, us[repeat / 2], us[p99 < 0 ? 0 : p99], its[repeat / 2]);
    }
    printf("}\n");
    return 0;
}
