/* special.c — unary elementwise functions that exported models use beyond
 * the classic activations (ONNX operator spec, opsets 6-17):
 *   Erf (PyTorch's exact GELU exports as x/2 (1 + Erf(x/sqrt 2))),
 *   Sin, Cos, Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh
 *   (positional encodings), Floor, Ceil, Round, Sign, Celu, ThresholdedRelu.
 * Forward and backward side by side through UNARY_OP (ops/elementwise.h);
 * backward accumulates. Derivatives:
 *   Erf 2/sqrt(pi) e^(-x^2)    Tan 1 + y^2        Asin/Acos +-1/sqrt(1 - x^2)
 *   Atan 1/(1 + x^2)           Asinh 1/sqrt(x^2 + 1)   Acosh 1/sqrt(x^2 - 1)
 *   Atanh 1/(1 - x^2)          Celu x > 0 ? 1 : e^(x/alpha)
 *   ThresholdedRelu x > alpha ? 1 : 0
 * Floor, Ceil, Round and Sign are piecewise constant: zero gradient (as in
 * PyTorch), so attacks see no signal through them, which is the truth.
 * Round rounds half to even (ONNX), which nearbyintf does in the default
 * rounding mode.
 */
#include "ops/elementwise.h"

#include <math.h>

static gb_status alpha_one_init(gb_node *n) { return gb_attr_float(n, "alpha", 1.0f, &n->p.alpha); }

#define TWO_OVER_SQRT_PI 1.12837916709551257390f

UNARY_OP(ERF, "Erf", NULL, erff(x), TWO_OVER_SQRT_PI * expf(-x * x))
UNARY_OP(SIN, "Sin", NULL, sinf(x), cosf(x))
UNARY_OP(COS, "Cos", NULL, cosf(x), -sinf(x))
UNARY_OP(TAN, "Tan", NULL, tanf(x), 1.0f + y * y)
UNARY_OP(ASIN, "Asin", NULL, asinf(x), 1.0f / sqrtf(1.0f - x * x))
UNARY_OP(ACOS, "Acos", NULL, acosf(x), -1.0f / sqrtf(1.0f - x * x))
UNARY_OP(ATAN, "Atan", NULL, atanf(x), 1.0f / (1.0f + x * x))
UNARY_OP(SINH, "Sinh", NULL, sinhf(x), coshf(x))
UNARY_OP(COSH, "Cosh", NULL, coshf(x), sinhf(x))
UNARY_OP(ASINH, "Asinh", NULL, asinhf(x), 1.0f / sqrtf(x * x + 1.0f))
UNARY_OP(ACOSH, "Acosh", NULL, acoshf(x), 1.0f / sqrtf(x * x - 1.0f))
UNARY_OP(ATANH, "Atanh", NULL, atanhf(x), 1.0f / (1.0f - x * x))
UNARY_OP(FLOOR, "Floor", NULL, floorf(x), 0.0f)
UNARY_OP(CEIL, "Ceil", NULL, ceilf(x), 0.0f)
UNARY_OP(ROUND, "Round", NULL, nearbyintf(x), 0.0f)
UNARY_OP(SIGN, "Sign", NULL, (float)((x > 0) - (x < 0)), 0.0f)
UNARY_OP(CELU, "Celu", alpha_one_init, fmaxf(0.0f, x) + fminf(0.0f, a * expm1f(x / a)),
         x > 0 ? 1.0f : expf(x / a))
UNARY_OP(THRESHOLDED_RELU, "ThresholdedRelu", alpha_one_init, x > a ? x : 0.0f, x > a ? 1.0f : 0.0f)

/* Mish (opset 18): x tanh(softplus(x)); d/dx = t + x sigmoid(x) (1 - t^2)
 * with t = tanh(softplus(x)). softplus(x) = x beyond 20, where
 * log1p(e^x) - x is below float resolution. */
static inline float mish_t(float x) { return tanhf(x > 20.0f ? x : log1pf(expf(x))); }
UNARY_OP(MISH, "Mish", NULL, x * mish_t(x),
         mish_t(x) + x / (1.0f + expf(-x)) * (1.0f - mish_t(x) * mish_t(x)))
