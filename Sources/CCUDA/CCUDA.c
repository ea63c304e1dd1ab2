// Layout checks for the structs that cross the C ABI by value or by array; nothing to link.
#include "CCUDA.h"

_Static_assert(sizeof(ncclUniqueId) == 128, "ncclUniqueId must be NCCL_UNIQUE_ID_BYTES (128) bytes");
_Static_assert(sizeof(cublasLtMatmulAlgo_t) == 64, "cublasLtMatmulAlgo_t is uint64_t[8]");
_Static_assert(sizeof(cublasLtMatmulHeuristicResult_t) == 96,
               "cublasLtMatmulHeuristicResult_t: algo(64) + workspaceSize(8) + state(4) + wavesCount(4) + reserved(16)");
_Static_assert(offsetof(cublasLtMatmulHeuristicResult_t, workspaceSize) == 64, "workspaceSize follows algo");
_Static_assert(offsetof(cublasLtMatmulHeuristicResult_t, state) == 72, "state follows workspaceSize");
_Static_assert(offsetof(cublasLtMatmulHeuristicResult_t, wavesCount) == 76, "wavesCount follows state");
_Static_assert(sizeof(CUdeviceptr) == 8, "CUdeviceptr is 64-bit on 64-bit hosts");
_Static_assert(sizeof(size_t) == 8, "MegatronCUDA supports 64-bit hosts only");
