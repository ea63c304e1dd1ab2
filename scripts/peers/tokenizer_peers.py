"""Single-thread encoding throughput of tiktoken and HF `tokenizers` with GPT-2's files on a jsonl
corpus, the peers of `megatron bench-tokenizer` (run both on the same machine, one after the other).
Usage: python3 scripts/peers/tokenizer_peers.py ../shared/data  (needs tiktoken and tokenizers)."""
import base64, json, os, sys, time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
import tiktoken
from tokenizers import Tokenizer, models, pre_tokenizers, decoders

data = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
texts = [json.loads(l)["text"] for l in open(f"{data}/corpora/shakespeare.jsonl", encoding="utf-8") if l.strip()]
mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6

ranks = {}
for line in open(f"{data}/tokenizers/gpt2/gpt2.tiktoken", "rb"):
    token, rank = line.split()
    ranks[base64.b64decode(token)] = int(rank)
tt = tiktoken.Encoding("gpt2", pat_str=r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
                       mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 50256})
hf = Tokenizer(models.BPE.from_file(f"{data}/tokenizers/gpt2/vocab.json", f"{data}/tokenizers/gpt2/merges.txt"))
hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
hf.decoder = decoders.ByteLevel()

def best(encode, runs=3):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for t in texts:
            encode(t)
        times.append(time.perf_counter() - t0)
    return min(times), times[0]

for name, fn in [("tiktoken", tt.encode_ordinary), ("HF tokenizers", lambda t: hf.encode(t, add_special_tokens=False).ids)]:
    b, first = best(fn)
    print(f"{name}: first {mb / first:.1f} MB/s, best of 3 {mb / b:.1f} MB/s (one thread, {mb:.2f} MB)")
