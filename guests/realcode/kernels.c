/* The suite: every kernel with its default and quick sizes. The guest and the host program run this same
 * table in this order, so their output lines correspond one to one. */
#include "rc.h"

uint32_t k_sha256(uint32_t n);
uint32_t k_qsort(uint32_t n);
uint32_t k_bytecode(uint32_t n);
uint32_t k_lz77(uint32_t n);
uint32_t k_hash(uint32_t n);
uint32_t k_strings(uint32_t n);
uint32_t k_memops(uint32_t n);
uint32_t k_json(uint32_t n);
uint32_t k_huffman(uint32_t n);
uint32_t k_ast(uint32_t n);
uint32_t k_crc(uint32_t n);
uint32_t k_match(uint32_t n);
uint32_t k_strsort(uint32_t n);
uint32_t k_bignum(uint32_t n);
uint32_t k_alloc(uint32_t n);

const struct rc_kernel rc_kernels[] = {
    {"sha256", k_sha256, 80, 1},
    {"qsort", k_qsort, 27, 1},
    {"bytecode", k_bytecode, 12, 1},
    {"lz77", k_lz77, 25, 1},
    {"hash", k_hash, 33, 1},
    {"strings", k_strings, 33, 1},
    {"memops", k_memops, 15, 1},
    {"json", k_json, 28, 1},
    {"huffman", k_huffman, 31, 1},
    {"ast", k_ast, 19, 1},
    {"crc", k_crc, 160, 1},
    {"match", k_match, 54, 1},
    {"strsort", k_strsort, 24, 1},
    {"bignum", k_bignum, 27, 1},
    {"alloc", k_alloc, 28, 1},
};
const unsigned rc_kernel_count = sizeof rc_kernels / sizeof rc_kernels[0];
