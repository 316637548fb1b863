/*
 * Native SM2 core (GB/T 32918) on the recommended curve sm2p256v1.
 *
 * Field and scalar arithmetic use four 64-bit limbs in Montgomery form. The order n uses
 * a generic Montgomery multiplication (unsigned __int128 products); the field prime p has
 * its own multiplication, squaring, addition and subtraction: p = -1 mod 2^64 makes the
 * reduction multiplier the low limb itself and m*p a few shifts and adds (x86-64
 * assembly, with mulx/adcx/adox where the CPU has them; portable C elsewhere), and
 * inversion mod p is a fixed addition chain. Everything that touches a secret (the
 * private key d, the nonce k, the ECDH/decryption scalar) runs in constant time:
 *   - fixed-base multiplication k*G adds one entry of a precomputed comb table per
 *     signed 6-bit window (43 additions, no doublings); each lookup reads all 32 entries
 *     and keeps the wanted one with a mask;
 *   - variable-base multiplication d*P uses a fixed 4-bit window over a runtime table,
 *     with the same masked lookups;
 *   - the exceptional cases (accumulator at infinity, zero digit) and the final
 *     conditional subtractions of the field arithmetic are resolved with masks, never
 *     branches (nor cmov);
 *   - inversions are Fermat exponentiations by public exponents.
 * Verification works on public data only and may branch (wNAF for t*P, or a key's
 * signed 5-bit comb table; the 6-bit comb for s*G; an x-coordinate check that needs no
 * inversion).
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
#include <stdlib.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <emmintrin.h>
#endif

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

/*
 * Dedicated Montgomery arithmetic for the field prime p = 2^256 - 2^224 - 2^96 + 2^64 - 1.
 * Same representation as mont_mul(.., &MP) (a * R mod p, R = 2^256) and bit-identical
 * results, but p = -1 (mod 2^64) makes -p^-1 mod 2^64 = 1: each reduction round's
 * multiplier m is the low limb t0 itself, and (t + m * p) / 2^64 is t / 2^64 (dropping
 * t0) plus m * (2^192 - 2^160 - 2^32 + 1): shifts and add/sub, no multiplication.
 * The C functions below are the portable version; x86-64 uses the assembly after them.
 */

/* One Montgomery round on a 256-bit value t < 2^256: t = (t + t0 * p) / 2^64.
   The result is below 2^192 + p < 2^256, so the chains below may drop their last carry. */
#define FP_REDC_ROUND(t0, t1, t2, t3)                                            \
    do {                                                                         \
        u64 m_ = (t0), lo_ = m_ << 32, hi_ = m_ >> 32, c_, b_;                   \
        u64 x0_, x1_, x2_, x3_;                                                  \
        c_ = __builtin_add_overflow((t1), m_, &x0_);                             \
        c_ = __builtin_add_overflow((t2), c_, &x1_);                             \
        c_ = __builtin_add_overflow((t3), c_, &x2_);                             \
        x3_ = m_ + c_;                                                           \
        b_ = __builtin_sub_overflow(x0_, lo_, &(t0));                            \
        {   u64 d_; u64 b1_ = __builtin_sub_overflow(x1_, hi_, &d_);             \
            u64 b2_ = __builtin_sub_overflow(d_, b_, &(t1)); b_ = b1_ | b2_; }   \
        {   u64 d_; u64 b1_ = __builtin_sub_overflow(x2_, lo_, &d_);             \
            u64 b2_ = __builtin_sub_overflow(d_, b_, &(t2)); b_ = b1_ | b2_; }   \
        (t3) = x3_ - hi_ - b_;                                                   \
    } while (0)

/* r = (lo + hi * 2^256) / R mod p for a 512-bit product of two values below p. */
static inline void fp_redc(u64 r[4], u64 t0, u64 t1, u64 t2, u64 t3, u64 t4, u64 t5, u64 t6, u64 t7) {
    FP_REDC_ROUND(t0, t1, t2, t3);
    FP_REDC_ROUND(t0, t1, t2, t3);
    FP_REDC_ROUND(t0, t1, t2, t3);
    FP_REDC_ROUND(t0, t1, t2, t3);
    /* (lo + M p) / 2^256 is now (t0, t1, t2, t3); add the high half: the sum is below 2p */
    u64 s0, s1, s2, s3, c, c1, c2;
    c = __builtin_add_overflow(t0, t4, &s0);
    c1 = __builtin_add_overflow(t1, t5, &s1); c2 = __builtin_add_overflow(s1, c, &s1); c = c1 | c2;
    c1 = __builtin_add_overflow(t2, t6, &s2); c2 = __builtin_add_overflow(s2, c, &s2); c = c1 | c2;
    c1 = __builtin_add_overflow(t3, t7, &s3); c2 = __builtin_add_overflow(s3, c, &s3); c = c1 | c2;
    /* subtract p; keep the sum when it did not carry and the subtraction borrowed */
    u64 u0, u1, u2, u3, b, b1, b2;
    b = __builtin_sub_overflow(s0, P_LIMBS[0], &u0);
    b1 = __builtin_sub_overflow(s1, P_LIMBS[1], &u1); b2 = __builtin_sub_overflow(u1, b, &u1); b = b1 | b2;
    b1 = __builtin_sub_overflow(s2, P_LIMBS[2], &u2); b2 = __builtin_sub_overflow(u2, b, &u2); b = b1 | b2;
    b1 = __builtin_sub_overflow(s3, P_LIMBS[3], &u3); b2 = __builtin_sub_overflow(u3, b, &u3); b = b1 | b2;
    u64 keep = 0 - ((~c & b) & 1);
    r[0] = (s0 & keep) | (u0 & ~keep);
    r[1] = (s1 & keep) | (u1 & ~keep);
    r[2] = (s2 & keep) | (u2 & ~keep);
    r[3] = (s3 & keep) | (u3 & ~keep);
}

static inline void fp_mul_c(u64 r[4], const u64 a[4], const u64 b[4]) {
    const u64 a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    u64 t0, t1, t2, t3, t4, t5, t6, t7, bi;
    u128 c;
    bi = b[0];
    c = (u128)a0 * bi; t0 = (u64)c;
    c = (u128)a1 * bi + (u64)(c >> 64); t1 = (u64)c;
    c = (u128)a2 * bi + (u64)(c >> 64); t2 = (u64)c;
    c = (u128)a3 * bi + (u64)(c >> 64); t3 = (u64)c; t4 = (u64)(c >> 64);
    bi = b[1];
    c = (u128)a0 * bi + t1; t1 = (u64)c;
    c = (u128)a1 * bi + t2 + (u64)(c >> 64); t2 = (u64)c;
    c = (u128)a2 * bi + t3 + (u64)(c >> 64); t3 = (u64)c;
    c = (u128)a3 * bi + t4 + (u64)(c >> 64); t4 = (u64)c; t5 = (u64)(c >> 64);
    bi = b[2];
    c = (u128)a0 * bi + t2; t2 = (u64)c;
    c = (u128)a1 * bi + t3 + (u64)(c >> 64); t3 = (u64)c;
    c = (u128)a2 * bi + t4 + (u64)(c >> 64); t4 = (u64)c;
    c = (u128)a3 * bi + t5 + (u64)(c >> 64); t5 = (u64)c; t6 = (u64)(c >> 64);
    bi = b[3];
    c = (u128)a0 * bi + t3; t3 = (u64)c;
    c = (u128)a1 * bi + t4 + (u64)(c >> 64); t4 = (u64)c;
    c = (u128)a2 * bi + t5 + (u64)(c >> 64); t5 = (u64)c;
    c = (u128)a3 * bi + t6 + (u64)(c >> 64); t6 = (u64)c; t7 = (u64)(c >> 64);
    fp_redc(r, t0, t1, t2, t3, t4, t5, t6, t7);
}

/* Squaring: the six cross products once, doubled, plus the four squares. */
static inline void fp_sqr_c(u64 r[4], const u64 a[4]) {
    const u64 a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    u64 t0, t1, t2, t3, t4, t5, t6, t7;
    u128 c;
    c = (u128)a0 * a1; t1 = (u64)c;
    c = (u128)a0 * a2 + (u64)(c >> 64); t2 = (u64)c;
    c = (u128)a0 * a3 + (u64)(c >> 64); t3 = (u64)c; t4 = (u64)(c >> 64);
    c = (u128)a1 * a2 + t3; t3 = (u64)c;
    c = (u128)a1 * a3 + t4 + (u64)(c >> 64); t4 = (u64)c; t5 = (u64)(c >> 64);
    c = (u128)a2 * a3 + t5; t5 = (u64)c; t6 = (u64)(c >> 64);
    t7 = t6 >> 63;
    t6 = (t6 << 1) | (t5 >> 63);
    t5 = (t5 << 1) | (t4 >> 63);
    t4 = (t4 << 1) | (t3 >> 63);
    t3 = (t3 << 1) | (t2 >> 63);
    t2 = (t2 << 1) | (t1 >> 63);
    t1 <<= 1;
    u128 q;
    u64 cy, c1, c2;
    q = (u128)a0 * a0; t0 = (u64)q;
    cy = __builtin_add_overflow(t1, (u64)(q >> 64), &t1);
    q = (u128)a1 * a1;
    c1 = __builtin_add_overflow(t2, (u64)q, &t2); c2 = __builtin_add_overflow(t2, cy, &t2); cy = c1 | c2;
    c1 = __builtin_add_overflow(t3, (u64)(q >> 64), &t3); c2 = __builtin_add_overflow(t3, cy, &t3); cy = c1 | c2;
    q = (u128)a2 * a2;
    c1 = __builtin_add_overflow(t4, (u64)q, &t4); c2 = __builtin_add_overflow(t4, cy, &t4); cy = c1 | c2;
    c1 = __builtin_add_overflow(t5, (u64)(q >> 64), &t5); c2 = __builtin_add_overflow(t5, cy, &t5); cy = c1 | c2;
    q = (u128)a3 * a3;
    c1 = __builtin_add_overflow(t6, (u64)q, &t6); c2 = __builtin_add_overflow(t6, cy, &t6); cy = c1 | c2;
    t7 = t7 + (u64)(q >> 64) + cy;
    fp_redc(r, t0, t1, t2, t3, t4, t5, t6, t7);
}

#if defined(__x86_64__) && !defined(SM2_NO_ASM)
/*
 * x86-64: the same algorithm as fp_mul_c / fp_sqr_c in assembly (gcc spills the C
 * version's 128-bit temporaries and runs at about half the speed). Schoolbook 512-bit
 * product (the squaring forms the six cross products once and doubles them), four
 * reduction rounds on the low half with shifts and adc/sbb only, add the high half, then
 * subtract p and keep the sum through a mask made by sbb when the subtraction borrowed:
 * no branch, no cmov, no secret-dependent address. Two variants of the product step:
 * mulq for any x86-64 (sm2_fp_*_x64), mulx with two carry chains (adcx/adox) where the
 * CPU has BMI2 and ADX (sm2_fp_*_adx). SysV calling convention, r in rdi, a in rsi,
 * b in rdx; r may alias a or b (r is written after the last read).
 */
__asm__(
    ".pushsection .text\n"
    /* Shared pieces, written once and expanded per function / per round. The names carry
     * the sm2_ prefix and are dropped again with .purgem at the end of this block. */
    /* sm2_fp_begin NAME: align, declare NAME as a function, save the callee-saved registers. */
    ".macro sm2_fp_begin name\n"
    ".p2align 5\n"
    ".type \\name, @function\n"
    "\\name:\n"
    "    pushq %rbx\n"
    "    pushq %rbp\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    ".endm\n"
    /* sm2_mulq_add A, B, ACC, OUT: rdx:rax = A*B; ACC += rax; OUT = rdx + carry. */
    ".macro sm2_mulq_add a, b, acc, out\n"
    "    movq \\a, %rax\n"
    "    mulq \\b\n"
    "    addq %rax, \\acc\n"
    "    adcq $0, %rdx\n"
    "    movq %rdx, \\out\n"
    ".endm\n"
    /* sm2_mulq_acc A, B, ACC, OUT: as sm2_mulq_add, plus the carry word in rbp:
     * ACC += rbp + lo(A*B); OUT = hi(A*B) + both carries. */
    ".macro sm2_mulq_acc a, b, acc, out\n"
    "    movq \\a, %rax\n"
    "    mulq \\b\n"
    "    addq %rbp, \\acc\n"
    "    adcq $0, %rdx\n"
    "    addq %rax, \\acc\n"
    "    adcq $0, %rdx\n"
    "    movq %rdx, \\out\n"
    ".endm\n"
    /* sm2_mulq_row OFF, T0..T3, HI: one schoolbook row (mulq), T0..T3,HI += a * b[OFF/8];
     * b in rcx, a in rsi, the word of b in rbx, carries through rbp. */
    ".macro sm2_mulq_row off, t0, t1, t2, t3, hi\n"
    "    movq \\off(%rcx), %rbx\n"
    "    sm2_mulq_add 0(%rsi), %rbx, \\t0, %rbp\n"
    "    sm2_mulq_acc 8(%rsi), %rbx, \\t1, %rbp\n"
    "    sm2_mulq_acc 16(%rsi), %rbx, \\t2, %rbp\n"
    "    sm2_mulq_acc 24(%rsi), %rbx, \\t3, \\hi\n"
    ".endm\n"
    /* sm2_mulx_row OFF, T0..T3, HI: the same row with mulx and two carry chains: adcx adds
     * the low words, adox the high words; rbp is zero (xor also clears CF and OF). */
    ".macro sm2_mulx_row off, t0, t1, t2, t3, hi\n"
    "    xorl %ebp, %ebp\n"
    "    movq \\off(%rcx), %rdx\n"
    "    mulxq 0(%rsi), %rax, %rbx\n"
    "    adcxq %rax, \\t0\n"
    "    adoxq %rbx, \\t1\n"
    "    mulxq 8(%rsi), %rax, %rbx\n"
    "    adcxq %rax, \\t1\n"
    "    adoxq %rbx, \\t2\n"
    "    mulxq 16(%rsi), %rax, %rbx\n"
    "    adcxq %rax, \\t2\n"
    "    adoxq %rbx, \\t3\n"
    "    mulxq 24(%rsi), %rax, \\hi\n"
    "    adcxq %rax, \\t3\n"
    "    adoxq %rbp, \\hi\n"
    "    adcxq %rbp, \\hi\n"
    ".endm\n"
    /* sm2_sqr_double: double the cross products r9..r14 into r9..r15 (squaring only). */
    ".macro sm2_sqr_double\n"
    "    xorl %r15d, %r15d\n"
    "    addq %r9, %r9\n"
    "    adcq %r10, %r10\n"
    "    adcq %r11, %r11\n"
    "    adcq %r12, %r12\n"
    "    adcq %r13, %r13\n"
    "    adcq %r14, %r14\n"
    "    adcq $0, %r15\n"
    ".endm\n"
    /* sm2_fp_redc_step T0, T1, T2, T3: one Montgomery reduction round. m = T0 (-p^-1 = 1
     * mod 2^64); add m*p with shifts only, since p = 2^256 - 2^224 - 2^96 + 2^64 - 1:
     * +m*2^64 into T1 with the carry run up into T0 (reused as the new top word, the
     * +m*2^256 term), then -m*2^96 and -m*2^224 as m<<32 (rax) / m>>32 (rdx) at T1,T2
     * and T3,T0. The -m cancels the old T0; the result is T1,T2,T3,T0. */
    ".macro sm2_fp_redc_step t0, t1, t2, t3\n"
    "    movq \\t0, %rax\n"
    "    movq \\t0, %rdx\n"
    "    shlq $32, %rax\n"
    "    shrq $32, %rdx\n"
    "    addq \\t0, \\t1\n"
    "    adcq $0, \\t2\n"
    "    adcq $0, \\t3\n"
    "    adcq $0, \\t0\n"
    "    subq %rax, \\t1\n"
    "    sbbq %rdx, \\t2\n"
    "    sbbq %rax, \\t3\n"
    "    sbbq %rdx, \\t0\n"
    ".endm\n"
    /* sm2_fp_finish NAME: the common tail. Four reduction rounds on r8..r11, add the high
     * half r12..r15 (carry in rcx), subtract p into copies; the final sbb turns rcx into
     * an all-ones mask exactly when that borrowed, and xor/and/xor keeps the sum then,
     * else the difference. Store to rdi, restore registers, return, set NAME's size. */
    ".macro sm2_fp_finish name\n"
    "    sm2_fp_redc_step %r8, %r9, %r10, %r11\n"
    "    sm2_fp_redc_step %r9, %r10, %r11, %r8\n"
    "    sm2_fp_redc_step %r10, %r11, %r8, %r9\n"
    "    sm2_fp_redc_step %r11, %r8, %r9, %r10\n"
    "    xorl %ecx, %ecx\n"
    "    addq %r12, %r8\n"
    "    adcq %r13, %r9\n"
    "    adcq %r14, %r10\n"
    "    adcq %r15, %r11\n"
    "    adcq $0, %rcx\n"
    "    movq %r8, %r12\n"
    "    movq %r9, %r13\n"
    "    movq %r10, %r14\n"
    "    movq %r11, %r15\n"
    "    movabsq $0xFFFFFFFF00000000, %rax\n"
    "    movabsq $0xFFFFFFFEFFFFFFFF, %rdx\n"
    "    subq $-1, %r12\n"
    "    sbbq %rax, %r13\n"
    "    sbbq $-1, %r14\n"
    "    sbbq %rdx, %r15\n"
    "    sbbq $0, %rcx\n"
    "    xorq %r12, %r8\n"
    "    xorq %r13, %r9\n"
    "    xorq %r14, %r10\n"
    "    xorq %r15, %r11\n"
    "    andq %rcx, %r8\n"
    "    andq %rcx, %r9\n"
    "    andq %rcx, %r10\n"
    "    andq %rcx, %r11\n"
    "    xorq %r8, %r12\n"
    "    xorq %r9, %r13\n"
    "    xorq %r10, %r14\n"
    "    xorq %r11, %r15\n"
    "    movq %r12, 0(%rdi)\n"
    "    movq %r13, 8(%rdi)\n"
    "    movq %r14, 16(%rdi)\n"
    "    movq %r15, 24(%rdi)\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbp\n"
    "    popq %rbx\n"
    "    ret\n"
    ".size \\name, .-\\name\n"
    ".endm\n"

    "sm2_fp_begin sm2_fp_mul_x64\n"
    "    movq %rdx, %rcx\n"
    "    movq 0(%rcx), %rbx\n"
    "    movq 0(%rsi), %rax\n"
    "    mulq %rbx\n"
    "    movq %rax, %r8\n"
    "    movq %rdx, %r9\n"
    "    sm2_mulq_add 8(%rsi), %rbx, %r9, %r10\n"
    "    sm2_mulq_add 16(%rsi), %rbx, %r10, %r11\n"
    "    sm2_mulq_add 24(%rsi), %rbx, %r11, %r12\n"
    "    sm2_mulq_row 8, %r9, %r10, %r11, %r12, %r13\n"
    "    sm2_mulq_row 16, %r10, %r11, %r12, %r13, %r14\n"
    "    sm2_mulq_row 24, %r11, %r12, %r13, %r14, %r15\n"
    "sm2_fp_finish sm2_fp_mul_x64\n"

    "sm2_fp_begin sm2_fp_sqr_x64\n"
    "    movq 8(%rsi), %rax\n"
    "    mulq 0(%rsi)\n"
    "    movq %rax, %r9\n"
    "    movq %rdx, %r10\n"
    "    sm2_mulq_add 16(%rsi), 0(%rsi), %r10, %r11\n"
    "    sm2_mulq_add 24(%rsi), 0(%rsi), %r11, %r12\n"
    "    sm2_mulq_add 16(%rsi), 8(%rsi), %r11, %rbp\n"
    "    sm2_mulq_acc 24(%rsi), 8(%rsi), %r12, %r13\n"
    "    sm2_mulq_add 24(%rsi), 16(%rsi), %r13, %r14\n"
    "    sm2_sqr_double\n"
    "    movq 0(%rsi), %rax\n"
    "    mulq %rax\n"
    "    movq %rax, %r8\n"
    "    movq %rdx, %rbp\n"
    "    movq 8(%rsi), %rax\n"
    "    mulq %rax\n"
    "    movq %rax, %rbx\n"
    "    movq %rdx, %rcx\n"
    "    addq %rbp, %r9\n"
    "    adcq %rbx, %r10\n"
    "    adcq %rcx, %r11\n"
    "    sbbq %rbp, %rbp\n"
    "    movq 16(%rsi), %rax\n"
    "    mulq %rax\n"
    "    movq %rax, %rbx\n"
    "    movq %rdx, %rcx\n"
    "    movq 24(%rsi), %rax\n"
    "    mulq %rax\n"
    "    negq %rbp\n"
    "    adcq %rbx, %r12\n"
    "    adcq %rcx, %r13\n"
    "    adcq %rax, %r14\n"
    "    adcq %rdx, %r15\n"
    "sm2_fp_finish sm2_fp_sqr_x64\n"

    "sm2_fp_begin sm2_fp_mul_adx\n"
    "    movq %rdx, %rcx\n"
    "    movq 0(%rcx), %rdx\n"
    "    mulxq 0(%rsi), %r8, %r9\n"
    "    mulxq 8(%rsi), %rax, %r10\n"
    "    mulxq 16(%rsi), %rbx, %r11\n"
    "    mulxq 24(%rsi), %rbp, %r12\n"
    "    addq %rax, %r9\n"
    "    adcq %rbx, %r10\n"
    "    adcq %rbp, %r11\n"
    "    adcq $0, %r12\n"
    "    sm2_mulx_row 8, %r9, %r10, %r11, %r12, %r13\n"
    "    sm2_mulx_row 16, %r10, %r11, %r12, %r13, %r14\n"
    "    sm2_mulx_row 24, %r11, %r12, %r13, %r14, %r15\n"
    "sm2_fp_finish sm2_fp_mul_adx\n"

    "sm2_fp_begin sm2_fp_sqr_adx\n"
    "    movq 0(%rsi), %rdx\n"
    "    mulxq 8(%rsi), %r9, %r10\n"
    "    mulxq 16(%rsi), %rax, %r11\n"
    "    mulxq 24(%rsi), %rbx, %r12\n"
    "    addq %rax, %r10\n"
    "    adcq %rbx, %r11\n"
    "    adcq $0, %r12\n"
    "    movq 8(%rsi), %rdx\n"
    "    mulxq 16(%rsi), %rax, %rbx\n"
    "    mulxq 24(%rsi), %rcx, %r13\n"
    "    addq %rax, %r11\n"
    "    adcq %rbx, %r12\n"
    "    adcq $0, %r13\n"
    "    addq %rcx, %r12\n"
    "    adcq $0, %r13\n"
    "    movq 16(%rsi), %rdx\n"
    "    mulxq 24(%rsi), %rax, %r14\n"
    "    addq %rax, %r13\n"
    "    adcq $0, %r14\n"
    "    sm2_sqr_double\n"
    "    movq 0(%rsi), %rdx\n"
    "    mulxq %rdx, %r8, %rax\n"
    "    movq 8(%rsi), %rdx\n"
    "    mulxq %rdx, %rbx, %rcx\n"
    "    addq %rax, %r9\n"
    "    adcq %rbx, %r10\n"
    "    adcq %rcx, %r11\n"
    "    movq 16(%rsi), %rdx\n"
    "    mulxq %rdx, %rax, %rbx\n"
    "    adcq %rax, %r12\n"
    "    adcq %rbx, %r13\n"
    "    movq 24(%rsi), %rdx\n"
    "    mulxq %rdx, %rax, %rbx\n"
    "    adcq %rax, %r14\n"
    "    adcq %rbx, %r15\n"
    "sm2_fp_finish sm2_fp_sqr_adx\n"

    ".purgem sm2_fp_begin\n"
    ".purgem sm2_mulq_add\n"
    ".purgem sm2_mulq_acc\n"
    ".purgem sm2_mulq_row\n"
    ".purgem sm2_mulx_row\n"
    ".purgem sm2_sqr_double\n"
    ".purgem sm2_fp_redc_step\n"
    ".purgem sm2_fp_finish\n"
    ".popsection\n");
__attribute__((visibility("hidden"))) void sm2_fp_mul_x64(u64 r[4], const u64 a[4], const u64 b[4]);
__attribute__((visibility("hidden"))) void sm2_fp_mul_adx(u64 r[4], const u64 a[4], const u64 b[4]);
__attribute__((visibility("hidden"))) void sm2_fp_sqr_x64(u64 r[4], const u64 a[4]);
__attribute__((visibility("hidden"))) void sm2_fp_sqr_adx(u64 r[4], const u64 a[4]);


/* Set once at module initialisation: 1 when the CPU has BMI2 and ADX (mulx, adcx/adox),
   whose product step needs fewer instructions; both variants give the same results. */
static int fp_use_adx;

static inline void fp_mul(u64 r[4], const u64 a[4], const u64 b[4]) {
    if (fp_use_adx) sm2_fp_mul_adx(r, a, b);
    else sm2_fp_mul_x64(r, a, b);
}
static inline void fp_sqr(u64 r[4], const u64 a[4]) {
    if (fp_use_adx) sm2_fp_sqr_adx(r, a);
    else sm2_fp_sqr_x64(r, a);
}

/* SM2_FIELD_NO_ADX=1 in the environment keeps the mulq variant (tests run both). */
static const char *fp_select_backend(void) {
    unsigned int eax, ebx, ecx, edx;
    const char *off = getenv("SM2_FIELD_NO_ADX");
    fp_use_adx = 0;
    if ((!off || !*off || strcmp(off, "0") == 0) && __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) &&
        (ebx & (1u << 8)) && (ebx & (1u << 19)))
        fp_use_adx = 1;
    return fp_use_adx ? "x86_64-adx" : "x86_64";
}
#else
#define fp_mul fp_mul_c
#define fp_sqr fp_sqr_c
static const char *fp_select_backend(void) { return "c"; }
#endif

/* Conversions for p with the dedicated multiplication (values below p). */
static inline void fp_to_mont(u64 r[4], const u64 a[4]) { fp_mul(r, a, MP.rr); }
static inline void fp_from_mont(u64 r[4], const u64 a[4]) {
    static const u64 ONE[4] = {1, 0, 0, 0};
    fp_mul(r, a, ONE);
}

/* r = a^(2^k) by k squarings */
static inline void fp_sqr_n(u64 r[4], const u64 a[4], int k) {
    fp_sqr(r, a);
    while (--k > 0) fp_sqr(r, r);
}

/*
 * a^-1 = a^(p-2) by a fixed addition chain (255 squarings + 15 multiplications, same
 * sequence for every a, so constant time). From the top, p - 2 is 31 ones, a zero,
 * 128 ones, 32 zeros, 32 ones, 30 ones, a zero and a one. x_k below is a^(2^k - 1).
 */
static void fp_inv(u64 r[4], const u64 a[4]) {
    u64 x2[4], x3[4], x6[4], x12[4], x24[4], x30[4], x31[4], x32[4], t[4];
    fp_sqr(t, a);
    fp_mul(x2, t, a);
    fp_sqr(t, x2);
    fp_mul(x3, t, a);
    fp_sqr_n(t, x3, 3);
    fp_mul(x6, t, x3);
    fp_sqr_n(t, x6, 6);
    fp_mul(x12, t, x6);
    fp_sqr_n(t, x12, 12);
    fp_mul(x24, t, x12);
    fp_sqr_n(t, x24, 6);
    fp_mul(x30, t, x6);
    fp_sqr(t, x30);
    fp_mul(x31, t, a);
    fp_sqr(t, x31);
    fp_mul(x32, t, a);
    fp_sqr_n(t, x31, 33); /* 31 ones, 0, then 32 of the 128 ones */
    fp_mul(t, t, x32);
    for (int i = 0; i < 3; i++) { /* the other 96 ones */
        fp_sqr_n(t, t, 32);
        fp_mul(t, t, x32);
    }
    fp_sqr_n(t, t, 64); /* 32 zeros, 32 ones */
    fp_mul(t, t, x32);
    fp_sqr_n(t, t, 30); /* 30 ones */
    fp_mul(t, t, x30);
    fp_sqr_n(t, t, 2); /* 0, 1 */
    fp_mul(r, t, a);
    secure_zero(x2, sizeof x2);
    secure_zero(x3, sizeof x3);
    secure_zero(x6, sizeof x6);
    secure_zero(x12, sizeof x12);
    secure_zero(x24, sizeof x24);
    secure_zero(x30, sizeof x30);
    secure_zero(x31, sizeof x31);
    secure_zero(x32, sizeof x32);
    secure_zero(t, sizeof t);
}

#if defined(__x86_64__) && !defined(SM2_NO_ASM)
/* r = a + b mod p for a, b < p: add, subtract p, keep the sum with a mask when that borrowed. */
static inline void fp_add(u64 r[4], const u64 a[4], const u64 b[4]) {
    u64 t0 = a[0], t1 = a[1], t2 = a[2], t3 = a[3], s0, s1, s2, s3, c;
    __asm__("xorl %k[c], %k[c]\n\t"
            "addq 0(%[b]), %[t0]\n\t"
            "adcq 8(%[b]), %[t1]\n\t"
            "adcq 16(%[b]), %[t2]\n\t"
            "adcq 24(%[b]), %[t3]\n\t"
            "adcq $0, %[c]\n\t"
            "movq %[t0], %[s0]\n\t"
            "movq %[t1], %[s1]\n\t"
            "movq %[t2], %[s2]\n\t"
            "movq %[t3], %[s3]\n\t"
            "subq $-1, %[s0]\n\t"
            "sbbq %[p1], %[s1]\n\t"
            "sbbq $-1, %[s2]\n\t"
            "sbbq %[p3], %[s3]\n\t"
            "sbbq $0, %[c]\n\t" /* all ones: keep the sum; 0: keep sum - p */
            "xorq %[s0], %[t0]\n\t"
            "xorq %[s1], %[t1]\n\t"
            "xorq %[s2], %[t2]\n\t"
            "xorq %[s3], %[t3]\n\t"
            "andq %[c], %[t0]\n\t"
            "andq %[c], %[t1]\n\t"
            "andq %[c], %[t2]\n\t"
            "andq %[c], %[t3]\n\t"
            "xorq %[s0], %[t0]\n\t"
            "xorq %[s1], %[t1]\n\t"
            "xorq %[s2], %[t2]\n\t"
            "xorq %[s3], %[t3]"
            : [t0] "+&r"(t0), [t1] "+&r"(t1), [t2] "+&r"(t2), [t3] "+&r"(t3), [s0] "=&r"(s0), [s1] "=&r"(s1),
              [s2] "=&r"(s2), [s3] "=&r"(s3), [c] "=&r"(c)
            : [b] "r"(b), [p1] "m"(P_LIMBS[1]), [p3] "m"(P_LIMBS[3]), "m"(*(const u64(*)[4])b)
            : "cc");
    r[0] = t0; r[1] = t1; r[2] = t2; r[3] = t3;
}

/* r = a - b mod p for a, b < p: subtract, then add p masked by the borrow. */
static inline void fp_sub(u64 r[4], const u64 a[4], const u64 b[4]) {
    u64 t0 = a[0], t1 = a[1], t2 = a[2], t3 = a[3], m, m1, m3;
    __asm__("subq 0(%[b]), %[t0]\n\t"
            "sbbq 8(%[b]), %[t1]\n\t"
            "sbbq 16(%[b]), %[t2]\n\t"
            "sbbq 24(%[b]), %[t3]\n\t"
            "sbbq %[m], %[m]\n\t"
            "movq %[m], %[m1]\n\t"
            "shlq $32, %[m1]\n\t"
            "movq %[m], %[m3]\n\t"
            "btrq $32, %[m3]\n\t"
            "addq %[m], %[t0]\n\t"
            "adcq %[m1], %[t1]\n\t"
            "adcq %[m], %[t2]\n\t"
            "adcq %[m3], %[t3]"
            : [t0] "+&r"(t0), [t1] "+&r"(t1), [t2] "+&r"(t2), [t3] "+&r"(t3), [m] "=&r"(m), [m1] "=&r"(m1),
              [m3] "=&r"(m3)
            : [b] "r"(b), "m"(*(const u64(*)[4])b)
            : "cc");
    r[0] = t0; r[1] = t1; r[2] = t2; r[3] = t3;
}
#else
#define fp_add(r, a, b) mod_add((r), (a), (b), &MP)
#define fp_sub(r, a, b) mod_sub((r), (a), (b), &MP)
#endif

/* ------------------------------------------------------------------- points */

typedef struct { u64 X[4], Y[4], Z[4]; } jpoint; /* Jacobian, Montgomery form; Z = 0 is infinity */
typedef struct { u64 x[4], y[4]; } apoint;       /* affine, Montgomery form */

static u64 FP_B[4]; /* b in Montgomery form */
static u64 SQRT_EXP[4]; /* (p + 1) / 4 */
static apoint G_AFF;

/* dbl-2001-b for a = -3 with Z3 = 2YZ: 4M + 4S. Infinity (Z = 0) maps to infinity. */
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
    fp_mul(t1, p->Y, p->Z); /* Z3 = 2YZ: one multiplication instead of (Y+Z)^2 - gamma - delta */
    fp_add(Z3, t1, t1);
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
    fp_inv(zi, p->Z);
    fp_sqr(zi2, zi);
    fp_mul(zi3, zi2, zi);
    fp_mul(t, p->X, zi2);
    fp_from_mont(x, t);
    if (y) {
        fp_mul(t, p->Y, zi3);
        fp_from_mont(y, t);
    }
}

/* As above for public points; returns 0 for infinity. */
static int pt_to_affine(u64 x[4], u64 y[4], const jpoint *p) {
    if (is_zero4(p->Z)) return 0;
    pt_to_affine_ct(x, y, p);
    return 1;
}

/* --------------------------------------------------- fixed-base comb table */

/* A public key's table for repeated verification: signed 5-bit (Booth) digits, so 52 windows
   of 16 multiples, KEY[w][j-1] = j * 32^w * P, affine Montgomery form (52 KiB). */
#define KEY_WINDOWS 52
#define KEY_ENTRIES 16
#define KEY_BITS 5
typedef apoint comb_table[KEY_WINDOWS][KEY_ENTRIES];

/* The generator in the key-table format. The module does not use it (s*G uses the 6-bit
   signing comb); tests/ct/ct_check.c builds it through build_comb. */
__attribute__((unused)) static comb_table G_TABLE;

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
    fp_inv(inv, acc);
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

static int build_comb(comb_table table, const apoint *p) {
    return build_table(&table[0][0], KEY_WINDOWS, KEY_ENTRIES, KEY_BITS, p);
}

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

/* q = row[mag - 1] (q = 0 when mag = 0) reading all 32 entries: the wanted one is kept with
   a mask, so the memory accesses do not depend on mag. SSE2 (part of x86-64) and/or on
   128-bit halves; a plain word loop elsewhere. */
static inline void booth_lookup(apoint *q, const apoint row[32], u64 mag) {
#if defined(__x86_64__) && !defined(SM2_NO_ASM)
    __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
    for (u64 j = 1; j <= 32; j++) {
        __m128i m = _mm_set1_epi64x((long long)ct_eq_u64(j, mag));
        const __m128i *e = (const __m128i *)&row[j - 1];
        a0 = _mm_or_si128(a0, _mm_and_si128(_mm_loadu_si128(e), m));
        a1 = _mm_or_si128(a1, _mm_and_si128(_mm_loadu_si128(e + 1), m));
        a2 = _mm_or_si128(a2, _mm_and_si128(_mm_loadu_si128(e + 2), m));
        a3 = _mm_or_si128(a3, _mm_and_si128(_mm_loadu_si128(e + 3), m));
    }
    _mm_storeu_si128((__m128i *)&q->x[0], a0);
    _mm_storeu_si128((__m128i *)&q->x[2], a1);
    _mm_storeu_si128((__m128i *)&q->y[0], a2);
    _mm_storeu_si128((__m128i *)&q->y[2], a3);
#else
    memset(q, 0, sizeof *q);
    for (u64 j = 1; j <= 32; j++) {
        u64 mask = ct_eq_u64(j, mag);
        const apoint *e = &row[j - 1];
        for (int i = 0; i < 4; i++) {
            q->x[i] |= e->x[i] & mask;
            q->y[i] |= e->y[i] & mask;
        }
    }
#endif
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
        booth_lookup(&q, BOOTH[w], mag);
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

/* bits [bits*w - 1, bits*w + bits - 1] of k (bit -1 is 0): a (bits+1)-bit Booth input. w is public. */
static inline u64 booth_input_vt(const u64 k[4], int w, int bits) {
    const u64 mask = ((u64)2 << bits) - 1;
    int start = bits * w - 1;
    if (start < 0) return (k[0] << 1) & mask;
    int limb = start / 64, off = start % 64;
    u64 v = k[limb] >> off;
    if (off > 63 - bits && limb < 3) v |= k[limb + 1] << (64 - off);
    return v & mask;
}

/*
 * k*P in variable time (public k, for verification) from a signed-digit comb table:
 * table[w * entries + j - 1] = j * 2^(bits * w) * P, entries = 2^(bits-1), digits in
 * [-entries, entries]. s*G uses the 6-bit signing comb (43 windows), t*P a key's 5-bit table
 * (52 windows): one mixed addition per nonzero digit, no doublings.
 */
static void booth_mult_vt(jpoint *r, const apoint *table, int windows, int bits, const u64 k[4]) {
    const int entries = 1 << (bits - 1);
    const u64 top = (u64)1 << bits, all = ((u64)2 << bits) - 1;
    jpoint acc;
    memset(&acc, 0, sizeof acc);
    for (int w = 0; w < windows; w++) {
        u64 in = booth_input_vt(k, w, bits);
        u64 mag = (in & top) ? all - in : in;
        mag = (mag >> 1) + (mag & 1);
        if (!mag) continue;
        apoint q = table[w * entries + (int)mag - 1];
        if (in & top) {
            u64 zero[4] = {0, 0, 0, 0};
            fp_sub(q.y, zero, q.y);
        }
        pt_madd_vt(&acc, &acc, &q);
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
    booth_mult_vt(&sg, &BOOTH[0][0], BOOTH_WINDOWS, 6, s);
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
        booth_mult_vt(&tp, (const apoint *)tb, KEY_WINDOWS, KEY_BITS, t);
        booth_mult_vt(&sg, &BOOTH[0][0], BOOTH_WINDOWS, 6, s);
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
    fp_to_mont(cm, c);
    fp_mul(lhs, cm, zz);
    if (eq4(lhs, sum.X)) Py_RETURN_TRUE;
    u64 c2[4];
    if (!add4(c2, c, MN.m) && lt4(c2, MP.m)) {
        fp_to_mont(cm, c2);
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
    if (build_comb((apoint(*)[KEY_ENTRIES])PyBytes_AS_STRING(out), &p) < 0) {
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

    const char *backend = fp_select_backend();
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
    if (build_booth_table() < 0) return NULL;
    PyObject *module = PyModule_Create(&moduledef);
    if (module && PyModule_AddStringConstant(module, "FIELD_BACKEND", backend) < 0) Py_CLEAR(module);
    return module;
}
