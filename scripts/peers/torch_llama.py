"""Peer benchmark for `megatron bench --model llama-1b`: a plain PyTorch Llama (RMSNorm, RoPE,
grouped-query SDPA flash attention, SwiGLU, untied output layer, no biases) with torch.compile,
bf16 autocast and fused AdamW, on synthetic tokens — the same shapes and batch as our preset.
Env: LAYERS HIDDEN HEADS GROUPS FFN SEQ VOCAB MBS NMB STEPS COMPILE. Prints one TORCH line."""
import os, time, torch, torch.nn as nn, torch.nn.functional as F
E = lambda k, d: int(os.environ.get(k, d))
L, H, NH, G, FF, S, V = E("LAYERS", 16), E("HIDDEN", 2048), E("HEADS", 32), E("GROUPS", 8), E("FFN", 5632), E("SEQ", 2048), E("VOCAB", 32000)
MBS, NMB, STEPS, COMPILE = E("MBS", 4), E("NMB", 8), E("STEPS", 10), E("COMPILE", 1)
D = H // NH
torch.backends.cuda.matmul.allow_tf32 = True
inv = 1.0 / (10000 ** (torch.arange(0, D, 2, device="cuda").float() / D))
ang = torch.outer(torch.arange(S, device="cuda").float(), inv)
COS, SIN = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
def rope(x):  # [B, heads, S, D], non-interleaved halves as Megatron
    x1, x2 = x[..., : D // 2], x[..., D // 2 :]
    return x * COS + torch.cat([-x2, x1], -1) * SIN
class Block(nn.Module):
    def __init__(s):
        super().__init__(); s.n1, s.n2 = nn.RMSNorm(H, eps=1e-5), nn.RMSNorm(H, eps=1e-5)
        s.qkv = nn.Linear(H, (NH + 2 * G) * D, bias=False); s.proj = nn.Linear(H, H, bias=False)
        s.fc1 = nn.Linear(H, 2 * FF, bias=False); s.fc2 = nn.Linear(FF, H, bias=False)
    def forward(s, x):
        B, T, _ = x.shape
        q, k, v = s.qkv(s.n1(x)).split([NH * D, G * D, G * D], -1)
        q, k, v = (t.view(B, T, -1, D).transpose(1, 2) for t in (q, k, v))
        a = F.scaled_dot_product_attention(rope(q), rope(k), v, is_causal=True, enable_gqa=True)
        x = x + s.proj(a.transpose(1, 2).reshape(B, T, H))
        gate, up = s.fc1(s.n2(x)).chunk(2, -1)
        return x + s.fc2(F.silu(gate) * up)
class Llama(nn.Module):
    def __init__(s):
        super().__init__(); s.emb = nn.Embedding(V, H); s.blocks = nn.ModuleList(Block() for _ in range(L))
        s.norm = nn.RMSNorm(H, eps=1e-5); s.out = nn.Linear(H, V, bias=False)
    def forward(s, idx, tgt):
        x = s.emb(idx)
        for b in s.blocks: x = b(x)
        return F.cross_entropy(s.out(s.norm(x)).float().view(-1, V), tgt.reshape(-1))
m = Llama().cuda()
opt = torch.optim.AdamW(m.parameters(), lr=3e-4, weight_decay=0.1, fused=True)
cm = torch.compile(m) if COMPILE else m
tokens = torch.randint(0, V, (MBS, S + 1), device="cuda", generator=torch.Generator(device="cuda").manual_seed(0))
def step():
    opt.zero_grad(set_to_none=True)
    for _ in range(NMB):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = cm(tokens[:, :-1], tokens[:, 1:]) / NMB
        loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); return loss
for _ in range(3): step()
torch.cuda.synchronize(); t0 = time.time()
for _ in range(STEPS): loss = step()
torch.cuda.synchronize(); dt = (time.time() - t0) / STEPS
tok = MBS * NMB * S
print(f"TORCH-LLAMA compile={COMPILE} layers={L} hidden={H} heads={NH}/{G} ffn={FF} seq={S} mbs={MBS} nmb={NMB} "
      f"params={sum(p.numel() for p in m.parameters())/1e6:.1f}M step={dt*1e3:.1f}ms tokens/s={tok/dt:.0f} "
      f"loss={loss.item()*NMB:.3f} maxmem={torch.cuda.max_memory_allocated()/2**30:.1f}GiB", flush=True)
