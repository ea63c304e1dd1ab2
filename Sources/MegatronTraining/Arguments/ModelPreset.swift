/// Named model and batch settings for `--model NAME`, written as the YAML a `--config` file
/// would hold, so they apply through the same path and flags override them.
///
///     megatron bench --model gpt2-124m --device cuda
public enum ModelPreset: String, Sendable, CaseIterable {
    /// A 4-layer GPT-2-style model that trains in seconds on a laptop CPU: the README's demo.
    case tiny
    /// GPT-2 small, 124M parameters, sequence 1024 (the GPU benchmark).
    case gpt2_124m = "gpt2-124m"
    /// The CPU benchmark against ../shared/bench/torch_gpt_cpu.py: 6 layers, hidden 384, seq 256.
    case gpt2CPU = "gpt2-cpu"
    /// A Llama-style 2-layer model with GQA, for quick checks of the Llama path.
    case llamaTiny = "llama-tiny"
    /// A Llama-style 1B model: 16 layers, hidden 2048, 32 heads in 8 groups, SwiGLU 5632, seq 2048.
    case llama1B = "llama-1b"

    public var yaml: String {
        switch self {
        case .tiny:
            """
            num-layers: 4
            hidden-size: 128
            num-attention-heads: 4
            seq-length: 128
            max-position-embeddings: 128
            vocab-size: 50257
            openai-gelu: true
            micro-batch-size: 4
            global-batch-size: 8
            train-iters: 100
            lr: 1.0e-3
            min-lr: 1.0e-4
            lr-decay-style: cosine
            lr-warmup-iters: 10
            weight-decay: 0.1
            log-interval: 10
            eval-interval: 50
            eval-iters: 5
            """
        case .gpt2_124m:
            """
            num-layers: 12
            hidden-size: 768
            num-attention-heads: 12
            seq-length: 1024
            max-position-embeddings: 1024
            vocab-size: 50257
            openai-gelu: true
            hidden-dropout: 0.0
            attention-dropout: 0.0
            micro-batch-size: 16
            global-batch-size: 64
            lr: 6.0e-4
            min-lr: 6.0e-5
            lr-decay-style: cosine
            lr-warmup-iters: 700
            weight-decay: 0.1
            """
        case .gpt2CPU:
            """
            num-layers: 6
            hidden-size: 384
            num-attention-heads: 6
            seq-length: 256
            max-position-embeddings: 256
            vocab-size: 50304
            openai-gelu: true
            hidden-dropout: 0.0
            attention-dropout: 0.0
            micro-batch-size: 8
            global-batch-size: 8
            lr: 3.0e-4
            weight-decay: 0.1
            """
        case .llamaTiny:
            """
            num-layers: 2
            hidden-size: 64
            num-attention-heads: 4
            group-query-attention: true
            num-query-groups: 2
            ffn-hidden-size: 176
            seq-length: 64
            vocab-size: 32000
            normalization: RMSNorm
            swiglu: true
            position-embedding-type: rope
            untie-embeddings-and-output-weights: true
            disable-bias-linear: true
            hidden-dropout: 0.0
            attention-dropout: 0.0
            micro-batch-size: 4
            global-batch-size: 8
            train-iters: 50
            lr: 1.0e-3
            log-interval: 10
            """
        case .llama1B:
            """
            num-layers: 16
            hidden-size: 2048
            num-attention-heads: 32
            group-query-attention: true
            num-query-groups: 8
            ffn-hidden-size: 5632
            seq-length: 2048
            vocab-size: 32000
            normalization: RMSNorm
            swiglu: true
            position-embedding-type: rope
            untie-embeddings-and-output-weights: true
            disable-bias-linear: true
            hidden-dropout: 0.0
            attention-dropout: 0.0
            micro-batch-size: 4
            global-batch-size: 32
            lr: 3.0e-4
            min-lr: 3.0e-5
            lr-decay-style: cosine
            """
        }
    }
}
