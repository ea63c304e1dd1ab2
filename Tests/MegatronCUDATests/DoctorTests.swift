import Testing
@testable import MegatronCUDA

@Suite struct DoctorTests {
    @Test func reportMentionsEveryLibrary() {
        let report = CUDADoctor.report()
        for library in CUDALibrary.allCases {
            #expect(report.contains(library.displayName))
            #expect(report.contains(library.sonames[0]))
        }
        #expect(report.contains("driver:"))
        #expect(report.contains("devices:"))
    }

    @Test func reportWithNothingFoundListsTheSearchAndTheFix() {
        let report = CUDADoctor.report(search: CUDATestSupport.emptySearch())
        #expect(report.contains("NOT FOUND"))
        #expect(report.contains("driver: not available"))
        #expect(report.contains("--device cpu"))
    }

    @Test(.enabled(if: CUDATestSupport.hasNVRTC, "NVRTC not installed (pip install nvidia-cuda-nvrtc)"))
    func reportGivesTheNVRTCVersion() throws {
        let nvrtc = try #require(CUDATestSupport.nvrtc)
        #expect(CUDADoctor.report().contains("NVRTC \(nvrtc.version)"))
    }
}
