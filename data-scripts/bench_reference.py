"""Side-by-side reference timings in PyTorch (and Opacus) for `rgp bench compare` (run in a venv outside the repository:
`python3 -m venv ../torch-venv && ../torch-venv/bin/pip install torch transformers opacus`).

Times, per shape (MiniLM-L6 or BERT-base, random weights) at batch B × length T, the median of `--repetitions` steps
after one warm-up:
  forward       eval-mode encoder + [CLS] head, no autograd;
  full          non-private step: forward, cross-entropy, backward, Adam on every parameter;
  rgp           RGP rank-r step, a plain PyTorch port of the suite's algorithm: carriers L, R by power iteration on
                each encoder weight, per-example carrier gradients from layer inputs and output gradients (hooks, the
                encoder weights themselves get no gradient), joint clipping with the head, Gaussian noise, ΔW =
                (∂L − L·Lᵀ·∂L)·R + L·∂R, Adam;
  dpsgd         Opacus ghost clipping ("ghost" grad-sample mode) on every parameter but the embeddings.
and the sgemm peak of the same run ((4096×768)·(768×3072)). Prints one JSON object.

`--check` verifies the RGP port's per-example carrier gradients against autograd on explicit carriers in a
batch-size-1 loop, on a tiny model, and exits.
"""
import argparse
import json
import math
import platform
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import BertConfig, BertModel

SHAPES = {
    "minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
}


class Classifier(nn.Module):
    """The suite's default head: [CLS] of the last layer → dropout → linear."""

    def __init__(self, shape):
        super().__init__()
        config = BertConfig(vocab_size=30522, max_position_embeddings=512, attn_implementation="eager", **SHAPES[shape])
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.head = nn.Linear(config.hidden_size, 2)

    def forward(self, ids, mask):
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.head(self.dropout(hidden[:, 0]))


def encoder_linears(model):
    """Every reparametrized matrix: Q, K, V, attention output, intermediate, output of every layer."""
    out = []
    for layer in model.bert.encoder.layer:
        a = layer.attention
        out += [a.self.query, a.self.key, a.self.value, a.output.dense, layer.intermediate.dense, layer.output.dense]
    return out


def median_seconds(step, repetitions):
    step()
    samples = []
    for _ in range(repetitions):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


class RGPStep:
    """One RGP step on `model` (rank r carriers, clip C, noise σ, Adam at lr)."""

    def __init__(self, model, rank=1, clip=1.0, sigma=1.0, lr=1e-4, head_scale=0.1):
        self.model, self.rank, self.clip, self.sigma, self.lr, self.head_scale = model, rank, clip, sigma, lr, head_scale
        self.linears = encoder_linears(model)
        for p in model.parameters():
            p.requires_grad_(False)
        self.head_params = [model.head.weight, model.head.bias]
        for p in self.head_params:
            p.requires_grad_(True)
        # The input ids carry no gradient: ask for the embeddings' output gradient so hooks fire down to layer 0.
        model.bert.embeddings.register_forward_hook(lambda m, i, o: o.requires_grad_(True))
        self.inputs, self.deltas = {}, {}
        for index, linear in enumerate(self.linears):
            linear.register_forward_hook(lambda m, i, o, k=index: self.inputs.__setitem__(k, i[0].detach()))
            linear.register_full_backward_hook(lambda m, gi, go, k=index: self.deltas.__setitem__(k, go[0].detach()))
        self.weights = [l.weight for l in self.linears]
        self.optimizer = torch.optim.Adam(self.weights + self.head_params, lr=lr)

    @torch.no_grad()
    def carriers(self):
        out = []
        for w in self.weights:
            p, d = w.shape
            left = w @ torch.randn(d, self.rank)
            left = torch.linalg.qr(left).Q
            right = torch.linalg.qr(w.t() @ left).Q.t()  # [r, d]
            out.append((left, right))
        return out

    def per_example(self, carriers):
        """[B, D] per-example carrier gradients, group after group: ∂L_i = δ_iᵀ·(x_i·Rᵀ), ∂R_i = (δ_i·L)ᵀ·x_i."""
        blocks = []
        for k, (left, right) in enumerate(carriers):
            x, delta = self.inputs[k], self.deltas[k]  # [B, T, d], [B, T, p]
            grad_left = torch.einsum("btp,btr->bpr", delta, x @ right.t())
            grad_right = torch.einsum("btr,btd->brd", delta @ left, x)
            blocks += [grad_left.flatten(1), grad_right.flatten(1)]
        return torch.cat(blocks, dim=1)

    def __call__(self, ids, mask, labels):
        carriers = self.carriers()
        self.inputs.clear(), self.deltas.clear()
        features = self.model.bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
        features = self.model.dropout(features)
        logits = self.model.head(features)
        loss = F.cross_entropy(logits, labels, reduction="sum")
        loss.backward()
        with torch.no_grad():
            b = ids.shape[0]
            dlogits = torch.softmax(logits, dim=1) - F.one_hot(labels, 2).float()
            head = torch.cat([(dlogits[:, :, None] * features[:, None, :]).flatten(1), dlogits], dim=1) / self.head_scale
            flat = torch.cat([self.per_example(carriers), head], dim=1)
            factors = (self.clip / (flat.norm(dim=1) + 1e-6)).clamp(max=1.0)
            summed = factors @ flat
            summed += self.sigma * self.clip * torch.randn_like(summed)
            summed /= b
            offset = 0
            for (left, right), w in zip(carriers, self.weights):
                p, d = w.shape
                grad_left = summed[offset:offset + p * self.rank].view(p, self.rank)
                offset += p * self.rank
                grad_right = summed[offset:offset + self.rank * d].view(self.rank, d)
                offset += self.rank * d
                w.grad = (grad_left - left @ (left.t() @ grad_left)) @ right + left @ grad_right
            h = self.model.head
            head_grad = summed[offset:] * self.head_scale
            h.weight.grad = head_grad[:h.weight.numel()].view_as(h.weight)
            h.bias.grad = head_grad[h.weight.numel():]
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def full_step(model):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(ids, mask, labels):
        loss = F.cross_entropy(model(ids, mask), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def dpsgd_step(model, batch, clip=1.0, sigma=1.0):
    from opacus import PrivacyEngine
    model.bert.embeddings.requires_grad_(False)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    data = torch.utils.data.TensorDataset(torch.zeros(batch, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=batch)
    engine = PrivacyEngine()
    criterion = nn.CrossEntropyLoss()
    private, optimizer, criterion, _ = engine.make_private(
        module=model, optimizer=optimizer, data_loader=loader, criterion=criterion, noise_multiplier=sigma,
        max_grad_norm=clip, grad_sample_mode="ghost", poisson_sampling=False)

    def step(ids, mask, labels):
        loss = criterion(private(ids, mask), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return step


def sgemm_peak():
    a, b = torch.randn(4096, 768), torch.randn(768, 3072)
    seconds = median_seconds(lambda: torch.mm(a, b), 5)
    return 2 * 4096 * 768 * 3072 / seconds / 1e9


def check():
    """Per-example carrier gradients of the port equal autograd on explicit carriers, one example at a time."""
    torch.manual_seed(0)
    model = Classifier("tiny").eval()
    ids = torch.randint(100, 30000, (3, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    labels = torch.tensor([0, 1, 1])
    rgp = RGPStep(model, rank=2)
    carriers = rgp.carriers()
    logits = model(ids, mask)
    F.cross_entropy(logits, labels, reduction="sum").backward()
    ported = rgp.per_example(carriers)
    worst = 0.0
    for i in range(3):
        explicit = []
        for linear, (left, right) in zip(rgp.linears, carriers):
            l_param = left.clone().requires_grad_(True)
            r_param = right.clone().requires_grad_(True)
            rest = (linear.weight - left @ right).detach()
            linear.forward = (lambda x, m=linear, lp=l_param, rp=r_param, w=rest: F.linear(x, lp @ rp + w, m.bias))
            explicit.append((l_param, r_param))
        loss = F.cross_entropy(model(ids[i:i + 1], mask[i:i + 1]), labels[i:i + 1], reduction="sum")
        grads = torch.autograd.grad(loss, [t for pair in explicit for t in pair])
        reference = torch.cat([g.flatten() for g in grads])
        worst = max(worst, ((ported[i] - reference).abs().max() / reference.abs().max()).item())
        for linear in rgp.linears:
            del linear.forward
    print(json.dumps({"check": "rgp per-example carrier gradients vs batch-size-1 autograd", "max_relative_error": worst}))
    if worst > 1e-4:
        raise SystemExit("the RGP port disagrees with autograd")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", action="append", choices=["minilm", "bert-base"])
    parser.add_argument("--method", action="append", choices=["forward", "full", "rgp", "dpsgd"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        return check()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), platform.processor())
    report = {"cpu": cpu, "torch": torch.__version__, "threads": args.threads, "blas": torch.backends.cpu.get_cpu_capability(),
              "mkl": torch.backends.mkl.is_available(), "batch": args.batch, "length": args.length,
              "sgemm_peak_gflops": sgemm_peak(), "results": []}
    torch.manual_seed(0)
    ids = torch.randint(100, 30000, (args.batch, args.length))
    mask = torch.ones_like(ids)
    labels = torch.arange(args.batch) % 2
    for shape in args.shape or ["minilm", "bert-base"]:
        for method in args.method or ["forward", "full", "rgp", "dpsgd"]:
            model = Classifier(shape)
            if method == "forward":
                model.eval()
                with torch.no_grad():
                    seconds = median_seconds(lambda: model(ids, mask), args.repetitions)
            else:
                model.train()
                step = {"full": full_step, "rgp": lambda m: RGPStep(m), "dpsgd": lambda m: dpsgd_step(m, args.batch)}[method](model)
                seconds = median_seconds(lambda: step(ids, mask, labels), args.repetitions)
            report["results"].append({"shape": shape, "method": method, "seconds": seconds,
                                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024})
            print(f"  {shape} {method}: {seconds:.3f} s", flush=True, file=__import__("sys").stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
