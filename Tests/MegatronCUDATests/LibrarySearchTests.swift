import Foundation
import Testing
@testable import MegatronCUDA

@Suite struct LibrarySearchTests {
    @Test func environmentFoldersComeFirstThenLoaderThenStandardFolders() {
        let folder = CUDATestSupport.temporaryDirectory("search")
        let search = LibrarySearch(environment: ["MEGATRON_CUDA_LIBRARY_PATH": "/nonexistent/a:\(folder)"])
        let locations = search.locations()
        #expect(locations.first == .folder(folder))  // a missing folder is left out
        #expect(locations.dropFirst().first == .loaderPath)
        if FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu") {
            #expect(locations.contains(.folder("/usr/lib/x86_64-linux-gnu")))
        }
    }

    @Test func pipWheelFoldersAreSearched() throws {
        // A fake prefix: $VIRTUAL_ENV/lib/python3.12/site-packages/nvidia/cu13/lib
        let root = CUDATestSupport.temporaryDirectory("venv")
        let lib = root + "/lib/python3.12/site-packages/nvidia/cu13/lib"
        try FileManager.default.createDirectory(atPath: lib, withIntermediateDirectories: true)
        let search = LibrarySearch(environment: ["VIRTUAL_ENV": root], homeDirectory: "/nonexistent", useLoaderPath: false)
        #expect(search.locations().contains(.folder(lib)))
    }

    @Test func missingLibraryReportsEverySearchedFolderAndSuggestsCPU() {
        let folder = CUDATestSupport.temporaryDirectory("empty")
        let report = CUDATestSupport.emptySearch(folders: [folder]).load(.driver)
        #expect(report.loaded == nil)
        #expect(report.searched == [.folder(folder)])
        let message = report.notFoundError.description
        #expect(message.contains("libcuda.so.1"))
        #expect(message.contains(folder))
        #expect(message.contains("--device cpu"))
    }

    @Test func aFileThatIsNotALibraryIsReportedAsALoadFailure() throws {
        let folder = CUDATestSupport.temporaryDirectory("bogus")
        try Data("not an ELF file".utf8).write(to: URL(fileURLWithPath: folder + "/libnvrtc.so.13"))
        let report = CUDATestSupport.emptySearch(folders: [folder]).load(.nvrtc)
        #expect(report.loaded == nil)
        #expect(report.failures.count == 1)
        #expect(report.failures.first?.candidate == folder + "/libnvrtc.so.13")
    }

    // NVRTC is found here through its pip wheel (nvidia/cu13/lib); CI installs
    // `nvidia-cuda-nvrtc`, so skip only where no NVRTC exists at all.
    @Test(.enabled(if: CUDATestSupport.hasNVRTC, "NVRTC not installed (pip install nvidia-cuda-nvrtc)"))
    func nvrtcIsFoundWithItsPath() throws {
        let report = CUDALibraries.report(for: .nvrtc)
        let library = try #require(report.loaded)
        #expect(library.path.contains("libnvrtc.so.1"))
        #expect(FileManager.default.fileExists(atPath: library.path))
    }
}
