/* homography.c — 3x3 projective matrices for the geometric transformations:
 * composition, inversion, and the four-corner fit (the direct linear
 * transform with h33 = 1; Hartley & Zisserman, Multiple View Geometry, 4.1). */
#include "transforms/transforms.h"

#include <math.h>

void gb_mat3_identity(float m[9]) {
    for (int i = 0; i < 9; i++) m[i] = (i % 4 == 0) ? 1.0f : 0.0f;
}

void gb_mat3_mul(const float a[9], const float b[9], float out[9]) {
    float r[9];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            r[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
    memcpy(out, r, sizeof r);
}

int gb_mat3_inverse(const float m[9], float out[9]) {
    double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], k = m[8];
    double A = e * k - f * h, B = -(d * k - f * g), C = d * h - e * g;
    double det = a * A + b * B + c * C;
    double scale = fabs(a) + fabs(b) + fabs(c) + fabs(d) + fabs(e) + fabs(f) + fabs(g) + fabs(h) + fabs(k);
    if (!(fabs(det) > 1e-12 * scale * scale * scale)) return 0;
    double inv[9] = {A, -(b * k - c * h), b * f - c * e, B, a * k - c * g, -(a * f - c * d),
                     C, -(a * h - b * g), a * e - b * d};
    for (int i = 0; i < 9; i++) out[i] = (float)(inv[i] / det);
    return 1;
}

int gb_mat3_from_corners(const float src[8], const float dst[8], float out[9]) {
    double A[8][9];
    for (int k = 0; k < 4; k++) {
        double x = src[2 * k], y = src[2 * k + 1], u = dst[2 * k], v = dst[2 * k + 1];
        double r0[9] = {x, y, 1, 0, 0, 0, -u * x, -u * y, u};
        double r1[9] = {0, 0, 0, x, y, 1, -v * x, -v * y, v};
        memcpy(A[2 * k], r0, sizeof r0);
        memcpy(A[2 * k + 1], r1, sizeof r1);
    }
    /* Gaussian elimination with partial pivoting on the augmented 8x9 system. */
    for (int col = 0; col < 8; col++) {
        int piv = col;
        for (int r = col + 1; r < 8; r++)
            if (fabs(A[r][col]) > fabs(A[piv][col])) piv = r;
        if (fabs(A[piv][col]) < 1e-12) return 0;
        if (piv != col)
            for (int j = 0; j < 9; j++) {
                double t = A[col][j];
                A[col][j] = A[piv][j];
                A[piv][j] = t;
            }
        for (int r = 0; r < 8; r++) {
            if (r == col) continue;
            double f = A[r][col] / A[col][col];
            for (int j = col; j < 9; j++) A[r][j] -= f * A[col][j];
        }
    }
    for (int i = 0; i < 8; i++) out[i] = (float)(A[i][8] / A[i][i]);
    out[8] = 1.0f;
    return 1;
}
