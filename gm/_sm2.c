/*
 * Native SM2 core (GB/T 32918) on the recommended curve sm2p256v1.
 *
 * Field and scalar arithmetic use four 64-bit limbs in Montgomery form with
 * unsigned __int128 products. Everything that touches a secret (the private key d,
 * the nonce k, the ECDH/decryption scalar) runs in constant time:
 *   - fixed-base multiplication k*G adds one entry of a precomputed comb table per
 *     4-bit window (64 additions, no doublings); each lookup reads all 15 entries
 *     and keeps the wanted one with a mask;
 *   - variable-base multiplication d*P uses a fixed 4-bit window over a runtime table,
 *     with the same masked lookups;
 *   - the exceptional cases (accumulator at infinity, zero digit) are resolved with
 *     masked selects, never branches;
 *   - inversions are Fermat exponentiations by public exponents.
 * Verification works on public data only and may branch (wNAF for t*P, the comb
 * table for s*G, and an x-coordinate check that needs no inversion).
 *
 * The Python layer (gm/sm2.py) hashes (Z_A, e = SM3(Z_A || M)) and handles key
 * containers; this file takes and returns fixed-length big-endian byte strings.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/random.h>

#ifndef SM2_MODULE_NAME
#define SM2_MODULE_NAME _sm2
#endif
#define SM2_STR2(x) #x
#define SM2_STR(x) SM2_STR2(x)
#define SM2_CAT2(a, b) a##b
#define SM2_CAT(a, b) SM2_CAT2(a, b)

typedef uint64_t u64;
typedef unsigned __int128 u128;

typedef struct {
    u64 m[4];   /* modulus, little-endian limbs */
    u64 n0;     /* -m^-1 mod 2^64 */
    u64 rr[4];  /* R^2 mod m, R = 2^256 */
    u64 one[4]; /* R mod m: 1 in Montgomery form */
} modctx;

static modctx MP; /* the field prime p */
static modctx MN; /* the group order n */

static const u64 P_LIMBS[4] = {0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFF00000000ULL,
                               0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFEFFFFFFFFULL};
static const u64 N_LIMBS[4] = {0x53BBF40939D54123ULL, 0x7203DF6B21C6052BULL,
                               0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFEFFFFFFFFULL};
static const u64 B_LIMBS[4] = {0xDDBCBD414D940E93ULL, 0xF39789F515AB8F92ULL,
                               0x4D5A9E4BCF6509A7ULL, 0x28E9FA9E9D9F5E34ULL};
static const u64 GX_LIMBS[4] = {0x715A4589334C74C7ULL, 0x8FE30BBFF2660BE1ULL,
                                0x5F9904466A39C994ULL, 0x32C4AE2C1F198119ULL};
static const u64 GY_LIMBS[4] = {0x02DF32E52139F0A0ULL, 0xD0A9877CC62A4740ULL,
                                0x59BDCEE36B692153ULL, 0xBC3736A2F4F6779CULL};

/* ------------------------------------------------------------------ helpers */

static inline u64 ct_is_zero_u64(u64 x) { /* all ones if x == 0 */
    return ((x | (0 - x)) >> 63) - 1;
}
static inline u64 ct_eq_u64(u64 a, u64 b) { return ct_is_zero_u64(a ^ b); }

static void secure_zero(void *p, size_t n) {
    volatile unsigned char *v = (volatile unsigned char *)p;
    while (n--) *v++ = 0;
}

static void be_to_limbs(u64 r[4], const unsigned char *b) {
    for (int i = 0; i < 4; i++) {
        u64 w = 0;
        for (int j = 0; j < 8; j++) w = (w << 8) | b[(3 - i) * 8 + j];
        r[i] = w;
    }
}

static void limbs_to_be(unsigned char *b, const u64 a[4]) {
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) b[(3 - i) * 8 + j] = (unsigned char)(a[i] >> (56 - 8 * j));
}

static inline void copy4(u64 r[4], const u64 a[4]) { memcpy(r, a, 4 * sizeof(u64)); }

static inline int is_zero4(const u64 a[4]) { return (a[0] | a[1] | a[2] | a[3]) == 0; }

static inline int eq4(const u64 a[4], const u64 b[4]) {
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

/* a - b over 4 limbs; returns the borrow (1 if a < b). The overflow builtins compile to sbb/adc chains. */
static inline u64 sub4(u64 r[4], const u64 a[4], const u64 b[4]) {
    u64 borrow = 0;
    for (int i = 0; i < 4; i++) {
        u64 d;
        u64 b1 = __builtin_sub_overflow(a[i], b[i], &d);
        u64 b2 = __builtin_sub_overflow(d, borrow, &r[i]);
        borrow = b1 | b2;
    }
    return borrow;
}

static inline u64 add4(u64 r[4], const u64 a[4], const u64 b[4]) {
    u64 carry = 0;
    for (int i = 0; i < 4; i++) {
        u64 t;
        u64 c1 = __builtin_add_overflow(a[i], b[i], &t);
        u64 c2 = __builtin_add_overflow(t, carry, &r[i]);
        carry = c1 | c2;
    }
    return carry;
}

static inline int lt4(const u64 a[4], const u64 b[4]) {
    u64 t[4];
    return (int)sub4(t, a, b);
}

static inline void select4(u64 r[4], u64 mask, const u64 a[4], const u64 b[4]) {
    /* r = mask ? a : b */
    for (int i = 0; i < 4; i++) r[i] = (a[i] & mask) | (b[i] & ~mask);
}

/* ------------------------------------------------------- modular arithmetic */

static inline void mont_mul(u64 r[4], const u64 a[4], const u64 b[4], const modctx *M) {
    u64 t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5;
    const u64 m0 = M->m[0], m1 = M->m[1], m2 = M->m[2], m3 = M->m[3];
    for (int i = 0; i < 4; i++) {
        u64 bi = b[i];
        u128 c;
        c = (u128)a[0] * bi + t0; t0 = (u64)c; c >>= 64;
        c += (u128)a[1] * bi + t1; t1 = (u64)c; c >>= 64;
        c += (u128)a[2] * bi + t2; t2 = (u64)c; c >>= 64;
        c += (u128)a[3] * bi + t3; t3 = (u64)c; c >>= 64;
        c += t4; t4 = (u64)c; t5 = (u64)(c >> 64);
        u64 m = t0 * M->n0;
        c = (u128)m * m0 + t0; c >>= 64;
        c += (u128)m * m1 + t1; t0 = (u64)c; c >>= 64;
        c += (u128)m * m2 + t2; t1 = (u64)c; c >>= 64;
        c += (u128)m * m3 + t3; t2 = (u64)c; c >>= 64;
        c += t4; t3 = (u64)c; c >>= 64;
        t4 = t5 + (u64)c;
    }
    u64 t[4] = {t0, t1, t2, t3}, s[4];
    u64 borrow = sub4(s, t, M->m);
    /* keep t when t4:t < m, i.e. t4 == 0 and the subtraction borrowed */
    u64 keep_t = 0 - (u64)((t4 - borrow) >> 63);
    select4(r, keep_t, t, s);
}

static inline void mod_add(u64 r[4], const u64 a[4], const u64 b[4], const modctx *M) {
    u64 t[4], s[4];
    u64 carry = add4(t, a, b);
    u64 borrow = sub4(s, t, M->m);
    u64 keep_t = 0 - ((~carry & borrow) & 1);
    select4(r, keep_t, t, s);
}

static inline void mod_sub(u64 r[4], const u64 a[4], const u64 b[4], const modctx *M) {
    u64 t[4], masked[4];
    u64 borrow = sub4(t, a, b);
    u64 mask = 0 - borrow;
    for (int i = 0; i < 4; i++) masked[i] = M->m[i] & mask;
    add4(r, t, masked);
}

static inline void to_mont(u64 r[4], const u64 a[4], const modctx *M) { mont_mul(r, a, M->rr, M); }

static inline void from_mont(u64 r[4], const u64 a[4], const modctx *M) {
    static const u64 ONE[4] = {1, 0, 0, 0};
    mont_mul(r, a, ONE, M);
}

/* a^e for a public exponent e (fixed 4-bit window); a and the result in Montgomery form. */
static void mont_pow(u64 r[4], const u64 a[4], const u64 e[4], const modctx *M) {
    u64 tab[16][4], acc[4];
    copy4(tab[0], M->one);
    copy4(tab[1], a);
    for (int i = 2; i < 16; i++) mont_mul(tab[i], tab[i - 1], a, M);
    copy4(acc, M->one);
    for (int w = 63; w >= 0; w--) {
        if (w != 63)
            for (int j = 0; j < 4; j++) mont_mul(acc, acc, acc, M);
        unsigned digit = (unsigned)((e[w / 16] >> (4 * (w % 16))) & 15);
        if (digit) mont_mul(acc, acc, tab[digit], M);
    }
    copy4(r, acc);
    secure_zero(tab, sizeof tab);
}

static void mont_inv(u64 r[4], const u64 a[4], const modctx *M) {
    u64 e[4], two[4] = {2, 0, 0, 0};
    sub4(e, M->m, two);
    mont_pow(r, a, e, M);
}

static void modctx_init(modctx *M, const u64 m[4]) {
    copy4(M->m, m);
    /* n0 = -m^-1 mod 2^64 by Newton iteration */
    u64 inv = 1;
    for (int i = 0; i < 7; i++) inv *= 2 - m[0] * inv;
    M->n0 = 0 - inv;
    /* R mod m = 2^256 - m (m > 2^255), then double 256 times for R^2 mod m */
    u64 zero[4] = {0, 0, 0, 0}, r[4];
    sub4(r, zero, m);
    copy4(M->one, r);
    for (int i = 0; i < 256; i++) mod_add(r, r, r, M);
    copy4(M->rr, r);
}

#define fp_mul(r, a, b) mont_mul((r), (a), (b), &MP)
#define fp_sqr(r, a) mont_mul((r), (a), (a), &MP)
#define fp_add(r, a, b) mod_add((r), (a), (b), &MP)
#define fp_sub(r, a, b) mod_sub((r), (a), (b), &MP)

/* ------------------------------------------------------------------- points */

typedef struct { u64 X[4], Y[4], Z[4]; } jpoint; /* Jacobian, Montgomery form; Z = 0 is infinity */
typedef struct { u64 x[4], y[4]; } apoint;       /* affine, Montgomery form */

static u64 FP_B[4]; /* b in Montgomery form */
static u64 SQRT_EXP[4]; /* (p + 1) / 4 */
static apoint G_AFF;

/* dbl-2001-b for a = -3: 3M + 5S. Infinity (Z = 0) maps to infinity. */
static void pt_dbl(jpoint *r, const jpoint *p) {
    u64 delta[4], gamma[4], beta[4], alpha[4], t1[4], t2[4], beta4[4], X3[4], Y3[4], Z3[4];
    fp_sqr(delta, p->Z);
    fp_sqr(gamma, p->Y);
    fp_mul(beta, p->X, gamma);
    fp_sub(t1, p->X, delta);
    fp_add(t2, p->X, delta);
    fp_mul(alpha, t1, t2);
    fp_add(t1, alpha, alpha);
    fp_add(alpha, t1, alpha);
    fp_add(t1, p->Y, p->Z);
    fp_sqr(t1, t1);
    fp_sub(t1, t1, gamma);
    fp_sub(Z3, t1, delta);
    fp_add(beta4, beta, beta);
    fp_add(beta4, beta4, beta4);
    fp_add(t2, beta4, beta4);
    fp_sqr(X3, alpha);
    fp_sub(X3, X3, t2);
    fp_sub(t1, beta4, X3);
    fp_mul(t1, alpha, t1);
    fp_sqr(gamma, gamma);
    fp_add(gamma, gamma, gamma);
    fp_add(gamma, gamma, gamma);
    fp_add(gamma, gamma, gamma);
    fp_sub(Y3, t1, gamma);
    copy4(r->X, X3);
    copy4(r->Y, Y3);
    copy4(r->Z, Z3);
}

/*
 * madd-2007-bl: r = p + q with q affine, 7M + 4S. Valid when p != +-q and p is not
 * infinity; p == -q correctly yields Z = 0. Outputs h and rr (= 2*(S2 - Y1)) so
 * variable-time callers can detect the doubling case.
 */
static void pt_madd_raw(jpoint *r, const jpoint *p, const apoint *q, u64 h_out[4], u64 rr_out[4]) {
    u64 z1z1[4], u2[4], s2[4], h[4], hh[4], i4[4], j[4], rr[4], v[4], t[4], X3[4], Y3[4], Z3[4];
    fp_sqr(z1z1, p->Z);
    fp_mul(u2, q->x, z1z1);
    fp_mul(s2, q->y, p->Z);
    fp_mul(s2, s2, z1z1);
    fp_sub(h, u2, p->X);
    fp_sqr(hh, h);
    fp_add(i4, hh, hh);
    fp_add(i4, i4, i4);
    fp_mul(j, h, i4);
    fp_sub(rr, s2, p->Y);
    fp_add(rr, rr, rr);
    fp_mul(v, p->X, i4);
    fp_sqr(X3, rr);
    fp_sub(X3, X3, j);
    fp_sub(X3, X3, v);
    fp_sub(X3, X3, v);
    fp_sub(t, v, X3);
    fp_mul(t, rr, t);
    fp_mul(Y3, p->Y, j);
    fp_add(Y3, Y3, Y3);
    fp_sub(Y3, t, Y3);
    fp_add(Z3, p->Z, h);
    fp_sqr(Z3, Z3);
    fp_sub(Z3, Z3, z1z1);
    fp_sub(Z3, Z3, hh);
    copy4(r->X, X3);
    copy4(r->Y, Y3);
    copy4(r->Z, Z3);
    if (h_out) copy4(h_out, h);
    if (rr_out) copy4(rr_out, rr);
}

/* add-2007-bl: r = p + q, both Jacobian, 11M + 5S. Valid when p != +-q and neither is infinity. */
static void pt_add_raw(jpoint *r, const jpoint *p, const jpoint *q, u64 h_out[4], u64 rr_out[4]) {
    u64 z1z1[4], z2z2[4], u1[4], u2[4], s1[4], s2[4], h[4], i[4], j[4], rr[4], v[4], t[4];
    u64 X3[4], Y3[4], Z3[4];
    fp_sqr(z1z1, p->Z);
    fp_sqr(z2z2, q->Z);
    fp_mul(u1, p->X, z2z2);
    fp_mul(u2, q->X, z1z1);
    fp_mul(s1, p->Y, q->Z);
    fp_mul(s1, s1, z2z2);
    fp_mul(s2, q->Y, p->Z);
    fp_mul(s2, s2, z1z1);
    fp_sub(h, u2, u1);
    fp_add(i, h, h);
    fp_sqr(i, i);
    fp_mul(j, h, i);
    fp_sub(rr, s2, s1);
    fp_add(rr, rr, rr);
    fp_mul(v, u1, i);
    fp_sqr(X3, rr);
    fp_sub(X3, X3, j);
    fp_sub(X3, X3, v);
    fp_sub(X3, X3, v);
    fp_sub(t, v, X3);
    fp_mul(t, rr, t);
    fp_mul(Y3, s1, j);
    fp_add(Y3, Y3, Y3);
    fp_sub(Y3, t, Y3);
    fp_add(Z3, p->Z, q->Z);
    fp_sqr(Z3, Z3);
    fp_sub(Z3, Z3, z1z1);
    fp_sub(Z3, Z3, z2z2);
    fp_mul(Z3, Z3, h);
    copy4(r->X, X3);
    copy4(r->Y, Y3);
    copy4(r->Z, Z3);
    if (h_out) copy4(h_out, h);
    if (rr_out) copy4(rr_out, rr);
}

static void jpoint_select(jpoint *r, u64 mask, const jpoint *a, const jpoint *b) {
    select4(r->X, mask, a->X, b->X);
    select4(r->Y, mask, a->Y, b->Y);
    select4(r->Z, mask, a->Z, b->Z);
}

/* Variable-time complete additions, for public data only. */
static void pt_add_vt(jpoint *r, const jpoint *p, const jpoint *q) {
    if (is_zero4(p->Z)) { *r = *q; return; }
    if (is_zero4(q->Z)) { *r = *p; return; }
    u64 h[4], rr[4];
    jpoint s;
    pt_add_raw(&s, p, q, h, rr);
    if (is_zero4(h) && is_zero4(rr)) { pt_dbl(r, p); return; }
    *r = s; /* h == 0 with rr != 0 means p == -q and gives Z = 0 */
}

static void pt_madd_vt(jpoint *r, const jpoint *p, const apoint *q) {
    if (is_zero4(p->Z)) {
        copy4(r->X, q->x);
        copy4(r->Y, q->y);
        copy4(r->Z, MP.one);
        return;
    }
    u64 h[4], rr[4];
    jpoint s;
    pt_madd_raw(&s, p, q, h, rr);
    if (is_zero4(h) && is_zero4(rr)) { pt_dbl(r, p); return; }
    *r = s;
}

/* Jacobian -> affine (normal form, not Montgomery) without branches, for secret-derived points.
   The caller guarantees p is not infinity (true for k*P with k in [1, n-1]). */
static void pt_to_affine_ct(u64 x[4], u64 y[4], const jpoint *p) {
    u64 zi[4], zi2[4], zi3[4], t[4];
    mont_inv(zi, p->Z, &MP);
    fp_sqr(zi2, zi);
    fp_mul(zi3, zi2, zi);
    fp_mul(t, p->X, zi2);
    from_mont(x, t, &MP);
    if (y) {
        fp_mul(t, p->Y, zi3);
        from_mont(y, t, &MP);
    }
}

/* As above for public points; returns 0 for infinity. */
static int pt_to_affine(u64 x[4], u64 y[4], const jpoint *p) {
    if (is_zero4(p->Z)) return 0;
    pt_to_affine_ct(x, y, p);
    return 1;
}

/* --------------------------------------------------- fixed-base comb table */

/* COMB[w][j-1] = j * 16^w * P for j = 1..15, w = 0..63, affine Montgomery form (60 KiB). */
typedef apoint comb_table[64][15];

static comb_table G_TABLE;

/*
 * Fill a fixed-base table: out[w * entries + j - 1] = j * 2^(bits * w) * P for j = 1..entries,
 * w = 0..windows-1, affine Montgomery form, with one inversion for all Z (Montgomery's trick).
 * P is public. Returns -1 with a Python error on allocation failure.
 */
static int build_table(apoint *out, int windows, int entries, int bits, const apoint *p) {
    const int count = windows * entries;
    jpoint *jac = PyMem_Malloc(sizeof(jpoint) * (size_t)count);
    u64(*prefix)[4] = PyMem_Malloc(sizeof(u64[4]) * (size_t)count);
    if (!jac || !prefix) { PyMem_Free(jac); PyMem_Free(prefix); PyErr_NoMemory(); return -1; }
    jpoint base; /* 2^(bits * w) * P */
    copy4(base.X, p->x);
    copy4(base.Y, p->y);
    copy4(base.Z, MP.one);
    for (int w = 0; w < windows; w++) {
        jpoint *row = &jac[w * entries];
        row[0] = base;
        for (int j = 1; j < entries; j++) pt_add_vt(&row[j], &row[j - 1], &base);
        for (int d = 0; d < bits; d++) pt_dbl(&base, &base);
    }
    u64 acc[4], inv[4];
    copy4(acc, MP.one);
    for (int i = 0; i < count; i++) {
        copy4(prefix[i], acc);
        fp_mul(acc, acc, jac[i].Z);
    }
    mont_inv(inv, acc, &MP);
    for (int i = count - 1; i >= 0; i--) {
        u64 zi[4], zi2[4], zi3[4];
        fp_mul(zi, inv, prefix[i]);
        fp_mul(inv, inv, jac[i].Z);
        fp_sqr(zi2, zi);
        fp_mul(zi3, zi2, zi);
        fp_mul(out[i].x, jac[i].X, zi2);
        fp_mul(out[i].y, jac[i].Y, zi3);
    }
    PyMem_Free(jac);
    PyMem_Free(prefix);
    return 0;
}

static int build_comb(comb_table table, const apoint *p) { return build_table(&table[0][0], 64, 15, 4, p); }

/*
 * Signing uses a second comb with signed 6-bit (Booth) digits: 43 windows, 32 multiples
 * each, so k*G costs 43 mixed additions instead of 64. BOOTH[w][j-1] = j * 2^(6w) * G.
 */
#define BOOTH_WINDOWS 43
static apoint BOOTH[BOOTH_WINDOWS][32];

static int build_booth_table(void) { return build_table(&BOOTH[0][0], BOOTH_WINDOWS, 32, 6, &G_AFF); }

/* bits [6w-1, 6w+5] of k (bit -1 is 0), as a 7-bit Booth input */
static inline u64 booth_input(const u64 k[4], int w) {
    int start = 6 * w - 1;
    u64 v;
    if (start < 0) {
        v = (k[0] << 1) & 0x7F;
    } else {
        int limb = start / 64, off = start % 64;
        v = k[limb] >> off;
        if (off > 57 && limb < 3) v |= k[limb + 1] << (64 - off);
        v &= 0x7F;
    }
    return v;
}

/* Booth recoding of a 7-bit window into sign and magnitude (0..32) without branches. */
static inline void booth_recode(u64 in, u64 *sign, u64 *magnitude) {
    u64 s = 0 - (in >> 6);      /* all ones when the top bit is set: negative digit */
    u64 d = (127 - in) & s;
    d |= in & ~s;
    d = (d >> 1) + (d & 1);
    *sign = s & 1;
    *magnitude = d;
}

/* k*G in constant time for 0 < k < n, signed 6-bit comb. */
static void base_mult_ct(jpoint *r, const u64 k[4]) {
    jpoint acc, sum, qj;
    apoint q;
    memset(&acc, 0, sizeof acc);
    u64 acc_inf = ~(u64)0, zero[4] = {0, 0, 0, 0};
    for (int w = 0; w < BOOTH_WINDOWS; w++) {
        u64 sign, mag;
        booth_recode(booth_input(k, w), &sign, &mag);
        memset(&q, 0, sizeof q);
        for (u64 j = 1; j <= 32; j++) {
            u64 mask = ct_eq_u64(j, mag);
            const apoint *e = &BOOTH[w][j - 1];
            for (int i = 0; i < 4; i++) {
                q.x[i] |= e->x[i] & mask;
                q.y[i] |= e->y[i] & mask;
            }
        }
        u64 neg_y[4];
        fp_sub(neg_y, zero, q.y);
        select4(q.y, 0 - sign, neg_y, q.y);
        pt_madd_raw(&sum, &acc, &q, NULL, NULL);
        copy4(qj.X, q.x);
        copy4(qj.Y, q.y);
        copy4(qj.Z, MP.one);
        u64 digit_zero = ct_is_zero_u64(mag);
        jpoint chosen;
        jpoint_select(&chosen, acc_inf, &qj, &sum);
        jpoint_select(&acc, digit_zero, &acc, &chosen);
        acc_inf &= digit_zero;
    }
    *r = acc;
    secure_zero(&q, sizeof q);
    secure_zero(&qj, sizeof qj);
    secure_zero(&sum, sizeof sum);
    secure_zero(&acc, sizeof acc);
}

/* k*P from P's comb table in variable time (public k, for verification). */
static void comb_mult_vt(jpoint *r, const comb_table table, const u64 k[4]) {
    jpoint acc;
    memset(&acc, 0, sizeof acc);
    for (int w = 0; w < 64; w++) {
        unsigned digit = (unsigned)((k[w / 16] >> (4 * (w % 16))) & 15);
        if (digit) pt_madd_vt(&acc, &acc, &table[w][digit - 1]);
    }
    *r = acc;
}

/* ------------------------------------------------- variable-base, secret k */

/* k*P in constant time for 0 < k < n and P a valid point (public). */
static void point_mult_ct(jpoint *r, const u64 k[4], const apoint *p) {
    jpoint tab[16], acc, sum, q;
    memset(&tab[0], 0, sizeof tab[0]);
    copy4(tab[1].X, p->x);
    copy4(tab[1].Y, p->y);
    copy4(tab[1].Z, MP.one);
    for (int i = 2; i < 16; i++) {
        if (i % 2 == 0) pt_dbl(&tab[i], &tab[i / 2]);
        else pt_add_vt(&tab[i], &tab[i - 1], &tab[1]); /* P is public: branching is fine here */
    }
    memset(&acc, 0, sizeof acc);
    u64 acc_inf = ~(u64)0;
    for (int w = 63; w >= 0; w--) {
        for (int d = 0; d < 4; d++) pt_dbl(&acc, &acc);
        u64 digit = (k[w / 16] >> (4 * (w % 16))) & 15;
        memset(&q, 0, sizeof q);
        for (u64 j = 1; j < 16; j++) {
            u64 mask = ct_eq_u64(j, digit);
            for (int i = 0; i < 4; i++) {
                q.X[i] |= tab[j].X[i] & mask;
                q.Y[i] |= tab[j].Y[i] & mask;
                q.Z[i] |= tab[j].Z[i] & mask;
            }
        }
        pt_add_raw(&sum, &acc, &q, NULL, NULL);
        u64 digit_zero = ct_is_zero_u64(digit);
        jpoint chosen;
        jpoint_select(&chosen, acc_inf, &q, &sum);
        jpoint_select(&acc, digit_zero, &acc, &chosen);
        acc_inf &= digit_zero;
    }
    *r = acc;
    secure_zero(&acc, sizeof acc);
    secure_zero(&q, sizeof q);
    secure_zero(&sum, sizeof sum);
}

/* ------------------------------------------------------ verification: wNAF */

/* width-5 NAF of a 256-bit scalar; digits odd in [-15, 15] or 0. Returns the length. */
static int wnaf5(int8_t out[258], const u64 k_in[4]) {
    u64 k[5] = {k_in[0], k_in[1], k_in[2], k_in[3], 0};
    int len = 0;
    while (k[0] | k[1] | k[2] | k[3] | k[4]) {
        int digit = 0;
        if (k[0] & 1) {
            digit = (int)(k[0] & 31);
            if (digit >= 16) digit -= 32;
            /* k -= digit */
            if (digit > 0) {
                u64 borrow = (u64)digit;
                for (int i = 0; i < 5 && borrow; i++) {
                    u64 old = k[i];
                    k[i] = old - borrow;
                    borrow = old < borrow;
                }
            } else {
                u64 carry = (u64)(-digit);
                for (int i = 0; i < 5 && carry; i++) {
                    k[i] += carry;
                    carry = k[i] < carry;
                }
            }
        }
        out[len++] = (int8_t)digit;
        for (int i = 0; i < 4; i++) k[i] = (k[i] >> 1) | (k[i + 1] << 63);
        k[4] >>= 1;
    }
    return len;
}

/* s*G + t*P (public scalars and point). */
static void double_mult_vt(jpoint *r, const u64 s[4], const u64 t[4], const apoint *p) {
    jpoint odd[8], p2, acc, sg;
    copy4(odd[0].X, p->x);
    copy4(odd[0].Y, p->y);
    copy4(odd[0].Z, MP.one);
    pt_dbl(&p2, &odd[0]);
    for (int i = 1; i < 8; i++) pt_add_vt(&odd[i], &odd[i - 1], &p2);
    int8_t naf[258];
    int len = wnaf5(naf, t);
    memset(&acc, 0, sizeof acc);
    for (int i = len - 1; i >= 0; i--) {
        if (!is_zero4(acc.Z)) pt_dbl(&acc, &acc);
        int d = naf[i];
        if (d > 0) {
            pt_add_vt(&acc, &acc, &odd[d >> 1]);
        } else if (d < 0) {
            jpoint neg = odd[(-d) >> 1];
            u64 zero[4] = {0, 0, 0, 0};
            fp_sub(neg.Y, zero, neg.Y);
            pt_add_vt(&acc, &acc, &neg);
        }
    }
    comb_mult_vt(&sg, G_TABLE, s);
    pt_add_vt(r, &acc, &sg);
}

/* -------------------------------------------------------- point encodings */

static PyObject *ErrInvalidKey, *ErrInvalidPoint, *ErrSignatureEncoding;

/* y^2 == x^3 - 3x + b, with x, y in Montgomery form */
static int on_curve_mont(const u64 x[4], const u64 y[4]) {
    u64 lhs[4], rhs[4], t[4];
    fp_sqr(lhs, y);
    fp_sqr(rhs, x);
    fp_mul(rhs, rhs, x);
    fp_add(t, x, x);
    fp_add(t, t, x);
    fp_sub(rhs, rhs, t);
    fp_add(rhs, rhs, FP_B);
    return eq4(lhs, rhs);
}

/* Decode a 65-byte uncompressed or 33-byte compressed point; sets a Python error on failure. */
static int decode_point(apoint *out, const unsigned char *buf, Py_ssize_t len) {
    u64 x[4], y[4];
    if (len == 65) {
        if (buf[0] != 0x04) {
            PyErr_Format(ErrInvalidPoint, "a 65-byte SM2 point must start with 0x04, not 0x%02x", buf[0]);
            return -1;
        }
        be_to_limbs(x, buf + 1);
        be_to_limbs(y, buf + 33);
        if (!lt4(x, MP.m) || !lt4(y, MP.m)) {
            PyErr_SetString(ErrInvalidPoint, "SM2 point coordinate is not below the field prime p");
            return -1;
        }
        to_mont(out->x, x, &MP);
        to_mont(out->y, y, &MP);
        if (!on_curve_mont(out->x, out->y)) {
            PyErr_SetString(ErrInvalidPoint, "the point is not on the SM2 curve");
            return -1;
        }
        return 0;
    }
    if (len == 33) {
        if (buf[0] != 0x02 && buf[0] != 0x03) {
            PyErr_Format(ErrInvalidPoint, "a 33-byte SM2 point must start with 0x02 or 0x03, not 0x%02x", buf[0]);
            return -1;
        }
        be_to_limbs(x, buf + 1);
        if (!lt4(x, MP.m)) {
            PyErr_SetString(ErrInvalidPoint, "SM2 point x-coordinate is not below the field prime p");
            return -1;
        }
        u64 xm[4], rhs[4], t[4], ym[4], yn[4];
        to_mont(xm, x, &MP);
        fp_sqr(rhs, xm);
        fp_mul(rhs, rhs, xm);
        fp_add(t, xm, xm);
        fp_add(t, t, xm);
        fp_sub(rhs, rhs, t);
        fp_add(rhs, rhs, FP_B);
        /* p = 3 mod 4, so a square root is rhs^((p+1)/4) */
        mont_pow(ym, rhs, SQRT_EXP, &MP);
        fp_sqr(t, ym);
        if (!eq4(t, rhs)) {
            PyErr_SetString(ErrInvalidPoint, "the compressed x-coordinate has no point on the SM2 curve");
            return -1;
        }
        from_mont(y, ym, &MP);
        if ((y[0] & 1) != (u64)(buf[0] & 1)) {
            u64 zero[4] = {0, 0, 0, 0};
            fp_sub(yn, zero, ym);
            copy4(ym, yn);
        }
        copy4(out->x, xm);
        copy4(out->y, ym);
        return 0;
    }
    if (len == 1 && buf[0] == 0x00) {
        PyErr_SetString(ErrInvalidPoint, "the point at infinity is not a valid SM2 public key");
        return -1;
    }
    PyErr_Format(ErrInvalidPoint, "an SM2 point is 65 bytes (uncompressed) or 33 bytes (compressed), not %zd", len);
    return -1;
}

static PyObject *encode_point_65(const u64 x[4], const u64 y[4]) {
    unsigned char out[65];
    out[0] = 0x04;
    limbs_to_be(out + 1, x);
    limbs_to_be(out + 33, y);
    return PyBytes_FromStringAndSize((const char *)out, 65);
}

/* --------------------------------------------------------- DER signatures */

static Py_ssize_t der_put_integer(unsigned char *out, const unsigned char be[32]) {
    int start = 0;
    while (start < 31 && be[start] == 0) start++;
    int pad = (be[start] & 0x80) ? 1 : 0;
    int len = 32 - start + pad;
    out[0] = 0x02;
    out[1] = (unsigned char)len;
    if (pad) out[2] = 0;
    memcpy(out + 2 + pad, be + start, 32 - start);
    return 2 + len;
}

static PyObject *der_signature(const u64 r[4], const u64 s[4]) {
    unsigned char rb[32], sb[32], body[70], out[72];
    limbs_to_be(rb, r);
    limbs_to_be(sb, s);
    Py_ssize_t n = der_put_integer(body, rb);
    n += der_put_integer(body + n, sb);
    out[0] = 0x30;
    out[1] = (unsigned char)n;
    memcpy(out + 2, body, (size_t)n);
    return PyBytes_FromStringAndSize((const char *)out, n + 2);
}

static int der_get_integer(const unsigned char *buf, Py_ssize_t len, Py_ssize_t *pos, u64 out[4], const char *name) {
    Py_ssize_t p = *pos;
    if (p + 2 > len || buf[p] != 0x02) {
        PyErr_Format(ErrSignatureEncoding, "signature %s: expected a DER INTEGER", name);
        return -1;
    }
    Py_ssize_t ilen = buf[p + 1];
    if (ilen & 0x80) {
        PyErr_Format(ErrSignatureEncoding, "signature %s: long-form length is not allowed for a 256-bit integer", name);
        return -1;
    }
    p += 2;
    if (ilen == 0 || p + ilen > len) {
        PyErr_Format(ErrSignatureEncoding, "signature %s: INTEGER length %zd is empty or runs past the end", name, ilen);
        return -1;
    }
    if (buf[p] & 0x80) {
        PyErr_Format(ErrSignatureEncoding, "signature %s is negative", name);
        return -1;
    }
    if (ilen > 1 && buf[p] == 0 && !(buf[p + 1] & 0x80)) {
        PyErr_Format(ErrSignatureEncoding, "signature %s: INTEGER is not minimally encoded (leading zero)", name);
        return -1;
    }
    const unsigned char *v = buf + p;
    Py_ssize_t vlen = ilen;
    if (vlen == 33) { v++; vlen--; }
    if (vlen > 32) {
        PyErr_Format(ErrSignatureEncoding, "signature %s is longer than 256 bits", name);
        return -1;
    }
    unsigned char be[32] = {0};
    memcpy(be + 32 - vlen, v, (size_t)vlen);
    be_to_limbs(out, be);
    *pos = p + ilen;
    return 0;
}

static int check_scalar_range(const u64 a[4], const char *name) {
    if (is_zero4(a) || !lt4(a, MN.m)) {
        PyErr_Format(ErrSignatureEncoding, "signature %s is outside [1, n-1]", name);
        return -1;
    }
    return 0;
}

static int parse_der_signature(const unsigned char *buf, Py_ssize_t len, u64 r[4], u64 s[4]) {
    if (len < 2 || buf[0] != 0x30) {
        PyErr_SetString(ErrSignatureEncoding, "an SM2 signature must be a DER SEQUENCE { r INTEGER, s INTEGER }");
        return -1;
    }
    if (buf[1] & 0x80) {
        PyErr_SetString(ErrSignatureEncoding, "SM2 signature SEQUENCE uses a long-form length");
        return -1;
    }
    Py_ssize_t body = buf[1];
    if (2 + body < len) {
        PyErr_Format(ErrSignatureEncoding, "%zd trailing bytes after the SM2 signature", len - 2 - body);
        return -1;
    }
    if (2 + body > len) {
        PyErr_SetString(ErrSignatureEncoding, "SM2 signature is truncated");
        return -1;
    }
    Py_ssize_t pos = 2;
    if (der_get_integer(buf, len, &pos, r, "r") < 0) return -1;
    if (der_get_integer(buf, len, &pos, s, "s") < 0) return -1;
    if (pos != len) {
        PyErr_SetString(ErrSignatureEncoding, "extra data inside the SM2 signature SEQUENCE");
        return -1;
    }
    if (check_scalar_range(r, "r") < 0 || check_scalar_range(s, "s") < 0) return -1;
    return 0;
}

/* ------------------------------------------------------------------ scalars */

static int fill_random(unsigned char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

/* Uniform k in [1, n-1] by rejection sampling from the OS CSPRNG. */
static int random_scalar(u64 k[4]) {
    unsigned char buf[32];
    for (;;) {
        if (fill_random(buf, 32) < 0) return -1;
        be_to_limbs(k, buf);
        if (!is_zero4(k) && lt4(k, MN.m)) break;
    }
    secure_zero(buf, sizeof buf);
    return 0;
}

static void reduce_once_n(u64 r[4], const u64 a[4]) {
    /* a < 2^256 < 2n: one conditional subtraction */
    u64 s[4];
    u64 borrow = sub4(s, a, MN.m);
    select4(r, 0 - borrow, a, s);
}

/* Private key d must be in [1, n-2] so that 1 + d is invertible. */
static int load_private(u64 d[4], const unsigned char *buf, Py_ssize_t len) {
    if (len != 32) {
        PyErr_Format(ErrInvalidKey, "an SM2 private key is 32 bytes, not %zd", len);
        return -1;
    }
    be_to_limbs(d, buf);
    u64 nm1[4], one[4] = {1, 0, 0, 0};
    sub4(nm1, MN.m, one);
    if (is_zero4(d) || !lt4(d, nm1)) {
        PyErr_SetString(ErrInvalidKey, "SM2 private key is outside [1, n-2]");
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------- Python entries */

/* private_precompute(d) -> (public point 65 bytes, blob for sign) */
static PyObject *py_private_precompute(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *db;
    Py_ssize_t dlen;
    if (!PyArg_ParseTuple(args, "y#:private_precompute", &db, &dlen)) return NULL;
    u64 d[4], x[4], y[4], dm[4], dinv[4];
    if (load_private(d, db, dlen) < 0) return NULL;
    jpoint q;
    base_mult_ct(&q, d);
    pt_to_affine_ct(x, y, &q);
    /* (1 + d)^-1 mod n, kept in Montgomery form so signing needs one multiplication */
    to_mont(dm, d, &MN);
    mod_add(dm, dm, MN.one, &MN);
    mont_inv(dinv, dm, &MN);
    /* dinv now holds (1+d)^-1 * R, so mont_mul(x, dinv) = x * (1+d)^-1 */
    unsigned char blob[32];
    limbs_to_be(blob, dinv);
    PyObject *pub = encode_point_65(x, y);
    PyObject *res = pub ? Py_BuildValue("(Ny#)", pub, blob, (Py_ssize_t)32) : NULL;
    secure_zero(d, sizeof d);
    secure_zero(dm, sizeof dm);
    secure_zero(dinv, sizeof dinv);
    secure_zero(blob, sizeof blob);
    secure_zero(&q, sizeof q);
    return res;
}

static PyObject *sign_core(const unsigned char *db, Py_ssize_t dlen, const unsigned char *blob, Py_ssize_t bloblen,
                           const unsigned char *eb, Py_ssize_t elen, const unsigned char *kb) {
    u64 d[4], dinv[4], e[4], k[4], x1[4], r[4], s[4], t[4];
    if (load_private(d, db, dlen) < 0) return NULL;
    if (bloblen != 32) {
        PyErr_SetString(ErrInvalidKey, "bad private key precomputation");
        return NULL;
    }
    if (elen != 32) {
        PyErr_Format(PyExc_ValueError, "the SM2 digest e is 32 bytes, not %zd", elen);
        return NULL;
    }
    be_to_limbs(dinv, blob);
    be_to_limbs(e, eb);
    reduce_once_n(e, e);
    PyObject *res = NULL;
    for (;;) {
        if (kb) {
            be_to_limbs(k, kb);
            if (is_zero4(k) || !lt4(k, MN.m)) {
                PyErr_SetString(PyExc_ValueError, "nonce outside [1, n-1]");
                goto done;
            }
        } else if (random_scalar(k) < 0) {
            goto done;
        }
        jpoint kg;
        base_mult_ct(&kg, k);
        pt_to_affine_ct(x1, NULL, &kg);
        reduce_once_n(x1, x1);
        mod_add(r, e, x1, &MN);
        mod_add(t, r, k, &MN);
        if (is_zero4(r) || is_zero4(t)) {
            if (kb) { PyErr_SetString(PyExc_ValueError, "nonce gives r = 0 or r + k = n"); goto done; }
            continue;
        }
        /* s = (1 + d)^-1 (k + r) - r */
        mont_mul(s, t, dinv, &MN);
        mod_sub(s, s, r, &MN);
        if (is_zero4(s)) {
            if (kb) { PyErr_SetString(PyExc_ValueError, "nonce gives s = 0"); goto done; }
            continue;
        }
        res = der_signature(r, s);
        break;
    }
done:
    secure_zero(d, sizeof d);
    secure_zero(dinv, sizeof dinv);
    secure_zero(k, sizeof k);
    secure_zero(t, sizeof t);
    return res;
}

/* sign_digest(d, blob, e) -> DER signature */
static PyObject *py_sign_digest(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *db, *blob, *eb;
    Py_ssize_t dlen, bloblen, elen;
    if (!PyArg_ParseTuple(args, "y#y#y#:sign_digest", &db, &dlen, &blob, &bloblen, &eb, &elen)) return NULL;
    return sign_core(db, dlen, blob, bloblen, eb, elen, NULL);
}

#ifdef SM2_KAT_HOOK
/* Test builds only: sign with a caller-chosen nonce to reproduce published vectors. */
static PyObject *py_sign_digest_with_nonce(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *db, *blob, *eb, *kb;
    Py_ssize_t dlen, bloblen, elen, klen;
    if (!PyArg_ParseTuple(args, "y#y#y#y#:sign_digest_with_nonce", &db, &dlen, &blob, &bloblen, &eb, &elen, &kb, &klen))
        return NULL;
    if (klen != 32) {
        PyErr_SetString(PyExc_ValueError, "nonce must be 32 bytes");
        return NULL;
    }
    return sign_core(db, dlen, blob, bloblen, eb, elen, kb);
}
#endif

/* verify_digest(point, e, der[, table]) -> bool; raises on malformed input.
   With the key's comb table (from key_table) t*P needs no doublings. */
static PyObject *py_verify_digest(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *pb, *eb, *sb, *tb = NULL;
    Py_ssize_t plen, elen, slen, tlen = 0;
    if (!PyArg_ParseTuple(args, "y#y#y#|y#:verify_digest", &pb, &plen, &eb, &elen, &sb, &slen, &tb, &tlen)) return NULL;
    apoint pub;
    u64 r[4], s[4], e[4], t[4], c[4];
    if (tb && tlen != (Py_ssize_t)sizeof(comb_table)) {
        PyErr_SetString(PyExc_ValueError, "not a key table made by key_table()");
        return NULL;
    }
    if (decode_point(&pub, pb, plen) < 0) return NULL;
    if (elen != 32) {
        PyErr_Format(PyExc_ValueError, "the SM2 digest e is 32 bytes, not %zd", elen);
        return NULL;
    }
    if (parse_der_signature(sb, slen, r, s) < 0) return NULL;
    be_to_limbs(e, eb);
    reduce_once_n(e, e);
    mod_add(t, r, s, &MN);
    if (is_zero4(t)) Py_RETURN_FALSE;
    jpoint sum;
    if (tb) {
        jpoint tp, sg;
        comb_mult_vt(&tp, (const apoint(*)[15])tb, t);
        comb_mult_vt(&sg, G_TABLE, s);
        pt_add_vt(&sum, &tp, &sg);
    } else {
        double_mult_vt(&sum, s, t, &pub);
    }
    if (is_zero4(sum.Z)) Py_RETURN_FALSE;
    /* accept iff (e + x1) mod n == r, i.e. x1 = r - e (mod n): x1 in {c, c + n} below p.
       Compare in Jacobian coordinates (X == x1 * Z^2) to skip the inversion. */
    mod_sub(c, r, e, &MN);
    u64 zz[4], cm[4], lhs[4];
    fp_sqr(zz, sum.Z);
    to_mont(cm, c, &MP);
    fp_mul(lhs, cm, zz);
    if (eq4(lhs, sum.X)) Py_RETURN_TRUE;
    u64 c2[4];
    if (!add4(c2, c, MN.m) && lt4(c2, MP.m)) {
        to_mont(cm, c2, &MP);
        fp_mul(lhs, cm, zz);
        if (eq4(lhs, sum.X)) Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

/* key_table(point) -> bytes: the comb table of a public key, for keys verified repeatedly */
static PyObject *py_key_table(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *pb;
    Py_ssize_t plen;
    if (!PyArg_ParseTuple(args, "y#:key_table", &pb, &plen)) return NULL;
    apoint p;
    if (decode_point(&p, pb, plen) < 0) return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)sizeof(comb_table));
    if (!out) return NULL;
    if (build_comb((apoint(*)[15])PyBytes_AS_STRING(out), &p) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* point_decode(bytes) -> 65-byte uncompressed point (validated) */
static PyObject *py_point_decode(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *pb;
    Py_ssize_t plen;
    if (!PyArg_ParseTuple(args, "y#:point_decode", &pb, &plen)) return NULL;
    apoint p;
    if (decode_point(&p, pb, plen) < 0) return NULL;
    u64 x[4], y[4];
    from_mont(x, p.x, &MP);
    from_mont(y, p.y, &MP);
    return encode_point_65(x, y);
}

/* scalar_mult(k, point) -> 65-byte point k*P, constant time in k (ECDH, SM2 encryption) */
static PyObject *py_scalar_mult(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *kb, *pb;
    Py_ssize_t klen, plen;
    if (!PyArg_ParseTuple(args, "y#y#:scalar_mult", &kb, &klen, &pb, &plen)) return NULL;
    if (klen != 32) {
        PyErr_Format(ErrInvalidKey, "an SM2 scalar is 32 bytes, not %zd", klen);
        return NULL;
    }
    u64 k[4], x[4], y[4];
    be_to_limbs(k, kb);
    if (is_zero4(k) || !lt4(k, MN.m)) {
        secure_zero(k, sizeof k);
        PyErr_SetString(ErrInvalidKey, "SM2 scalar is outside [1, n-1]");
        return NULL;
    }
    apoint p;
    if (decode_point(&p, pb, plen) < 0) return NULL;
    jpoint q;
    point_mult_ct(&q, k, &p);
    secure_zero(k, sizeof k);
    pt_to_affine_ct(x, y, &q); /* k in [1, n-1] and P of order n: never infinity */
    PyObject *res = encode_point_65(x, y);
    secure_zero(&q, sizeof q);
    secure_zero(x, sizeof x);
    secure_zero(y, sizeof y);
    return res;
}

/* base_mult(k) -> 65-byte point k*G, constant time */
static PyObject *py_base_mult(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *kb;
    Py_ssize_t klen;
    if (!PyArg_ParseTuple(args, "y#:base_mult", &kb, &klen)) return NULL;
    if (klen != 32) {
        PyErr_Format(ErrInvalidKey, "an SM2 scalar is 32 bytes, not %zd", klen);
        return NULL;
    }
    u64 k[4], x[4], y[4];
    be_to_limbs(k, kb);
    if (is_zero4(k) || !lt4(k, MN.m)) {
        PyErr_SetString(ErrInvalidKey, "SM2 scalar is outside [1, n-1]");
        return NULL;
    }
    jpoint q;
    base_mult_ct(&q, k);
    secure_zero(k, sizeof k);
    pt_to_affine_ct(x, y, &q);
    return encode_point_65(x, y);
}

/* signature_to_rs(der) -> (r32, s32), strict DER and range checks */
static PyObject *py_signature_to_rs(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *sb;
    Py_ssize_t slen;
    if (!PyArg_ParseTuple(args, "y#:signature_to_rs", &sb, &slen)) return NULL;
    u64 r[4], s[4];
    if (parse_der_signature(sb, slen, r, s) < 0) return NULL;
    unsigned char rb[32], sbb[32];
    limbs_to_be(rb, r);
    limbs_to_be(sbb, s);
    return Py_BuildValue("(y#y#)", rb, (Py_ssize_t)32, sbb, (Py_ssize_t)32);
}

/* signature_from_rs(r32, s32) -> DER, range checked */
static PyObject *py_signature_from_rs(PyObject *self, PyObject *args) {
    (void)self;
    const unsigned char *rb, *sb;
    Py_ssize_t rlen, slen;
    if (!PyArg_ParseTuple(args, "y#y#:signature_from_rs", &rb, &rlen, &sb, &slen)) return NULL;
    if (rlen != 32 || slen != 32) {
        PyErr_SetString(ErrSignatureEncoding, "r and s are 32 bytes each");
        return NULL;
    }
    u64 r[4], s[4];
    be_to_limbs(r, rb);
    be_to_limbs(s, sb);
    if (check_scalar_range(r, "r") < 0 || check_scalar_range(s, "s") < 0) return NULL;
    return der_signature(r, s);
}

static PyMethodDef methods[] = {
    {"private_precompute", py_private_precompute, METH_VARARGS, "private_precompute(d) -> (public point, signing blob)"},
    {"sign_digest", py_sign_digest, METH_VARARGS, "sign_digest(d, blob, e) -> DER signature"},
#ifdef SM2_KAT_HOOK
    {"sign_digest_with_nonce", py_sign_digest_with_nonce, METH_VARARGS, "test builds only"},
#endif
    {"verify_digest", py_verify_digest, METH_VARARGS, "verify_digest(point, e, der[, table]) -> bool"},
    {"key_table", py_key_table, METH_VARARGS, "key_table(point) -> comb table bytes"},
    {"point_decode", py_point_decode, METH_VARARGS, "point_decode(bytes) -> 65-byte point"},
    {"scalar_mult", py_scalar_mult, METH_VARARGS, "scalar_mult(k, point) -> 65-byte point"},
    {"base_mult", py_base_mult, METH_VARARGS, "base_mult(k) -> 65-byte point"},
    {"signature_to_rs", py_signature_to_rs, METH_VARARGS, "signature_to_rs(der) -> (r, s)"},
    {"signature_from_rs", py_signature_from_rs, METH_VARARGS, "signature_from_rs(r, s) -> DER"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {PyModuleDef_HEAD_INIT, SM2_STR(SM2_MODULE_NAME),
                                       "Native SM2 core (constant-time signing).", -1, methods,
                                       NULL, NULL, NULL, NULL};

PyMODINIT_FUNC SM2_CAT(PyInit_, SM2_MODULE_NAME)(void) {
    PyObject *errors = PyImport_ImportModule("gm.errors");
    if (!errors) return NULL;
    ErrInvalidKey = PyObject_GetAttrString(errors, "InvalidKeyError");
    ErrInvalidPoint = PyObject_GetAttrString(errors, "InvalidPointError");
    ErrSignatureEncoding = PyObject_GetAttrString(errors, "SignatureEncodingError");
    Py_DECREF(errors);
    if (!ErrInvalidKey || !ErrInvalidPoint || !ErrSignatureEncoding) return NULL;

    modctx_init(&MP, P_LIMBS);
    modctx_init(&MN, N_LIMBS);
    to_mont(FP_B, B_LIMBS, &MP);
    {
        u64 one[4] = {1, 0, 0, 0}, pp1[4];
        add4(pp1, MP.m, one); /* p + 1 < 2^256 */
        for (int i = 0; i < 4; i++) SQRT_EXP[i] = (pp1[i] >> 2) | (i < 3 ? pp1[i + 1] << 62 : 0);
    }
    to_mont(G_AFF.x, GX_LIMBS, &MP);
    to_mont(G_AFF.y, GY_LIMBS, &MP);
    if (build_comb(G_TABLE, &G_AFF) < 0) return NULL;
    if (build_booth_table() < 0) return NULL;
    return PyModule_Create(&moduledef);
}
