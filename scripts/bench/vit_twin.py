#!/usr/bin/env python3
"""PyTorch twin of `tvp-run bench` (developer tooling; never needed to build, test or run tvp).

Builds the same ViT-B/32-shaped image tower as tvp's benchmark (CLIP's OpenAI layout: patch conv
without bias, class token, positional embedding, ln_pre, pre-norm blocks with quick-GELU MLPs,
ln_post on the class token, projection), random weights, no weight gradients, and times
  forward            (torch.no_grad)
  forward + input gradient  (weights frozen, image.requires_grad)
with the same batch, image size and thread count. Prints one JSON object on the last line.

    python scripts/bench/vit_twin.py --batch 16 --threads 2 --iterations 3
"""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F

from twin_timing import peak_rss_mib, timed


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(width)
        self.in_proj = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)
        self.ln_2 = nn.LayerNorm(width)
        self.c_fc = nn.Linear(width, 4 * width)
        self.gelu = QuickGELU()
        self.c_proj = nn.Linear(4 * width, width)

    def attention(self, x):
        b, n, d = x.shape
        qkv = self.in_proj(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.out_proj(y.transpose(1, 2).reshape(b, n, d))

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        return x + self.c_proj(self.gelu(self.c_fc(self.ln_2(x))))


class VisionTower(nn.Module):
    def __init__(self, image=224, patch=32, width=768, layers=12, heads=12, output=512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * 0.02)
        self.positional_embedding = nn.Parameter(torch.randn((image // patch) ** 2 + 1, width) * 0.01)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, output) * width ** -0.5)

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.ln_pre(x)
        for block in self.blocks:
            x = block(x)
        return self.ln_post(x[:, 0, :]) @ self.proj


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--image", type=int, default=224)
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iterations", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = VisionTower(image=a.image, layers=a.layers).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    x = torch.rand(a.batch, 3, a.image, a.image)

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        image = x.clone().requires_grad_(True)
        model(image).sum().backward()
        return image.grad

    def best_ms(fn):
        return min(timed(fn, a.iterations)) * 1000 / a.batch

    fwd = best_ms(forward)
    fb = best_ms(forward_backward)
    peak_mib = peak_rss_mib()
    print(json.dumps({"impl": "pytorch " + torch.__version__, "threads": a.threads, "batch": a.batch,
                      "forward_ms_per_image": round(fwd, 2), "forward_input_grad_ms_per_image": round(fb, 2),
                      "peak_rss_mib": round(peak_mib, 1)}))


if __name__ == "__main__":
    main()
