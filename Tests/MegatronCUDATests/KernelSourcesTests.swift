@testable import MegatronCUDA
import Testing

/// Every CUDA C kernel group must compile with NVRTC, so a kernel that does not compile fails CI
/// even without a GPU (`.ci/run` installs NVRTC from PyPI's nvidia-cuda-nvrtc wheel).
@Suite("Kernel sources compile", .enabled(if: CUDATestSupport.hasNVRTC, "NVRTC not found: pip install nvidia-cuda-nvrtc nvidia-cuda-runtime"))
struct KernelSourcesTests {
    /// Ampere (the oldest with the tensor-core attention kernels) and Hopper.
    static let architectures = [GPUArchitecture(major: 8, minor: 0), GPUArchitecture(major: 9, minor: 0)]

    @Test(arguments: KernelSources.all.map(\.name), architectures)
    func compiles(group: String, architecture: GPUArchitecture) throws {
        let source = try #require(KernelSources.all.first { $0.name == group }?.source)
        let compiler = KernelCompiler(nvrtc: try #require(CUDATestSupport.nvrtc), cache: nil)
        let kernel = try compiler.compile(source: source, name: group, architecture: architecture)
        #expect(kernel.format == .cubin && kernel.image.count > 1000)
    }

    /// Every function the backend can launch exists in its group's PTX (so a name built by the
    /// Swift launch code for some dtype, e.g. `gelu_forward_f16`, is never missing at run time).
    @Test(arguments: KernelSources.all.map(\.name))
    func launchedFunctionsExist(group: String) throws {
        let source = try #require(KernelSources.all.first { $0.name == group }?.source)
        let nvrtc = try #require(CUDATestSupport.nvrtc)
        let options = ["--gpu-architecture=compute_80", "-std=c++17", "-default-device"]
            + nvrtc.includeDirectories.map { "-I\($0)" }
        let output = try nvrtc.compile(source: source, name: group, options: options, wantCUBIN: false)
        let ptx = String(decoding: output.image.prefix { $0 != 0 }, as: UTF8.self)
        let expected = try #require(Self.launched[group], "no expected functions listed for group \(group)")
        for function in expected {
            #expect(ptx.contains(".entry \(function)("), "\(group) has no entry point \(function)")
        }
    }

    /// Attention with segment ids launches from its own group; the plain launches are unchanged.
    @Test func segmentLaunchesUseTheirGroup() {
        for element in FlashAttentionKernels.Element.allCases {
            for d in [8, 64, 128] {
                let plain = FlashAttentionKernels.forward(element, s: 300, b: 2, nq: 4, ng: 2, d: d, dropout: 0)
                let masked = FlashAttentionKernels.forward(element, s: 300, b: 2, nq: 4, ng: 2, d: d, dropout: 0, segments: true)
                #expect(plain.group == "flash_attention" && masked.group == "flash_attention_segments")
                #expect(masked.function == plain.function + "_segments" && masked.sharedBytes > plain.sharedBytes)
                #expect(masked.gridX == plain.gridX && masked.gridY == plain.gridY && masked.block == plain.block)
                let back = FlashAttentionKernels.backward(element, s: 300, b: 2, nq: 4, ng: 2, d: d, dropout: 0.1, segments: true)
                #expect(back.group == "flash_attention_segments" && back.function.hasSuffix("_segments"))
            }
        }
    }

    /// The functions `CUDABackend` launches (names as its op files build them), by group.
    static let launched: [String: [String]] = {
        let types = ["f32", "bf16", "f16"]
        func each(_ stems: String...) -> [String] { stems.flatMap { stem in types.map { stem + $0 } } }
        let conversions = types.flatMap { s in types.filter { $0 != s }.map { "convert_\(s)_to_\($0)" } }
        var attention: Set<String> = [], segments: Set<String> = []
        for element in FlashAttentionKernels.Element.allCases {
            for d in [8, 64, 80, 128, 256] {
                for dropout: Float in [0, 0.1] {
                    attention.insert(FlashAttentionKernels.forward(element, s: 7, b: 1, nq: 2, ng: 1, d: d, dropout: dropout).function)
                    attention.insert(FlashAttentionKernels.backward(element, s: 7, b: 1, nq: 2, ng: 1, d: d, dropout: dropout).function)
                    let fwd = FlashAttentionKernels.forward(element, s: 7, b: 1, nq: 2, ng: 1, d: d, dropout: dropout, segments: true)
                    let bwd = FlashAttentionKernels.backward(element, s: 7, b: 1, nq: 2, ng: 1, d: d, dropout: dropout, segments: true)
                    segments.insert(fwd.function)
                    segments.insert(bwd.function)
                }
            }
            attention.insert(FlashAttentionKernels.backwardPreprocess(element, s: 7, b: 1, nq: 2, d: 64).function)
            attention.insert(FlashAttentionKernels.convertDQ(element, count: 7).function)
        }
        return [
            "elementwise": each("fill_", "add_", "axpy_", "scale_", "sum_of_squares_partial_", "dropout_") + conversions
                + ["fill_i32", "axpy_bf16_f32", "axpy_f16_f32", "sum_of_squares_finalize"],
            "linear": each("add_bias_", "bias_backward_partial_") + ["bias_backward_finalize"],
            "embedding": each("embedding_forward_", "embedding_backward_"),
            "normalization": each("layernorm_forward_", "layernorm_backward_", "layernorm_backward_weight_partial_",
                                  "rmsnorm_forward_", "rmsnorm_backward_", "rmsnorm_backward_weight_partial_")
                + ["norm_weight_grad_finalize"],
            "activation": each("gelu_forward_", "gelu_backward_", "swiglu_forward_", "swiglu_backward_"),
            "attention_layout": each("split_qkv_", "merge_qkv_", "rope_"),
            "loss": each("cross_entropy_forward_", "cross_entropy_backward_", "cross_entropy_fused_",
                         "cross_entropy_partials_", "cross_entropy_shard_backward_") + ["cross_entropy_combine"],
            "optimizer": ["adamw_f32"],
            "flash_attention": attention.sorted(),
            "flash_attention_segments": segments.sorted(),
        ]
    }()
}
