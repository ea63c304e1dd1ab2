import CCUDA

/// Layer 1: the raw CUDA driver entry points, each resolved on its own. A nil entry is a
/// symbol this libcuda does not export; calling through ``CUDADriver`` then throws
/// ``CUDAError/symbolNotFound(library:symbol:)`` instead of failing at start-up.
struct DriverSymbols: @unchecked Sendable {
    // Sendable: C function pointers are immutable code addresses, callable from any thread.
    let cuInit: PFN_cuInit?
    let cuDriverGetVersion: PFN_cuDriverGetVersion?
    let cuGetErrorName: PFN_cuGetErrorName?
    let cuGetErrorString: PFN_cuGetErrorString?
    let cuDeviceGetCount: PFN_cuDeviceGetCount?
    let cuDeviceGet: PFN_cuDeviceGet?
    let cuDeviceGetName: PFN_cuDeviceGetName?
    let cuDeviceGetAttribute: PFN_cuDeviceGetAttribute?
    let cuDeviceTotalMem: PFN_cuDeviceTotalMem_v2?
    let cuDevicePrimaryCtxRetain: PFN_cuDevicePrimaryCtxRetain?
    let cuDevicePrimaryCtxRelease: PFN_cuDevicePrimaryCtxRelease_v2?
    let cuCtxSetCurrent: PFN_cuCtxSetCurrent?
    let cuCtxGetCurrent: PFN_cuCtxGetCurrent?
    let cuCtxSynchronize: PFN_cuCtxSynchronize?
    let cuMemGetInfo: PFN_cuMemGetInfo_v2?
    let cuMemAlloc: PFN_cuMemAlloc_v2?
    let cuMemFree: PFN_cuMemFree_v2?
    let cuMemAllocHost: PFN_cuMemAllocHost_v2?
    let cuMemFreeHost: PFN_cuMemFreeHost?
    let cuMemcpyHtoD: PFN_cuMemcpyHtoD_v2?
    let cuMemcpyDtoH: PFN_cuMemcpyDtoH_v2?
    let cuMemcpyDtoD: PFN_cuMemcpyDtoD_v2?
    let cuMemcpyHtoDAsync: PFN_cuMemcpyHtoDAsync_v2?
    let cuMemcpyDtoHAsync: PFN_cuMemcpyDtoHAsync_v2?
    let cuMemcpyDtoDAsync: PFN_cuMemcpyDtoDAsync_v2?
    let cuMemsetD8: PFN_cuMemsetD8_v2?
    let cuMemsetD8Async: PFN_cuMemsetD8Async?
    let cuMemsetD16: PFN_cuMemsetD16_v2?
    let cuMemsetD16Async: PFN_cuMemsetD16Async?
    let cuMemsetD32: PFN_cuMemsetD32_v2?
    let cuMemsetD32Async: PFN_cuMemsetD32Async?
    let cuStreamCreate: PFN_cuStreamCreate?
    let cuStreamDestroy: PFN_cuStreamDestroy_v2?
    let cuStreamSynchronize: PFN_cuStreamSynchronize?
    let cuStreamQuery: PFN_cuStreamQuery?
    let cuStreamWaitEvent: PFN_cuStreamWaitEvent?
    let cuEventCreate: PFN_cuEventCreate?
    let cuEventDestroy: PFN_cuEventDestroy_v2?
    let cuEventRecord: PFN_cuEventRecord?
    let cuEventSynchronize: PFN_cuEventSynchronize?
    let cuEventQuery: PFN_cuEventQuery?
    let cuEventElapsedTime: PFN_cuEventElapsedTime?
    let cuModuleLoadData: PFN_cuModuleLoadData?
    let cuModuleUnload: PFN_cuModuleUnload?
    let cuModuleGetFunction: PFN_cuModuleGetFunction?
    let cuFuncSetAttribute: PFN_cuFuncSetAttribute?
    let cuFuncGetAttribute: PFN_cuFuncGetAttribute?
    let cuLaunchKernel: PFN_cuLaunchKernel?
    /// Symbols this library lacks.
    let missing: [String]

    init(_ library: DynamicLibrary) {
        var resolve = SymbolResolver(library)
        cuInit = resolve("cuInit")
        cuDriverGetVersion = resolve("cuDriverGetVersion")
        cuGetErrorName = resolve("cuGetErrorName")
        cuGetErrorString = resolve("cuGetErrorString")
        cuDeviceGetCount = resolve("cuDeviceGetCount")
        cuDeviceGet = resolve("cuDeviceGet")
        cuDeviceGetName = resolve("cuDeviceGetName")
        cuDeviceGetAttribute = resolve("cuDeviceGetAttribute")
        cuDeviceTotalMem = resolve("cuDeviceTotalMem_v2")
        cuDevicePrimaryCtxRetain = resolve("cuDevicePrimaryCtxRetain")
        cuDevicePrimaryCtxRelease = resolve("cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease")
        cuCtxSetCurrent = resolve("cuCtxSetCurrent")
        cuCtxGetCurrent = resolve("cuCtxGetCurrent")
        cuCtxSynchronize = resolve("cuCtxSynchronize")
        cuMemGetInfo = resolve("cuMemGetInfo_v2")
        cuMemAlloc = resolve("cuMemAlloc_v2")
        cuMemFree = resolve("cuMemFree_v2")
        cuMemAllocHost = resolve("cuMemAllocHost_v2")
        cuMemFreeHost = resolve("cuMemFreeHost")
        cuMemcpyHtoD = resolve("cuMemcpyHtoD_v2")
        cuMemcpyDtoH = resolve("cuMemcpyDtoH_v2")
        cuMemcpyDtoD = resolve("cuMemcpyDtoD_v2")
        cuMemcpyHtoDAsync = resolve("cuMemcpyHtoDAsync_v2")
        cuMemcpyDtoHAsync = resolve("cuMemcpyDtoHAsync_v2")
        cuMemcpyDtoDAsync = resolve("cuMemcpyDtoDAsync_v2")
        cuMemsetD8 = resolve("cuMemsetD8_v2")
        cuMemsetD8Async = resolve("cuMemsetD8Async")
        cuMemsetD16 = resolve("cuMemsetD16_v2")
        cuMemsetD16Async = resolve("cuMemsetD16Async")
        cuMemsetD32 = resolve("cuMemsetD32_v2")
        cuMemsetD32Async = resolve("cuMemsetD32Async")
        cuStreamCreate = resolve("cuStreamCreate")
        cuStreamDestroy = resolve("cuStreamDestroy_v2")
        cuStreamSynchronize = resolve("cuStreamSynchronize")
        cuStreamQuery = resolve("cuStreamQuery")
        cuStreamWaitEvent = resolve("cuStreamWaitEvent")
        cuEventCreate = resolve("cuEventCreate")
        cuEventDestroy = resolve("cuEventDestroy_v2")
        cuEventRecord = resolve("cuEventRecord")
        cuEventSynchronize = resolve("cuEventSynchronize")
        cuEventQuery = resolve("cuEventQuery")
        // CUDA 13 headers map cuEventElapsedTime to _v2 (12.8+); older drivers have only v1.
        cuEventElapsedTime = resolve("cuEventElapsedTime_v2", "cuEventElapsedTime")
        cuModuleLoadData = resolve("cuModuleLoadData")
        cuModuleUnload = resolve("cuModuleUnload")
        cuModuleGetFunction = resolve("cuModuleGetFunction")
        cuFuncSetAttribute = resolve("cuFuncSetAttribute")
        cuFuncGetAttribute = resolve("cuFuncGetAttribute")
        cuLaunchKernel = resolve("cuLaunchKernel")
        missing = resolve.missing
    }
}
