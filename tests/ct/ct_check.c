/* Constant-time check in the ctgrind style: the secret scalar is marked undefined for
   valgrind's memcheck, which then reports any branch or memory address computed from it.
   argv[1] = "sm2" runs the product code paths; "leaky" runs a deliberately secret-dependent
   control so the test shows the check can fail. */
#include "../../gm/_sm2.c"
#include <valgrind/memcheck.h>

static void leaky(const u64 k[4]) { /* branches on a secret bit */
    if (k[0] & 1) puts("odd");
}

int main(int argc, char **argv) {
    fprintf(stderr, "field backend: %s\n", fp_select_backend()); /* SM2_FIELD_NO_ADX picks mulq */
    modctx_init(&MP, P_LIMBS);
    modctx_init(&MN, N_LIMBS);
    to_mont(FP_B, B_LIMBS, &MP);
    to_mont(G_AFF.x, GX_LIMBS, &MP);
    to_mont(G_AFF.y, GY_LIMBS, &MP);
    if (build_comb(G_TABLE, &G_AFF) < 0 || build_booth_table() < 0) return 3;
    u64 k[4] = {0x0123456789ABCDEFULL, 0x1122334455667788ULL, 0x99AABBCCDDEEFF00ULL, 0x0FEDCBA987654321ULL};
    VALGRIND_MAKE_MEM_UNDEFINED(k, sizeof k);
    if (argc > 1 && strcmp(argv[1], "leaky") == 0) {
        leaky(k);
        return 0;
    }
    jpoint out;
    base_mult_ct(&out, k);                 /* k*G: the signing nonce */
    point_mult_ct(&out, k, &G_AFF);        /* d*C1: decryption */
    u64 inv[4], t[4], s[4], r[4] = {5, 6, 7, 8};
    mont_inv(inv, k, &MN);                 /* (1+d)^-1 precomputation */
    mod_add(t, k, r, &MN);                 /* s = (1+d)^-1 (k + r) - r */
    mont_mul(s, t, inv, &MN);
    mod_sub(s, s, r, &MN);
    pt_to_affine_ct(t, NULL, &out);        /* Fermat inversion of a secret-derived Z (as in signing) */
    VALGRIND_MAKE_MEM_DEFINED(s, sizeof s);
    return 0;
}
