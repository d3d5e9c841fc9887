/* stats.c — the exact statistics randomized smoothing needs (Cohen et al.
 * 2019, alg. 1): the Clopper-Pearson bound, the normal quantile and the
 * binomial test, all through the regularized incomplete beta function
 *     I_x(a, b) = B(x; a, b) / B(a, b),
 * since P(Bin(n, p) >= k) = I_p(k, n - k + 1).
 * I_x is evaluated by its continued fraction (Abramowitz & Stegun 26.5.8),
 * summed with the modified Lentz method, on the side of the symmetry
 * I_x(a, b) = 1 - I_{1-x}(b, a) where it converges fast; inverses are found
 * by bisection, slow but safe and exact to double precision, and called once
 * per certified image. */
#include "defenses.h"

#include <math.h>

/* The continued fraction of A&S 26.5.8 for x < (a + 1) / (a + b + 2). */
static double beta_cf(double a, double b, double x) {
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double f = d;
    for (int m = 1; m <= 100000; m++) {
        /* even term d_2m, then odd term d_2m+1 */
        for (int odd = 0; odd < 2; odd++) {
            double num = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d;
            if (fabs(d) < tiny) d = tiny;
            c = 1 + num / c;
            if (fabs(c) < tiny) c = tiny;
            d = 1 / d;
            f *= c * d;
            if (odd && fabs(c * d - 1) < 1e-16) return f;
        }
    }
    return f;
}

double gb_beta_inc(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1) / (a + b + 2)) return exp(lfront) * beta_cf(a, b, x) / a;
    return 1 - exp(lfront) * beta_cf(b, a, 1 - x) / b;
}

double gb_beta_inc_inv(double a, double b, double p) {
    if (p <= 0) return 0;
    if (p >= 1) return 1;
    double lo = 0, hi = 1;
    for (int it = 0; it < 200 && hi - lo > 0; it++) {
        double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break; /* adjacent doubles */
        if (gb_beta_inc(a, b, mid) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

double gb_normal_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

double gb_normal_quantile(double p) {
    if (!(p > 0)) return -INFINITY;
    if (!(p < 1)) return INFINITY;
    /* Solve in the lower tail, where 0.5 erfc(-z / sqrt 2) keeps full relative
     * precision; the upper half by symmetry. */
    int upper = p > 0.5;
    double q = upper ? 1 - p : p, lo = -40, hi = 0;
    for (int it = 0; it < 200; it++) {
        double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        if (gb_normal_cdf(mid) < q) lo = mid;
        else hi = mid;
    }
    double z = 0.5 * (lo + hi);
    return upper ? -z : z;
}

double gb_clopper_pearson_lower(int64_t k, int64_t n, double alpha) {
    if (k <= 0 || n <= 0) return 0;
    if (k > n) k = n;
    /* The p with P(Bin(n, p) >= k) = alpha. */
    return gb_beta_inc_inv((double)k, (double)(n - k + 1), alpha);
}

double gb_binom_test_half(int64_t k, int64_t n) {
    if (n <= 0) return 1;
    int64_t j = GB_MIN(k, n - k);
    if (2 * j == n) return 1;
    /* P(X <= j) = P(X >= n - j) = I_{1/2}(n - j, j + 1); both tails by symmetry. */
    double tail = gb_beta_inc((double)(n - j), (double)(j + 1), 0.5);
    return GB_MIN(1.0, 2 * tail);
}
