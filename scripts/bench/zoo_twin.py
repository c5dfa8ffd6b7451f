#!/usr/bin/env python3
"""PyTorch twin of `tvp-run bench --zoo` (developer tooling; never needed to build, test or run tvp).

Builds the zoo's surrogate zoo-effnet-mlp in PyTorch from the same files tvp reads:
  EfficientNet-Lite0 from the same `.pth` (TF "SAME" padding, batch norm folded into each conv,
  as tvp folds it), the committed gated-MLP connector and TSE-guide projections (safetensors),
  SmolLM2-135M-Instruct from the same Q4_1 GGUF through transformers (dequantized to float32),
and, on the batch `tvp-run bench --zoo` wrote to `--exchange` (images, prompt, token ids of the
SmolLM2 chat template, candidates, the guide's class-caption features, tvp's loss, gradient and
scores), it
  1. checks that it computes the same objective (LM loss at the answer tokens + fca·FCA − tse·TSE),
     the same prompt gradient and the same candidate scores, printing the max differences;
  2. times one TVP training step (forward, backward to the prompt, Adam on the masked gradient)
     and the evaluation of the batch (prompted images scored by candidate log-likelihood over one
     shared prefix cache), with the thread count given.
It does the work tvp does: a tower pass for the task term, one for FCA and one in the guide, the
clean tokens outside the step (a cached stage in tvp), a further token only for candidates longer
than one. Needs torch, transformers, gguf, accelerate and safetensors. Prints one JSON object on
the last line.

    python scripts/bench/zoo_twin.py --exchange /tmp/zoo-bench.safetensors --threads 2 --iterations 3
"""
import argparse
import json
import math
import statistics

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, safe_open

from twin_timing import peak_rss_mib, timed

# EfficientNet-Lite's first stride of each stage (the lite table; tvp's `baseStages`).
STAGE_STRIDES = [1, 2, 2, 2, 1, 2, 1]
LITE_MEAN, LITE_STD = 127 / 255, 128 / 255


def fold(weights, conv, bn, eps=1e-3):
    w = weights[conv + ".weight"]
    scale = weights[bn + ".weight"] / torch.sqrt(weights[bn + ".running_var"] + eps)
    return w * scale.reshape(-1, 1, 1, 1), weights[bn + ".bias"] - weights[bn + ".running_mean"] * scale


def same_conv(x, w, b, stride=1, groups=1):
    """TensorFlow "SAME" padding (the odd pixel after), as tvp's `Padding2D.same`."""
    k = w.shape[-1]
    pads = []
    for n in (x.shape[3], x.shape[2]):
        total = max((math.ceil(n / stride) - 1) * stride + k - n, 0)
        pads += [total // 2, total - total // 2]
    if any(pads):
        x = F.pad(x, pads)
    return F.conv2d(x, w, b, stride=stride, groups=groups)


class EfficientNetLite0:
    """EfficientNet-PyTorch names (`_conv_stem`, `_blocks.N.*`, `_conv_head`), config from the shapes."""

    def __init__(self, path):
        w = torch.load(path, map_location="cpu", weights_only=True)
        self.stem = fold(w, "_conv_stem", "_bn0")
        self.blocks, stage = [], -1
        i = 0
        while f"_blocks.{i}._depthwise_conv.weight" in w:
            p = f"_blocks.{i}."
            expand = fold(w, p + "_expand_conv", p + "_bn0") if p + "_expand_conv.weight" in w else None
            dw = fold(w, p + "_depthwise_conv", p + "_bn1")
            project = fold(w, p + "_project_conv", p + "_bn2")
            cin = expand[0].shape[1] if expand else dw[0].shape[0]
            cout = project[0].shape[0]
            first = i == 0 or cin != cout
            if first:
                stage += 1
            stride = STAGE_STRIDES[stage] if first else 1
            self.blocks.append((expand, dw, stride, project, stride == 1 and cin == cout))
            i += 1
        self.head = fold(w, "_conv_head", "_bn1")

    def features(self, x, pooled=False):
        """Normalized images [B, 3, S, S] → head map [B, 1280, S/32, S/32] (or pooled [B, 1280])."""
        x = F.relu6(same_conv(x, *self.stem, stride=2))
        for expand, dw, stride, project, skip in self.blocks:
            y = F.relu6(same_conv(x, *expand)) if expand else x
            y = F.relu6(same_conv(y, *dw, stride=stride, groups=dw[0].shape[0]))
            y = same_conv(y, *project)
            x = y + x if skip else y
        x = F.relu6(same_conv(x, *self.head))
        return x.mean(dim=(2, 3)) if pooled else x


class GatedMLPConnector:
    """tvp's ZooGatedMLPConnector: linear_2(GELU(linear_1(f)) ⊙ (1 + g)), g from the question words."""

    def __init__(self, path, word_table):
        w = {k: v.float() for k, v in load_file(path).items()}
        self.w, self.table = w, word_table

    def hidden(self, features):
        return F.gelu(F.linear(features, self.w["linear_1.weight"], self.w["linear_1.bias"]))

    def gate(self, instructions):
        pooled = []
        for ids in instructions:
            words = self.table[torch.tensor(ids[:64])]                              # [T, D]
            weights = torch.softmax(words @ self.w["word_attention"], dim=0)         # [T, 1]
            pooled.append((F.linear(words, self.w["word_projection.weight"], self.w["word_projection.bias"]) * weights).sum(0))
        g = torch.stack(pooled)
        return F.layer_norm(g, g.shape[-1:], eps=1e-6).unsqueeze(1)                 # [B, 1, H]

    def __call__(self, features, instructions=None):
        h = self.hidden(features)
        if instructions is not None:
            h = h * (1 + self.gate(instructions))
        return F.linear(h, self.w["linear_2.weight"], self.w["linear_2.bias"])


class Surrogate:
    """zoo-effnet-mlp: lite-normalized pixels → EfficientNet-Lite0 head (4×4 → 16 tokens) → gated
    MLP → SmolLM2-135M over `before ‖ visual ‖ after ‖ answer`; the TSE guide on the pooled head."""

    def __init__(self, pth, gguf, connector, guide):
        import os
        from transformers import AutoModelForCausalLM
        from transformers.utils import logging
        logging.disable_progress_bar()
        self.tower = EfficientNetLite0(pth)
        self.lm = AutoModelForCausalLM.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf),
                                                       dtype=torch.float32).eval()
        for p in self.lm.parameters():
            p.requires_grad_(False)
        self.embed = self.lm.get_input_embeddings().weight
        self.connector = GatedMLPConnector(connector, self.embed)
        g = {k: v.float() for k, v in load_file(guide).items()}
        self.guide = g

    def features(self, pixels):
        x = self.tower.features((pixels - LITE_MEAN) / LITE_STD)
        return x.flatten(2).transpose(1, 2)                                          # [B, 16, 1280]

    def visual_tokens(self, pixels, instructions=None):
        return self.connector(self.features(pixels), instructions)

    def guide_features(self, pixels):
        pooled = self.tower.features((pixels - LITE_MEAN) / LITE_STD, pooled=True)
        return F.linear(pooled, self.guide["image_projection.weight"], self.guide["image_projection.bias"])

    def rows(self, visual, before, after):
        """Input embeddings of `before ‖ visual[b] ‖ after[b]`, right-padded, and the mask."""
        rows = [torch.cat([self.embed[torch.tensor(bf)], visual[b], self.embed[torch.tensor(af)]]) for b, (bf, af) in enumerate(zip(before, after))]
        n = max(r.shape[0] for r in rows)
        mask = torch.tensor([[1] * r.shape[0] + [0] * (n - r.shape[0]) for r in rows])
        x = torch.stack([F.pad(r, (0, 0, 0, n - r.shape[0])) for r in rows])
        return x, mask

    def answer_loss(self, visual, before, after, answers):
        x, mask = self.rows(visual, before, [a + s for a, s in zip(after, answers)])
        hidden = self.lm.model(inputs_embeds=x, attention_mask=mask).last_hidden_state
        t = visual.shape[1]
        picks, targets = [], []
        for b, answer in enumerate(answers):
            start = len(before[b]) + t + len(after[b])
            picks += [(b, start + j - 1) for j in range(len(answer))]
            targets += answer
        index = torch.tensor(picks)
        logits = self.lm.lm_head(hidden[index[:, 0], index[:, 1]])                   # answer rows only
        return F.cross_entropy(logits, torch.tensor(targets))

    def scores(self, visual, before, after, candidates, scoring):
        """[B, C] candidate log-likelihood (mean or sum over its tokens) after one shared prefix pass."""
        x, _ = self.rows(visual, before, after)                                       # equal lengths here
        out = self.lm.model(inputs_embeds=x, use_cache=True)
        b, c = x.shape[0], len(candidates)
        first = torch.log_softmax(self.lm.lm_head(out.last_hidden_state[:, -1]), -1)  # [B, V]
        total = first[:, [cand[0] for cand in candidates]]                            # [B, C]
        longest = max(len(cand) for cand in candidates)
        longer = [j for j, cand in enumerate(candidates) if len(cand) > 1]               # the others are scored
        if longer:
            cache = out.past_key_values
            cache.batch_repeat_interleave(len(longer))
            feed = torch.tensor([candidates[j][:-1] + [0] * (longest - len(candidates[j])) for j in longer]).repeat(b, 1)
            hidden = self.lm.model(input_ids=feed, past_key_values=cache, use_cache=False).last_hidden_state
            logp = torch.log_softmax(self.lm.lm_head(hidden), -1).reshape(b, len(longer), longest - 1, -1)
            extra = torch.zeros(b, c)
            for k, j in enumerate(longer):
                for i in range(1, len(candidates[j])):
                    extra[:, j] += logp[:, k, i - 1, candidates[j][i]]
            total = total + extra
        lengths = torch.tensor([float(len(cand)) for cand in candidates])
        return total if scoring == "sum" else total / lengths


def ragged(t, lengths):
    out, start = [], 0
    for n in lengths.long().tolist():
        out.append([int(v) for v in t[start:start + n].long().tolist()])
        start += n
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--exchange", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iterations", type=int, default=3)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with safe_open(a.exchange, "pt") as f:
        meta = f.metadata()
        e = {k: f.get_tensor(k) for k in f.keys()}
    model = Surrogate(meta["efficientnet"], meta["gguf"], meta["connector"], meta["guide"])
    frame = int(meta["frame"])
    images, mask, text = e["images"], e["mask"], e["text_features"]
    before, after = ragged(e["before_ids"], e["before_lengths"]), ragged(e["after_ids"], e["after_lengths"])
    answers = ragged(e["answer_ids"], e["answer_lengths"])
    candidates = ragged(e["candidate_ids"], e["candidate_lengths"])
    fca, tse, lr = (float(v) for v in e["weights"])
    scale = min(math.exp(float(e["logit_scale"][0])), 100)
    padded = F.pad(images, (frame, frame, frame, frame))
    with torch.no_grad():
        clean = model.visual_tokens(padded)                                            # FCA's reference (a cached stage in tvp)

    def objective(prompt):
        prompted = padded + prompt
        task = model.answer_loss(model.visual_tokens(prompted, after), before, after, answers)
        consistency = torch.linalg.vector_norm(model.visual_tokens(prompted) - clean, dim=-1).mean()
        semantics = F.cosine_similarity(model.guide_features(prompted), text, dim=-1).mean() * scale
        return task + fca * consistency - tse * semantics, (task, consistency, semantics)

    # 1. Agreement with tvp on the exchanged batch and prompt.
    prompt = e["prompt"].clone().requires_grad_(True)
    total, terms = objective(prompt)
    total.backward()
    with torch.no_grad():
        scores = model.scores(model.visual_tokens(padded + e["prompt"], after), before, after, candidates, meta["scoring"])
    diff = {
        "loss": abs(total.item() - e["tvp_total"].item()),
        "task": abs(terms[0].item() - e["tvp_task"].item()),
        "fca": abs(terms[1].item() - e["tvp_fca"].item()),
        "tse": abs(terms[2].item() - e["tvp_tse"].item()),
        "gradient": (prompt.grad - e["tvp_gradient"]).abs().max().item(),
        "gradient_scale": e["tvp_gradient"].abs().max().item(),
        "gradient_relative_l2": ((prompt.grad - e["tvp_gradient"]).norm() / e["tvp_gradient"].norm()).item(),
        "scores": (scores - e["tvp_scores"]).abs().max().item(),
    }

    # 2. Timing: a TVP training step (Adam on the masked gradient, as tvp's default) and evaluation.
    prompt = e["prompt"].clone().requires_grad_(True)
    optimizer = torch.optim.Adam([prompt], lr=lr)

    def step():
        optimizer.zero_grad(set_to_none=True)
        total, _ = objective(prompt)
        total.backward()
        prompt.grad.mul_(mask)
        optimizer.step()

    def evaluate():
        with torch.no_grad():
            s = model.scores(model.visual_tokens(padded + prompt, after), before, after, candidates, meta["scoring"])
            return s.argmax(1)

    step_s, eval_s = timed(step, a.iterations), timed(evaluate, a.iterations)
    peak_mib = peak_rss_mib()
    import transformers
    print(json.dumps({"impl": f"pytorch {torch.__version__} (transformers {transformers.__version__})", "threads": a.threads,
                      "batch": images.shape[0], "max_difference": diff,
                      "step_s": [round(t, 4) for t in step_s], "evaluation_s": [round(t, 4) for t in eval_s],
                      "step_best_s": round(min(step_s), 4), "evaluation_best_s": round(min(eval_s), 4),
                      "step_median_s": round(statistics.median(step_s), 4), "evaluation_median_s": round(statistics.median(eval_s), 4),
                      "peak_rss_mib": round(peak_mib, 1)}))


if __name__ == "__main__":
    main()
