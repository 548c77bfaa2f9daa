/* v16.h -- sixteen floats, the one width every kernel in nn/kern/ is written
 * at. One register on AVX-512, two on AVX2, a plain array on the portable
 * path (which the compiler may map onto NEON or SSE lanes as it likes).
 *
 * Why one width: a kernel's arithmetic is then the same on every path. Lane
 * i of a v16 holds the same value on every instruction set, every operation
 * is IEEE (add, mul, div, and fma rounded once: fmaf on the portable path),
 * and the build has -ffp-contract=off, so no a*b+c is fused behind our
 * back. Kernels that reduce across lanes do it with v_hsum's fixed tree.
 *
 * The translation unit that includes this defines exactly one of
 * NN_KERN_AVX512, NN_KERN_AVX2 or NN_KERN_PORTABLE (the Makefile compiles
 * each file in nn/kern/ once per path with its -m flags). */
#ifndef NN_KERN_V16_H
#define NN_KERN_V16_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(NN_KERN_PORTABLE) && defined(__SANITIZE_ADDRESS__)
/* under the sanitizers, sixteen checked lanes inlined into every caller
 * take minutes to compile (act.c alone over three): calls instead, which
 * compute the same bits */
#define V_INLINE static __attribute__((noinline, unused))
#else
#define V_INLINE static inline __attribute__((always_inline))
#endif

#if defined(NN_KERN_AVX512)
#include <immintrin.h>
typedef __m512 v16;
typedef __mmask16 m16; /* which lanes a masked load or store touches */
V_INLINE v16 v_zero(void) { return _mm512_setzero_ps(); }
V_INLINE v16 v_set1(float x) { return _mm512_set1_ps(x); }
V_INLINE v16 v_bcast(const float *p) { return _mm512_set1_ps(*p); }
V_INLINE v16 v_load(const float *p) { return _mm512_loadu_ps(p); }
V_INLINE void v_store(float *p, v16 v) { _mm512_storeu_ps(p, v); }
V_INLINE m16 v_mask(int n) { return n >= 16 ? (m16)0xFFFF : n <= 0 ? (m16)0 : (m16)((1u << n) - 1); }
/* lanes lo..hi-1 (for loads only) */
V_INLINE m16 v_mask_range(int lo, int hi) { return (m16)(v_mask(hi) & ~v_mask(lo)); }
V_INLINE v16 v_load_m(const float *p, m16 m) { return _mm512_maskz_loadu_ps(m, p); }
V_INLINE void v_store_m(float *p, m16 m, v16 v) { _mm512_mask_storeu_ps(p, m, v); }
V_INLINE v16 v_fma(v16 a, v16 b, v16 c) { return _mm512_fmadd_ps(a, b, c); }
V_INLINE v16 v_add(v16 a, v16 b) { return _mm512_add_ps(a, b); }
V_INLINE v16 v_sub(v16 a, v16 b) { return _mm512_sub_ps(a, b); }
V_INLINE v16 v_mul(v16 a, v16 b) { return _mm512_mul_ps(a, b); }
V_INLINE v16 v_div(v16 a, v16 b) { return _mm512_div_ps(a, b); }
/* a > b ? a : b, lane by lane (so a NaN in a gives b, a NaN in b gives b) */
V_INLINE v16 v_max(v16 a, v16 b) { return _mm512_max_ps(a, b); }
/* a < b ? a : b */
V_INLINE v16 v_min(v16 a, v16 b) { return _mm512_min_ps(a, b); }
/* 2^k for integral k in [-126, 127] */
V_INLINE v16 v_pow2i(v16 k) {
    __m512i i = _mm512_cvtps_epi32(k);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(i, _mm512_set1_epi32(127)), 23));
}
V_INLINE void v_to(float *dst, v16 v) { _mm512_storeu_ps(dst, v); }
/* dst[0..8) = src[0..8) */
V_INLINE void copy8(float *dst, const float *src) { _mm256_storeu_ps(dst, _mm256_loadu_ps(src)); }
/* a < b ? t : u, lane by lane */
V_INLINE v16 v_lt_select(v16 a, v16 b, v16 t, v16 u) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), u, t);
}

/* lane masks from comparisons, and selects */
typedef __mmask16 vm16;
V_INLINE vm16 v_gt(v16 a, v16 b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
V_INLINE vm16 v_isnan(v16 a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
V_INLINE vm16 v_or(vm16 a, vm16 b) { return a | b; }
V_INLINE v16 v_blend(vm16 m, v16 t, v16 u) { return _mm512_mask_blend_ps(m, u, t); }
/* r[0..15], 16 rows of 16, transposed in place: for each bit k of the
 * column, rows i and i + 2^k (bit k of i clear) trade the halves where
 * their row and column bits differ (one two-source permute each) */
V_INLINE void v_transpose16(v16 r[16]) {
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        const int d = 1 << k;
        /* lanes with bit k set; i0: r0's own or r1's lane c ^ d; i1: r0's c ^ d or r1's own */
        const __mmask16 hi = _mm512_test_epi32_mask(iota, _mm512_set1_epi32(d));
        const __m512i other = _mm512_xor_si512(iota, _mm512_set1_epi32(d));
        const __m512i i0 = _mm512_mask_add_epi32(iota, hi, other, _mm512_set1_epi32(16));
        const __m512i i1 = _mm512_mask_add_epi32(other, hi, iota, _mm512_set1_epi32(16));
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            if (i & d) continue;
            const v16 a = r[i], b = r[i + d];
            r[i] = _mm512_permutex2var_ps(a, i0, b);
            r[i + d] = _mm512_permutex2var_ps(a, i1, b);
        }
    }
}
/* the even and the odd elements of the 32 floats a, b */
V_INLINE void v_deinterleave(v16 a, v16 b, v16 *even, v16 *odd) {
    const __m512i e = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    *even = _mm512_permutex2var_ps(a, e, b);
    *odd = _mm512_permutex2var_ps(a, _mm512_add_epi32(e, _mm512_set1_epi32(1)), b);
}
/* each element twice: lo = a0 a0 a1 a1 .. a7 a7, hi = a8 a8 .. a15 a15 */
V_INLINE void v_dup_pairs(v16 a, v16 *lo, v16 *hi) {
    const __m512i l = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    *lo = _mm512_permutexvar_ps(l, a);
    *hi = _mm512_permutexvar_ps(_mm512_add_epi32(l, _mm512_set1_epi32(8)), a);
}
V_INLINE v16 v_iota(void) { return _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }
/* the (integral) floats of a as ints, into the lanes m of p */
V_INLINE void v_store_int_m(int *p, m16 m, v16 a) { _mm512_mask_storeu_epi32(p, m, _mm512_cvtps_epi32(a)); }
V_INLINE void v_store_int(int *p, v16 a) { _mm512_storeu_si512(p, _mm512_cvtps_epi32(a)); }
/* the ints in the lanes m of p as floats (exact below 2^24), 0 elsewhere */
V_INLINE v16 v_load_int_m(const int *p, m16 m) { return _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(m, p)); }

#elif defined(NN_KERN_AVX2)
#include <immintrin.h>
typedef struct { __m256 lo, hi; } v16;
typedef struct { __m256i lo, hi; int n; } m16;
V_INLINE v16 v_zero(void) { v16 r = {_mm256_setzero_ps(), _mm256_setzero_ps()}; return r; }
V_INLINE v16 v_set1(float x) { v16 r = {_mm256_set1_ps(x), _mm256_set1_ps(x)}; return r; }
V_INLINE v16 v_bcast(const float *p) { __m256 x = _mm256_broadcast_ss(p); v16 r = {x, x}; return r; }
V_INLINE v16 v_load(const float *p) { v16 r = {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; return r; }
V_INLINE void v_store(float *p, v16 v) { _mm256_storeu_ps(p, v.lo); _mm256_storeu_ps(p + 8, v.hi); }
V_INLINE m16 v_mask(int n) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i nn = _mm256_set1_epi32(n);
    m16 m = {_mm256_cmpgt_epi32(nn, iota), _mm256_cmpgt_epi32(nn, _mm256_add_epi32(iota, _mm256_set1_epi32(8))),
             n < 0 ? 0 : n > 16 ? 16 : n};
    return m;
}
V_INLINE m16 v_mask_range(int lo, int hi) {
    m16 a = v_mask(hi), b = v_mask(lo);
    m16 m = {_mm256_andnot_si256(b.lo, a.lo), _mm256_andnot_si256(b.hi, a.hi), -1};
    return m;
}
V_INLINE v16 v_load_m(const float *p, m16 m) {
    v16 r = {_mm256_maskload_ps(p, m.lo), _mm256_maskload_ps(p + 8, m.hi)};
    return r;
}
/* not vmaskmovps: as a store it costs a dozen cycles and more on AMD's Zen;
 * through the stack, then n plain stores */
V_INLINE void v_store_m(float *p, m16 m, v16 v) {
    float t[16];
    _mm256_storeu_ps(t, v.lo);
    _mm256_storeu_ps(t + 8, v.hi);
    for (int i = 0; i < m.n; i++) p[i] = t[i];
}
V_INLINE v16 v_load_int_m(const int *p, m16 m) {
    v16 r = {_mm256_cvtepi32_ps(_mm256_maskload_epi32(p, m.lo)), _mm256_cvtepi32_ps(_mm256_maskload_epi32(p + 8, m.hi))};
    return r;
}
#define V2_(f, a, b) v16 r = {f((a).lo, (b).lo), f((a).hi, (b).hi)}; return r
V_INLINE v16 v_fma(v16 a, v16 b, v16 c) {
    v16 r = {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
    return r;
}
V_INLINE v16 v_add(v16 a, v16 b) { V2_(_mm256_add_ps, a, b); }
V_INLINE v16 v_sub(v16 a, v16 b) { V2_(_mm256_sub_ps, a, b); }
V_INLINE v16 v_mul(v16 a, v16 b) { V2_(_mm256_mul_ps, a, b); }
V_INLINE v16 v_div(v16 a, v16 b) { V2_(_mm256_div_ps, a, b); }
V_INLINE v16 v_max(v16 a, v16 b) { V2_(_mm256_max_ps, a, b); }
V_INLINE v16 v_min(v16 a, v16 b) { V2_(_mm256_min_ps, a, b); }
#undef V2_
V_INLINE __m256 pow2i8_(__m256 k) {
    __m256i i = _mm256_cvtps_epi32(k);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(i, _mm256_set1_epi32(127)), 23));
}
V_INLINE v16 v_pow2i(v16 k) { v16 r = {pow2i8_(k.lo), pow2i8_(k.hi)}; return r; }
V_INLINE void v_to(float *dst, v16 v) { v_store(dst, v); }
V_INLINE void copy8(float *dst, const float *src) { _mm256_storeu_ps(dst, _mm256_loadu_ps(src)); }
V_INLINE v16 v_lt_select(v16 a, v16 b, v16 t, v16 u) {
    v16 r = {_mm256_blendv_ps(u.lo, t.lo, _mm256_cmp_ps(a.lo, b.lo, _CMP_LT_OQ)),
             _mm256_blendv_ps(u.hi, t.hi, _mm256_cmp_ps(a.hi, b.hi, _CMP_LT_OQ))};
    return r;
}

typedef struct { __m256 lo, hi; } vm16;
V_INLINE vm16 v_gt(v16 a, v16 b) {
    vm16 r = {_mm256_cmp_ps(a.lo, b.lo, _CMP_GT_OQ), _mm256_cmp_ps(a.hi, b.hi, _CMP_GT_OQ)};
    return r;
}
V_INLINE vm16 v_isnan(v16 a) {
    vm16 r = {_mm256_cmp_ps(a.lo, a.lo, _CMP_UNORD_Q), _mm256_cmp_ps(a.hi, a.hi, _CMP_UNORD_Q)};
    return r;
}
V_INLINE vm16 v_or(vm16 a, vm16 b) { vm16 r = {_mm256_or_ps(a.lo, b.lo), _mm256_or_ps(a.hi, b.hi)}; return r; }
V_INLINE v16 v_blend(vm16 m, v16 t, v16 u) {
    v16 r = {_mm256_blendv_ps(u.lo, t.lo, m.lo), _mm256_blendv_ps(u.hi, t.hi, m.hi)};
    return r;
}
/* 8 rows of 8 transposed in place (the same trades as AVX-512's, bit by bit) */
V_INLINE void t8_(__m256 *r0, __m256 *r1, __m256 *r2, __m256 *r3, __m256 *r4, __m256 *r5, __m256 *r6, __m256 *r7) {
    __m256 *r[8] = {r0, r1, r2, r3, r4, r5, r6, r7};
#pragma GCC unroll 8
    for (int i = 0; i < 8; i += 2) {
        /* bit 0: [a0 b0 a2 b2 ..] and [a1 b1 a3 b3 ..] */
        const __m256 a = *r[i], b = *r[i + 1];
        *r[i] = _mm256_blend_ps(a, _mm256_permute_ps(b, 0xB1), 0xAA);
        *r[i + 1] = _mm256_blend_ps(_mm256_permute_ps(a, 0xB1), b, 0xAA);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        if (i & 2) continue;
        /* bit 1: pairs of lanes */
        const __m256 a = *r[i], b = *r[i + 2];
        *r[i] = _mm256_shuffle_ps(a, b, 0x44);
        *r[i + 2] = _mm256_shuffle_ps(a, b, 0xEE);
    }
#pragma GCC unroll 8
    for (int i = 0; i < 4; i++) {
        /* bit 2: 128-bit halves */
        const __m256 a = *r[i], b = *r[i + 4];
        *r[i] = _mm256_permute2f128_ps(a, b, 0x20);
        *r[i + 4] = _mm256_permute2f128_ps(a, b, 0x31);
    }
}
/* r[0..15] transposed in place: four 8 x 8 blocks, the off-diagonal two swapped */
V_INLINE void v_transpose16(v16 r[16]) {
    t8_(&r[0].lo, &r[1].lo, &r[2].lo, &r[3].lo, &r[4].lo, &r[5].lo, &r[6].lo, &r[7].lo);
    t8_(&r[0].hi, &r[1].hi, &r[2].hi, &r[3].hi, &r[4].hi, &r[5].hi, &r[6].hi, &r[7].hi);
    t8_(&r[8].lo, &r[9].lo, &r[10].lo, &r[11].lo, &r[12].lo, &r[13].lo, &r[14].lo, &r[15].lo);
    t8_(&r[8].hi, &r[9].hi, &r[10].hi, &r[11].hi, &r[12].hi, &r[13].hi, &r[14].hi, &r[15].hi);
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) {
        const __m256 t = r[i].hi;
        r[i].hi = r[i + 8].lo;
        r[i + 8].lo = t;
    }
}
/* even and odd of 16 floats in two ymm: x0 x2 x4 x6 | x8 .., in order */
V_INLINE void deint8_(__m256 a, __m256 b, __m256 *e, __m256 *o) {
    __m256 ev = _mm256_shuffle_ps(a, b, 0x88), od = _mm256_shuffle_ps(a, b, 0xDD);
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), 0xD8));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), 0xD8));
}
V_INLINE void v_deinterleave(v16 a, v16 b, v16 *even, v16 *odd) {
    deint8_(a.lo, a.hi, &even->lo, &odd->lo);
    deint8_(b.lo, b.hi, &even->hi, &odd->hi);
}
V_INLINE void dup8_(__m256 a, __m256 *lo, __m256 *hi) {
    __m256 l = _mm256_unpacklo_ps(a, a), h = _mm256_unpackhi_ps(a, a);
    *lo = _mm256_permute2f128_ps(l, h, 0x20);
    *hi = _mm256_permute2f128_ps(l, h, 0x31);
}
V_INLINE void v_dup_pairs(v16 a, v16 *lo, v16 *hi) {
    dup8_(a.lo, &lo->lo, &lo->hi);
    dup8_(a.hi, &hi->lo, &hi->hi);
}
V_INLINE v16 v_iota(void) {
    v16 r = {_mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7), _mm256_setr_ps(8, 9, 10, 11, 12, 13, 14, 15)};
    return r;
}
V_INLINE void v_store_int(int *p, v16 a) {
    _mm256_storeu_si256((__m256i *)p, _mm256_cvtps_epi32(a.lo));
    _mm256_storeu_si256((__m256i *)(p + 8), _mm256_cvtps_epi32(a.hi));
}
V_INLINE void v_store_int_m(int *p, m16 m, v16 a) {
    int t[16];
    _mm256_storeu_si256((__m256i *)t, _mm256_cvtps_epi32(a.lo));
    _mm256_storeu_si256((__m256i *)(t + 8), _mm256_cvtps_epi32(a.hi));
    for (int i = 0; i < m.n; i++) p[i] = t[i];
}

#elif defined(NN_KERN_PORTABLE)
typedef struct { float f[16]; } v16;
typedef struct { int lo, n; } m16; /* lanes lo..n-1 */
#define V_EACH_(...) for (int l_ = 0; l_ < 16; l_++) { __VA_ARGS__; }
V_INLINE v16 v_zero(void) { v16 r; V_EACH_(r.f[l_] = 0.f); return r; }
V_INLINE v16 v_set1(float x) { v16 r; V_EACH_(r.f[l_] = x); return r; }
V_INLINE v16 v_bcast(const float *p) { return v_set1(*p); }
V_INLINE v16 v_load(const float *p) { v16 r; memcpy(r.f, p, sizeof r.f); return r; }
V_INLINE void v_store(float *p, v16 v) { memcpy(p, v.f, sizeof v.f); }
V_INLINE m16 v_mask(int n) { m16 m = {0, n < 0 ? 0 : n > 16 ? 16 : n}; return m; }
V_INLINE m16 v_mask_range(int lo, int hi) { m16 m = {lo < 0 ? 0 : lo, hi < 0 ? 0 : hi > 16 ? 16 : hi}; return m; }
V_INLINE v16 v_load_m(const float *p, m16 m) { v16 r = v_zero(); for (int l = m.lo; l < m.n; l++) r.f[l] = p[l]; return r; }
V_INLINE void v_store_m(float *p, m16 m, v16 v) { for (int l = m.lo; l < m.n; l++) p[l] = v.f[l]; }
V_INLINE v16 v_fma(v16 a, v16 b, v16 c) { v16 r; V_EACH_(r.f[l_] = fmaf(a.f[l_], b.f[l_], c.f[l_])); return r; }
V_INLINE v16 v_add(v16 a, v16 b) { v16 r; V_EACH_(r.f[l_] = a.f[l_] + b.f[l_]); return r; }
V_INLINE v16 v_sub(v16 a, v16 b) { v16 r; V_EACH_(r.f[l_] = a.f[l_] - b.f[l_]); return r; }
V_INLINE v16 v_mul(v16 a, v16 b) { v16 r; V_EACH_(r.f[l_] = a.f[l_] * b.f[l_]); return r; }
V_INLINE v16 v_div(v16 a, v16 b) { v16 r; V_EACH_(r.f[l_] = a.f[l_] / b.f[l_]); return r; }
V_INLINE v16 v_max(v16 a, v16 b) { v16 r; V_EACH_(r.f[l_] = a.f[l_] > b.f[l_] ? a.f[l_] : b.f[l_]); return r; }
V_INLINE v16 v_min(v16 a, v16 b) { v16 r; V_EACH_(r.f[l_] = a.f[l_] < b.f[l_] ? a.f[l_] : b.f[l_]); return r; }
V_INLINE v16 v_pow2i(v16 k) {
    v16 r;
    /* k is integral; a NaN k (from a NaN x) gives a NaN product anyway */
    V_EACH_(int32_t i = ((k.f[l_] == k.f[l_] ? (int32_t)k.f[l_] : 0) + 127) * (1 << 23); memcpy(&r.f[l_], &i, 4));
    return r;
}
V_INLINE void v_to(float *dst, v16 v) { memcpy(dst, v.f, sizeof v.f); }
V_INLINE void copy8(float *dst, const float *src) { memcpy(dst, src, 8 * sizeof(float)); }
V_INLINE v16 v_lt_select(v16 a, v16 b, v16 t, v16 u) {
    v16 r;
    V_EACH_(r.f[l_] = a.f[l_] < b.f[l_] ? t.f[l_] : u.f[l_]);
    return r;
}
typedef struct { unsigned char b[16]; } vm16;
V_INLINE vm16 v_gt(v16 a, v16 b) { vm16 r; V_EACH_(r.b[l_] = a.f[l_] > b.f[l_]); return r; }
V_INLINE vm16 v_isnan(v16 a) { vm16 r; V_EACH_(r.b[l_] = a.f[l_] != a.f[l_]); return r; }
V_INLINE vm16 v_or(vm16 a, vm16 b) { vm16 r; V_EACH_(r.b[l_] = a.b[l_] | b.b[l_]); return r; }
V_INLINE v16 v_blend(vm16 m, v16 t, v16 u) { v16 r; V_EACH_(r.f[l_] = m.b[l_] ? t.f[l_] : u.f[l_]); return r; }
V_INLINE void v_transpose16(v16 r[16]) {
    for (int i = 0; i < 16; i++)
        for (int j = i + 1; j < 16; j++) {
            const float t = r[i].f[j];
            r[i].f[j] = r[j].f[i];
            r[j].f[i] = t;
        }
}
V_INLINE void v_deinterleave(v16 a, v16 b, v16 *even, v16 *odd) {
    for (int i = 0; i < 8; i++) {
        even->f[i] = a.f[2 * i]; odd->f[i] = a.f[2 * i + 1];
        even->f[8 + i] = b.f[2 * i]; odd->f[8 + i] = b.f[2 * i + 1];
    }
}
V_INLINE void v_dup_pairs(v16 a, v16 *lo, v16 *hi) {
    for (int i = 0; i < 8; i++) {
        lo->f[2 * i] = lo->f[2 * i + 1] = a.f[i];
        hi->f[2 * i] = hi->f[2 * i + 1] = a.f[8 + i];
    }
}
V_INLINE v16 v_iota(void) { v16 r; V_EACH_(r.f[l_] = (float)l_); return r; }
V_INLINE void v_store_int_m(int *p, m16 m, v16 a) { for (int l = m.lo; l < m.n; l++) p[l] = (int)a.f[l]; }
V_INLINE void v_store_int(int *p, v16 a) { for (int l = 0; l < 16; l++) p[l] = (int)a.f[l]; }
V_INLINE v16 v_load_int_m(const int *p, m16 m) { v16 r = v_zero(); for (int l = m.lo; l < m.n; l++) r.f[l] = (float)p[l]; return r; }
#undef V_EACH_
#else
#error "define NN_KERN_AVX512, NN_KERN_AVX2 or NN_KERN_PORTABLE"
#endif

/* the sum of the 16 lanes in one fixed tree: lanes i and i+8, then i and
 * i+4, i+2, i+1 (the same on every path, whatever its register width) */
V_INLINE float v_hsum(v16 v) {
    float t[16];
    v_to(t, v);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) t[i] = t[i] + t[i + w];
    return t[0];
}

/* e^x, the same bits on every path (and as nn_expf in nn/nmath.h):
 * x clamped to [-87, 88] (a NaN stays NaN), k = round(x / ln 2) by the
 * 1.5 * 2^23 trick, r = x - k ln 2 in two parts, e^r by its degree-7
 * Taylor polynomial, times 2^k. Within 2 ulp of expf. */
V_INLINE v16 v_exp(v16 x) {
    x = v_max(v_set1(-87.f), x);
    x = v_min(v_set1(88.f), x);
    const v16 shift = v_set1(12582912.f);
    v16 k = v_sub(v_add(v_mul(x, v_set1(1.44269504088896341f)), shift), shift);
    v16 r = v_fma(k, v_set1(-0.693145751953125f), x);
    r = v_fma(k, v_set1(-1.428606765330187e-06f), r);
    v16 p = v_set1(1.f / 5040);
    p = v_fma(p, r, v_set1(1.f / 720));
    p = v_fma(p, r, v_set1(1.f / 120));
    p = v_fma(p, r, v_set1(1.f / 24));
    p = v_fma(p, r, v_set1(1.f / 6));
    p = v_fma(p, r, v_set1(0.5f));
    p = v_fma(p, r, v_set1(1.f));
    p = v_fma(p, r, v_set1(1.f));
    return v_mul(p, v_pow2i(k));
}


/* tanh x, the same bits on every path: for |x| < 0.5 the odd Taylor
 * polynomial to x^15 (truncation under 1e-8 relative), beyond it
 * 1 - 2 / (e^2|x| + 1) with the sign of x (within 3 ulp); a NaN stays NaN */
V_INLINE v16 v_tanh(v16 x) {
    const v16 neg = v_sub(v_zero(), x); /* not x * -1: see sigmoid16 in act.c */
    const v16 ax = v_max(x, neg);
    const v16 x2 = v_mul(x, x);
    v16 p = v_set1(-929569.f / 638512875.f);
    p = v_fma(p, x2, v_set1(21844.f / 6081075.f));
    p = v_fma(p, x2, v_set1(-1382.f / 155925.f));
    p = v_fma(p, x2, v_set1(62.f / 2835.f));
    p = v_fma(p, x2, v_set1(-17.f / 315.f));
    p = v_fma(p, x2, v_set1(2.f / 15.f));
    p = v_fma(p, x2, v_set1(-1.f / 3.f));
    p = v_fma(v_mul(p, x2), x, x);
    v16 e = v_exp(v_add(ax, ax));
    v16 t = v_sub(v_set1(1.f), v_div(v_set1(2.f), v_add(e, v_set1(1.f))));
    t = v_lt_select(x, v_zero(), v_sub(v_zero(), t), t);
    return v_lt_select(ax, v_set1(0.5f), p, t);
}

#endif
