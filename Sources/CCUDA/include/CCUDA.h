// CCUDA: the C declarations MegatronCUDA needs to call the CUDA driver, NVRTC, cuBLASLt and
// NCCL through function pointers resolved with dlsym at run time.
//
// Declarations only: this target links nothing and needs no CUDA headers at build time. Every
// type, enum value and signature below is copied from the CUDA 12/13 headers (cuda.h, nvrtc.h,
// cublasLt.h, cublas_api.h, library_types.h) and nccl.h 2.x, whose ABI is stable across those
// versions. Struct layouts that cross the ABI by value are checked in CCUDA.c.
//
// One function-pointer typedef per entry point used, named PFN_<exported symbol>, so that the
// `_v2` symbol names the driver exports (cuMemAlloc_v2, …) are explicit.

#ifndef CCUDA_H
#define CCUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - CUDA driver API (cuda.h)

typedef int CUresult;                    // CUDA_SUCCESS = 0
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;  // CUdeviceptr_v2 on 64-bit hosts
typedef int CUdevice_attribute;
typedef int CUfunction_attribute;

typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;

// The runtime API's stream type is the driver's (cuBLASLt and NCCL take cudaStream_t).
typedef CUstream cudaStream_t;

// Selected enum values (cuda.h).
enum {
    CCUDA_SUCCESS = 0,
    CCUDA_ERROR_INVALID_VALUE = 1,
    CCUDA_ERROR_OUT_OF_MEMORY = 2,
    CCUDA_ERROR_NOT_INITIALIZED = 3,
    CCUDA_ERROR_NO_DEVICE = 100,
    CCUDA_ERROR_NOT_READY = 600,

    CCUDA_STREAM_DEFAULT = 0x0,
    CCUDA_STREAM_NON_BLOCKING = 0x1,
    CCUDA_EVENT_DEFAULT = 0x0,
    CCUDA_EVENT_BLOCKING_SYNC = 0x1,
    CCUDA_EVENT_DISABLE_TIMING = 0x2,

    CCUDA_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    CCUDA_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK = 8,
    CCUDA_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CCUDA_DEVICE_ATTRIBUTE_PCI_BUS_ID = 33,
    CCUDA_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CCUDA_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
    CCUDA_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97,

    CCUDA_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 0,
    CCUDA_FUNC_ATTRIBUTE_NUM_REGS = 4,
    CCUDA_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8,
};

typedef CUresult (*PFN_cuInit)(unsigned int flags);
typedef CUresult (*PFN_cuDriverGetVersion)(int *driverVersion);
typedef CUresult (*PFN_cuGetErrorName)(CUresult error, const char **pStr);
typedef CUresult (*PFN_cuGetErrorString)(CUresult error, const char **pStr);

typedef CUresult (*PFN_cuDeviceGetCount)(int *count);
typedef CUresult (*PFN_cuDeviceGet)(CUdevice *device, int ordinal);
typedef CUresult (*PFN_cuDeviceGetName)(char *name, int len, CUdevice dev);
typedef CUresult (*PFN_cuDeviceGetAttribute)(int *pi, CUdevice_attribute attrib, CUdevice dev);
typedef CUresult (*PFN_cuDeviceTotalMem_v2)(size_t *bytes, CUdevice dev);

typedef CUresult (*PFN_cuDevicePrimaryCtxRetain)(CUcontext *pctx, CUdevice dev);
typedef CUresult (*PFN_cuDevicePrimaryCtxRelease_v2)(CUdevice dev);
typedef CUresult (*PFN_cuCtxSetCurrent)(CUcontext ctx);
typedef CUresult (*PFN_cuCtxGetCurrent)(CUcontext *pctx);
typedef CUresult (*PFN_cuCtxSynchronize)(void);

typedef CUresult (*PFN_cuMemGetInfo_v2)(size_t *free, size_t *total);
typedef CUresult (*PFN_cuMemAlloc_v2)(CUdeviceptr *dptr, size_t bytesize);
typedef CUresult (*PFN_cuMemFree_v2)(CUdeviceptr dptr);
typedef CUresult (*PFN_cuMemAllocHost_v2)(void **pp, size_t bytesize);
typedef CUresult (*PFN_cuMemFreeHost)(void *p);

typedef CUresult (*PFN_cuMemcpyHtoD_v2)(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount);
typedef CUresult (*PFN_cuMemcpyDtoH_v2)(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount);
typedef CUresult (*PFN_cuMemcpyDtoD_v2)(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount);
typedef CUresult (*PFN_cuMemcpyHtoDAsync_v2)(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount,
                                              CUstream hStream);
typedef CUresult (*PFN_cuMemcpyDtoHAsync_v2)(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
                                              CUstream hStream);
typedef CUresult (*PFN_cuMemcpyDtoDAsync_v2)(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount,
                                              CUstream hStream);
typedef CUresult (*PFN_cuMemsetD8_v2)(CUdeviceptr dstDevice, unsigned char uc, size_t N);
typedef CUresult (*PFN_cuMemsetD8Async)(CUdeviceptr dstDevice, unsigned char uc, size_t N, CUstream hStream);
typedef CUresult (*PFN_cuMemsetD16_v2)(CUdeviceptr dstDevice, unsigned short us, size_t N);
typedef CUresult (*PFN_cuMemsetD16Async)(CUdeviceptr dstDevice, unsigned short us, size_t N, CUstream hStream);
typedef CUresult (*PFN_cuMemsetD32_v2)(CUdeviceptr dstDevice, unsigned int ui, size_t N);
typedef CUresult (*PFN_cuMemsetD32Async)(CUdeviceptr dstDevice, unsigned int ui, size_t N, CUstream hStream);

typedef CUresult (*PFN_cuStreamCreate)(CUstream *phStream, unsigned int Flags);
typedef CUresult (*PFN_cuStreamDestroy_v2)(CUstream hStream);
typedef CUresult (*PFN_cuStreamSynchronize)(CUstream hStream);
typedef CUresult (*PFN_cuStreamQuery)(CUstream hStream);
typedef CUresult (*PFN_cuStreamWaitEvent)(CUstream hStream, CUevent hEvent, unsigned int Flags);

typedef CUresult (*PFN_cuEventCreate)(CUevent *phEvent, unsigned int Flags);
typedef CUresult (*PFN_cuEventDestroy_v2)(CUevent hEvent);
typedef CUresult (*PFN_cuEventRecord)(CUevent hEvent, CUstream hStream);
typedef CUresult (*PFN_cuEventSynchronize)(CUevent hEvent);
typedef CUresult (*PFN_cuEventQuery)(CUevent hEvent);
// cuEventElapsedTime_v2 (CUDA 12.8+) and cuEventElapsedTime share this signature.
typedef CUresult (*PFN_cuEventElapsedTime)(float *pMilliseconds, CUevent hStart, CUevent hEnd);

typedef CUresult (*PFN_cuModuleLoadData)(CUmodule *module, const void *image);
typedef CUresult (*PFN_cuModuleUnload)(CUmodule hmod);
typedef CUresult (*PFN_cuModuleGetFunction)(CUfunction *hfunc, CUmodule hmod, const char *name);
typedef CUresult (*PFN_cuFuncSetAttribute)(CUfunction hfunc, CUfunction_attribute attrib, int value);
typedef CUresult (*PFN_cuFuncGetAttribute)(int *pi, CUfunction_attribute attrib, CUfunction hfunc);
typedef CUresult (*PFN_cuLaunchKernel)(CUfunction f,
                                       unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                                       unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                                       unsigned int sharedMemBytes, CUstream hStream,
                                       void **kernelParams, void **extra);

// MARK: - NVRTC (nvrtc.h)

typedef int nvrtcResult;  // NVRTC_SUCCESS = 0
typedef struct _nvrtcProgram *nvrtcProgram;

enum {
    CCUDA_NVRTC_SUCCESS = 0,
    CCUDA_NVRTC_ERROR_COMPILATION = 6,
};

typedef const char *(*PFN_nvrtcGetErrorString)(nvrtcResult result);
typedef nvrtcResult (*PFN_nvrtcVersion)(int *major, int *minor);
typedef nvrtcResult (*PFN_nvrtcGetNumSupportedArchs)(int *numArchs);
typedef nvrtcResult (*PFN_nvrtcGetSupportedArchs)(int *supportedArchs);
typedef nvrtcResult (*PFN_nvrtcCreateProgram)(nvrtcProgram *prog, const char *src, const char *name,
                                              int numHeaders, const char *const *headers,
                                              const char *const *includeNames);
typedef nvrtcResult (*PFN_nvrtcDestroyProgram)(nvrtcProgram *prog);
typedef nvrtcResult (*PFN_nvrtcCompileProgram)(nvrtcProgram prog, int numOptions, const char *const *options);
typedef nvrtcResult (*PFN_nvrtcGetProgramLogSize)(nvrtcProgram prog, size_t *logSizeRet);
typedef nvrtcResult (*PFN_nvrtcGetProgramLog)(nvrtcProgram prog, char *log);
typedef nvrtcResult (*PFN_nvrtcGetCUBINSize)(nvrtcProgram prog, size_t *cubinSizeRet);
typedef nvrtcResult (*PFN_nvrtcGetCUBIN)(nvrtcProgram prog, char *cubin);
typedef nvrtcResult (*PFN_nvrtcGetPTXSize)(nvrtcProgram prog, size_t *ptxSizeRet);
typedef nvrtcResult (*PFN_nvrtcGetPTX)(nvrtcProgram prog, char *ptx);

// MARK: - cuBLASLt (cublasLt.h, cublas_api.h, library_types.h)

typedef int cublasStatus_t;        // CUBLAS_STATUS_SUCCESS = 0
typedef int cudaDataType_t;        // CUDA_R_32F = 0, …
typedef int cublasComputeType_t;   // CUBLAS_COMPUTE_32F = 68, …
typedef int cublasLtMatmulDescAttributes_t;
typedef int cublasLtMatrixLayoutAttribute_t;
typedef int cublasLtMatmulPreferenceAttributes_t;

typedef struct cublasLtContext *cublasLtHandle_t;
typedef struct CCUDA_cublasLtMatmulDescOpaque *cublasLtMatmulDesc_t;
typedef struct CCUDA_cublasLtMatrixLayoutOpaque *cublasLtMatrixLayout_t;
typedef struct CCUDA_cublasLtMatmulPreferenceOpaque *cublasLtMatmulPreference_t;

/// Semi-opaque algorithm descriptor (cublasLt.h: `uint64_t data[8]`).
typedef struct {
    uint64_t data[8];
} cublasLtMatmulAlgo_t;

/// One result of cublasLtMatmulAlgoGetHeuristic (cublasLt.h layout, 96 bytes).
typedef struct {
    cublasLtMatmulAlgo_t algo;
    size_t workspaceSize;
    cublasStatus_t state;
    float wavesCount;
    int reserved[4];
} cublasLtMatmulHeuristicResult_t;

enum {
    CCUDA_CUDA_R_32F = 0,
    CCUDA_CUDA_R_16F = 2,
    CCUDA_CUDA_R_16BF = 14,
    CCUDA_CUDA_R_8F_E4M3 = 28,
    CCUDA_CUDA_R_8F_E5M2 = 29,

    CCUDA_CUBLAS_COMPUTE_32F = 68,
    CCUDA_CUBLAS_COMPUTE_32F_FAST_TF32 = 77,

    CCUDA_CUBLAS_OP_N = 0,
    CCUDA_CUBLAS_OP_T = 1,

    // cublasLtMatmulDescAttributes_t
    CCUDA_CUBLASLT_MATMUL_DESC_TRANSA = 3,
    CCUDA_CUBLASLT_MATMUL_DESC_TRANSB = 4,
    CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE = 7,
    CCUDA_CUBLASLT_MATMUL_DESC_BIAS_POINTER = 8,
    CCUDA_CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE = 10,
    CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER = 11,
    CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD = 12,
    CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_BATCH_STRIDE = 13,
    CCUDA_CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_DATA_TYPE = 22,
    CCUDA_CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE = 26,

    // cublasLtMatrixLayoutAttribute_t
    CCUDA_CUBLASLT_MATRIX_LAYOUT_ORDER = 1,
    CCUDA_CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT = 5,
    CCUDA_CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET = 6,

    // cublasLtMatmulPreferenceAttributes_t
    CCUDA_CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1,
    CCUDA_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES = 5,
    CCUDA_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES = 6,
    CCUDA_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES = 7,
    CCUDA_CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES = 8,

    // cublasLtEpilogue_t
    CCUDA_CUBLASLT_EPILOGUE_DEFAULT = 1,
    CCUDA_CUBLASLT_EPILOGUE_BIAS = 4,
    CCUDA_CUBLASLT_EPILOGUE_GELU = 32,
    CCUDA_CUBLASLT_EPILOGUE_GELU_AUX = 32 | 128,
    CCUDA_CUBLASLT_EPILOGUE_GELU_BIAS = 32 | 4,
    CCUDA_CUBLASLT_EPILOGUE_GELU_AUX_BIAS = 32 | 128 | 4,
    CCUDA_CUBLASLT_EPILOGUE_DGELU = 64 | 128,
    CCUDA_CUBLASLT_EPILOGUE_DGELU_BGRAD = 64 | 128 | 16,
    CCUDA_CUBLASLT_EPILOGUE_BGRADA = 256,
    CCUDA_CUBLASLT_EPILOGUE_BGRADB = 512,
};

typedef size_t (*PFN_cublasLtGetVersion)(void);
typedef const char *(*PFN_cublasLtGetStatusName)(cublasStatus_t status);
typedef const char *(*PFN_cublasLtGetStatusString)(cublasStatus_t status);
typedef cublasStatus_t (*PFN_cublasLtCreate)(cublasLtHandle_t *lightHandle);
typedef cublasStatus_t (*PFN_cublasLtDestroy)(cublasLtHandle_t lightHandle);
typedef cublasStatus_t (*PFN_cublasLtMatmulDescCreate)(cublasLtMatmulDesc_t *matmulDesc,
                                                       cublasComputeType_t computeType, cudaDataType_t scaleType);
typedef cublasStatus_t (*PFN_cublasLtMatmulDescDestroy)(cublasLtMatmulDesc_t matmulDesc);
typedef cublasStatus_t (*PFN_cublasLtMatmulDescSetAttribute)(cublasLtMatmulDesc_t matmulDesc,
                                                             cublasLtMatmulDescAttributes_t attr,
                                                             const void *buf, size_t sizeInBytes);
typedef cublasStatus_t (*PFN_cublasLtMatrixLayoutCreate)(cublasLtMatrixLayout_t *matLayout, cudaDataType_t type,
                                                         uint64_t rows, uint64_t cols, int64_t ld);
typedef cublasStatus_t (*PFN_cublasLtMatrixLayoutDestroy)(cublasLtMatrixLayout_t matLayout);
typedef cublasStatus_t (*PFN_cublasLtMatrixLayoutSetAttribute)(cublasLtMatrixLayout_t matLayout,
                                                               cublasLtMatrixLayoutAttribute_t attr,
                                                               const void *buf, size_t sizeInBytes);
typedef cublasStatus_t (*PFN_cublasLtMatmulPreferenceCreate)(cublasLtMatmulPreference_t *pref);
typedef cublasStatus_t (*PFN_cublasLtMatmulPreferenceDestroy)(cublasLtMatmulPreference_t pref);
typedef cublasStatus_t (*PFN_cublasLtMatmulPreferenceSetAttribute)(cublasLtMatmulPreference_t pref,
                                                                   cublasLtMatmulPreferenceAttributes_t attr,
                                                                   const void *buf, size_t sizeInBytes);
typedef cublasStatus_t (*PFN_cublasLtMatmulAlgoGetHeuristic)(
    cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t operationDesc, cublasLtMatrixLayout_t Adesc,
    cublasLtMatrixLayout_t Bdesc, cublasLtMatrixLayout_t Cdesc, cublasLtMatrixLayout_t Ddesc,
    cublasLtMatmulPreference_t preference, int requestedAlgoCount,
    cublasLtMatmulHeuristicResult_t heuristicResultsArray[], int *returnAlgoCount);
typedef cublasStatus_t (*PFN_cublasLtMatmul)(cublasLtHandle_t lightHandle, cublasLtMatmulDesc_t computeDesc,
                                             const void *alpha, const void *A, cublasLtMatrixLayout_t Adesc,
                                             const void *B, cublasLtMatrixLayout_t Bdesc, const void *beta,
                                             const void *C, cublasLtMatrixLayout_t Cdesc, void *D,
                                             cublasLtMatrixLayout_t Ddesc, const cublasLtMatmulAlgo_t *algo,
                                             void *workspace, size_t workspaceSizeInBytes, cudaStream_t stream);

// MARK: - NCCL (nccl.h)

typedef int ncclResult_t;    // ncclSuccess = 0
typedef int ncclDataType_t;  // ncclFloat32 = 7, ncclBfloat16 = 9, …
typedef int ncclRedOp_t;     // ncclSum = 0, …
typedef struct ncclComm *ncclComm_t;

/// NCCL_UNIQUE_ID_BYTES = 128. Passed BY VALUE to ncclCommInitRank.
typedef struct {
    char internal[128];
} ncclUniqueId;

typedef ncclResult_t (*PFN_ncclGetVersion)(int *version);
typedef const char *(*PFN_ncclGetErrorString)(ncclResult_t result);
typedef const char *(*PFN_ncclGetLastError)(ncclComm_t comm);
typedef ncclResult_t (*PFN_ncclGetUniqueId)(ncclUniqueId *uniqueId);
typedef ncclResult_t (*PFN_ncclCommInitRank)(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank);
/// NCCL ≥ 2.18. `config` may be NULL (inherit the parent's); color < 0 (NCCL_SPLIT_NOCOLOR) leaves no communicator.
typedef ncclResult_t (*PFN_ncclCommSplit)(ncclComm_t comm, int color, int key, ncclComm_t *newcomm, void *config);
typedef ncclResult_t (*PFN_ncclCommInitAll)(ncclComm_t *comm, int ndev, const int *devlist);
typedef ncclResult_t (*PFN_ncclCommDestroy)(ncclComm_t comm);
typedef ncclResult_t (*PFN_ncclCommAbort)(ncclComm_t comm);
typedef ncclResult_t (*PFN_ncclCommGetAsyncError)(ncclComm_t comm, ncclResult_t *asyncError);
typedef ncclResult_t (*PFN_ncclCommCount)(const ncclComm_t comm, int *count);
typedef ncclResult_t (*PFN_ncclCommUserRank)(const ncclComm_t comm, int *rank);
typedef ncclResult_t (*PFN_ncclAllReduce)(const void *sendbuff, void *recvbuff, size_t count,
                                          ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                          cudaStream_t stream);
typedef ncclResult_t (*PFN_ncclBroadcast)(const void *sendbuff, void *recvbuff, size_t count,
                                          ncclDataType_t datatype, int root, ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*PFN_ncclReduceScatter)(const void *sendbuff, void *recvbuff, size_t recvcount,
                                              ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                              cudaStream_t stream);
typedef ncclResult_t (*PFN_ncclAllGather)(const void *sendbuff, void *recvbuff, size_t sendcount,
                                          ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*PFN_ncclSend)(const void *sendbuff, size_t count, ncclDataType_t datatype, int peer,
                                     ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*PFN_ncclRecv)(void *recvbuff, size_t count, ncclDataType_t datatype, int peer,
                                     ncclComm_t comm, cudaStream_t stream);
typedef ncclResult_t (*PFN_ncclGroupStart)(void);
typedef ncclResult_t (*PFN_ncclGroupEnd)(void);

#ifdef __cplusplus
}
#endif

#endif  // CCUDA_H
