import Foundation

/// What this machine offers MegatronCUDA: each library (where it was found and its version, or
/// every folder searched and why it failed), the driver, the GPUs and the kernel cache. Used by
/// `megatron doctor`; never throws, since reporting what is missing is the point.
///
///     print(CUDADoctor.report())
public enum CUDADoctor {
    /// The report for this process (libraries found with the process environment).
    public static func report() -> String {
        report(reports: CUDALibrary.allCases.map { CUDALibraries.report(for: $0) },
               environment: ProcessInfo.processInfo.environment)
    }

    /// The report for libraries looked up with `search` (tests use a search that finds nothing).
    public static func report(search: LibrarySearch) -> String {
        report(reports: CUDALibrary.allCases.map { search.load($0) }, environment: search.environment)
    }

    static func report(reports: [LibraryLoadReport], environment: [String: String]) -> String {
        var lines = ["swift-megatron CUDA doctor", "", "libraries:"]
        var driver: CUDADriver?, driverError: CUDAError?
        for report in reports {
            let label = report.library.displayName.padding(toLength: 12, withPad: " ", startingAt: 0)
            let sonames = report.library.sonames.joined(separator: " / ")
            guard let loaded = report.loaded else {
                lines.append("  \(label) \(sonames): NOT FOUND")
                lines.append("      searched: " + report.searched.map(\.description).joined(separator: ", "))
                for failure in report.failures { lines.append("      failed: \(failure.candidate): \(failure.message)") }
                lines.append("      fix: \(report.library.installHint), or set MEGATRON_CUDA_LIBRARY_PATH")
                if report.library == .driver {
                    driverError = report.notFoundError
                }
                continue
            }
            var detail = ""
            var missing: [String] = []
            switch report.library {
            case .driver:
                do throws(CUDAError) {
                    let loadedDriver = try CUDADriver(library: loaded)
                    driver = loadedDriver
                    detail = "CUDA \(CUDAError.versionString(loadedDriver.version)) driver API"
                    missing = loadedDriver.missingSymbols
                } catch {
                    driverError = error
                    detail = "unusable: \(error)"
                }
            case .nvrtc:
                do throws(CUDAError) {
                    let nvrtc = try NVRTC(library: loaded)
                    let archs = nvrtc.supportedArchitectures.map { "sm_\($0)" }.joined(separator: " ")
                    detail = "NVRTC \(nvrtc.version); targets \(archs.isEmpty ? "unknown" : archs)"
                    if !nvrtc.includeDirectories.isEmpty {
                        detail += "; headers \(nvrtc.includeDirectories.joined(separator: ", "))"
                    }
                    missing = nvrtc.missingSymbols
                } catch { detail = "unusable: \(error)" }
            case .cublasLt:
                do throws(CUDAError) {
                    let lt = try CUBLASLtLibrary(library: loaded)
                    detail = "cuBLASLt \(lt.versionString)"
                    missing = lt.missingSymbols
                } catch { detail = "unusable: \(error)" }
            case .nccl:
                do throws(CUDAError) {
                    let nccl = try NCCLLibrary(library: loaded)
                    detail = "NCCL \(nccl.versionString)"
                    missing = nccl.missingSymbols
                } catch { detail = "unusable: \(error)" }
            }
            lines.append("  \(label) \(report.soname ?? sonames): \(loaded.path)")
            lines.append("      \(detail)")
            if !missing.isEmpty { lines.append("      missing symbols (fail only when used): \(missing.joined(separator: ", "))") }
        }

        lines.append("")
        if let driver {
            lines.append("driver: CUDA \(CUDAError.versionString(driver.version)) (cuDriverGetVersion \(driver.version))")
            do throws(CUDAError) {
                let devices = try CUDADevice.all(driver: driver)
                lines.append("devices: \(devices.count)")
                for device in devices {
                    var line = "  \(device)"
                    if let context = try? CUDAContext.primary(device: device.ordinal), let memory = try? context.memoryInfo() {
                        line += ", \(gib(memory.free)) of \(gib(memory.total)) GiB free"
                    }
                    lines.append(line)
                }
            } catch {
                lines.append("devices: none (\(error))")
            }
        } else {
            lines.append("driver: not available" + (driverError.map { " (\($0.description.split(separator: "\n").first ?? ""))" } ?? ""))
            lines.append("devices: none; `--device cpu` runs everything on the CPU")
        }

        lines.append("")
        if let cache = KernelCache.fromEnvironment(environment) {
            lines.append("kernel cache: \(cache.directory)")
        } else {
            lines.append("kernel cache: off (MEGATRON_KERNEL_CACHE)")
        }
        if let path = environment["MEGATRON_CUDA_LIBRARY_PATH"], !path.isEmpty {
            lines.append("MEGATRON_CUDA_LIBRARY_PATH: \(path)")
        }
        return lines.joined(separator: "\n")
    }

    private static func gib(_ bytes: Int) -> String {
        String((Double(bytes) / Double(1 << 30) * 10).rounded() / 10)
    }
}
