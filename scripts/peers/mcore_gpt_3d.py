"""megatron-core's throughput on a GPT under tensor, pipeline and data parallelism: the peer of
`megatron bench` for issue 8's scale runs. PyPI megatron-core (0.16.1 was measured), local layer
spec, no Transformer Engine, synthetic tokens, bf16, distributed optimizer; training-loop wiring
as Megatron-LM's training.py does it (no_sync, grad_sync and finalize_model_grads on the config,
so data-parallel gradient reduction overlaps the pipeline's cool-down).

Launch with torchrun, one process per GPU; the world size is TP · PP · DP.
Env: LAYERS HIDDEN HEADS SEQ MBS GBS TP PP SP (0/1) RECOMPUTE (none/selective) STEPS WARMUP.
Prints one `MCORE …` line on rank 0 with tokens/s per GPU, TFLOP/s per GPU (swift-megatron's
ThroughputModel formula: causal attention, ffn 4h, padded vocabulary) and every rank's peak memory."""
import os, time, torch
from megatron.core import parallel_state
from megatron.core.transformer.transformer_config import TransformerConfig
from megatron.core.models.gpt.gpt_model import GPTModel
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed
from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig, finalize_model_grads
from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer
from megatron.core.pipeline_parallel.schedules import get_forward_backward_func
from megatron.core.transformer.module import Float16Module

E = lambda k, d: int(os.environ.get(k) or d)
L, H, NH, S, MBS, GBS = E("LAYERS", 32), E("HIDDEN", 4096), E("HEADS", 32), E("SEQ", 4096), E("MBS", 1), E("GBS", 32)
TP, PP, SP, STEPS, WARMUP = E("TP", 2), E("PP", 2), E("SP", 0), E("STEPS", 3), E("WARMUP", 2)
RECOMPUTE = os.environ.get("RECOMPUTE", "selective")
V = 50304
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
torch.distributed.init_process_group("nccl")
parallel_state.initialize_model_parallel(TP, PP)
model_parallel_cuda_manual_seed(1234)
DP = world // (TP * PP)
assert GBS % (MBS * DP) == 0, f"GBS={GBS} is not a multiple of MBS·DP={MBS * DP}"
NMB = GBS // (MBS * DP)
cfg = TransformerConfig(num_layers=L, hidden_size=H, num_attention_heads=NH, ffn_hidden_size=4 * H,
    bf16=True, params_dtype=torch.bfloat16, pipeline_dtype=torch.bfloat16, hidden_dropout=0.0, attention_dropout=0.0,
    masked_softmax_fusion=False, bias_activation_fusion=False, bias_dropout_fusion=False,
    gradient_accumulation_fusion=False, persist_layer_norm=False, apply_rope_fusion=False,
    tensor_model_parallel_size=TP, pipeline_model_parallel_size=PP, sequence_parallel=bool(SP),
    recompute_granularity=None if RECOMPUTE == "none" else RECOMPUTE)
model = GPTModel(cfg, transformer_layer_spec=get_gpt_layer_local_spec(), vocab_size=V, max_sequence_length=S,
    pre_process=parallel_state.is_pipeline_first_stage(), post_process=parallel_state.is_pipeline_last_stage(),
    position_embedding_type="learned_absolute", share_embeddings_and_output_weights=True).cuda()
model = Float16Module(cfg, model)
model = DistributedDataParallel(cfg, DistributedDataParallelConfig(grad_reduce_in_fp32=True, overlap_grad_reduce=True,
    use_distributed_optimizer=True), model)
# Megatron-LM's training.py: reduce gradients once per iteration, overlapped with the last micro-batches.
cfg.no_sync_func = model.no_sync
cfg.grad_sync_func = model.start_grad_sync
cfg.finalize_model_grads_func = finalize_model_grads
opt = get_megatron_optimizer(OptimizerConfig(optimizer="adam", lr=3e-4, weight_decay=0.1, bf16=True,
    use_distributed_optimizer=True, clip_grad=1.0), [model])
local_params = sum(p.numel() for p in model.parameters())
g = torch.Generator(device="cuda").manual_seed(0)
tokens = torch.randint(0, V, (MBS, S + 1), device="cuda", generator=g)
pos = torch.arange(S, device="cuda").unsqueeze(0).expand(MBS, S)
mask = torch.triu(torch.ones(1, 1, S, S, dtype=torch.bool, device="cuda"), 1)

def fwd(it, m):
    out = m(tokens[:, :-1], pos, mask, labels=tokens[:, 1:])
    return out, lambda o: (o.float().mean(), {"lm loss": o.float().mean()})

fb = get_forward_backward_func()

def step():
    model.zero_grad_buffer(); opt.zero_grad()
    r = fb(forward_step_func=fwd, data_iterator=None, model=[model], num_microbatches=NMB, seq_length=S,
           micro_batch_size=MBS, decoder_seq_length=S, forward_only=False)
    opt.step()
    return r

for _ in range(WARMUP): step()
torch.cuda.synchronize(); torch.distributed.barrier(); t0 = time.time()
for _ in range(STEPS): r = step()
torch.cuda.synchronize(); dt = (time.time() - t0) / STEPS
tok = GBS * S
q = H
flops = tok * (L * (6 * H * 4 * H * 2 + 6 * H * (3 * q + q)) + 6 * H * V) + GBS * S * S * 6 * q * L
peaks = [None] * world
torch.distributed.all_gather_object(peaks, torch.cuda.max_memory_allocated() / 2**30)
if rank == world - 1:  # the last pipeline stage holds the loss
    loss = r[-1]["lm loss"].item() if r else float("nan")
    print(f"MCORE layers={L} hidden={H} seq={S} mbs={MBS} gbs={GBS} nmb={NMB} tp={TP} pp={PP} dp={DP} sp={SP} "
          f"recompute={RECOMPUTE} params/rank={local_params/1e6:.1f}M step={dt*1e3:.1f}ms tokens/s={tok/dt:.0f} "
          f"tokens/s/gpu={tok/dt/world:.0f} tflops/gpu={flops/dt/world/1e12:.1f} mfu={flops/dt/world/989e12*100:.1f}% "
          f"loss={loss:.4f} maxmem={max(peaks):.2f}GiB permem={','.join(f'{p:.1f}' for p in peaks)}", flush=True)
torch.distributed.destroy_process_group()
