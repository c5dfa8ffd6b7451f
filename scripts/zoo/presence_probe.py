#!/usr/bin/env python3
"""Developer tool: do the zoo's frozen EfficientNet features carry object presence?

Reads a zoo build's cached tower features (`<cache>/zoo-build/effnet-*.safetensors`, F32 [images,
tokens, width] per tap; the connectors' corpus order: Fashion-MNIST, MNIST, then the scenes) and
the training scenes (`renders-seed1-*/scenes/CLEVR_train_scenes.json`), and fits one logistic
regression per colour x shape category (present in the scene or not) on the first `--train`
scenes' pooled features; prints the mean ROC-AUC over the categories on the next `--test` scenes.
With `--spatial`, also a two-layer probe applied at every place of the map and max-pooled (a
smooth maximum) over the places, which can bind a colour to a shape at one place.

    python3 scripts/zoo/presence_probe.py ~/.cache/tvp/zoo-build/effnet-<key>.safetensors \
        ~/.cache/tvp/zoo-build/renders-seed1-1600-scenes/scenes/CLEVR_train_scenes.json --skip 800

Needs numpy only; never used by the product or CI.
"""
import argparse, json, struct
import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        tensors = {}
        for key, info in header.items():
            if key == "__metadata__":
                continue
            assert info["dtype"] == "F32", f"{path}: {key} is {info['dtype']}, expected F32"
            start, end = info["data_offsets"]
            f.seek(8 + n + start)
            tensors[key] = np.frombuffer(f.read(end - start), dtype=np.float32).reshape(info["shape"])
    return tensors


def auc(scores, positives):
    pos, neg = scores[positives], scores[~positives]
    if len(pos) == 0 or len(neg) == 0:
        return None
    return ((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def mean_auc(scores, y):
    """Mean ROC-AUC over the categories (columns) that have both classes among the rows."""
    aucs = [auc(scores[:, j], y[:, j] == 1) for j in range(y.shape[1])]
    return np.mean([a for a in aucs if a is not None])


def probe(x, y, train, steps=300, lr=0.1, decay=1e-3):
    mean, std = x[:train].mean(0), x[:train].std(0) + 1e-5
    x = (x - mean) / std
    w, b = np.zeros((x.shape[1], y.shape[1]), np.float32), np.zeros(y.shape[1], np.float32)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(x[:train] @ w + b, -30, 30)))
        g = p - y[:train]
        w -= lr * (x[:train].T @ g / train + decay * w)
        b -= lr * g.mean(0)
    return mean_auc(x[train:] @ w + b, y[train:])


def spatial_probe(t, y, train, hidden=256, steps=400, lr=0.01, batch=128, seed=0):
    """Per-place MLP (width `hidden`, ReLU) → per-category logits, log-sum-exp over places; Adam."""
    rng = np.random.default_rng(seed)
    width = t.shape[2]
    flat = t[:train].reshape(-1, width)
    x = (t - flat.mean(0)) / (flat.std(0) + 1e-5)
    k = y.shape[1]
    p = {"w1": rng.normal(0, width ** -0.5, (width, hidden)).astype(np.float32), "b1": np.zeros(hidden, np.float32),
         "w2": rng.normal(0, hidden ** -0.5, (hidden, k)).astype(np.float32), "b2": np.zeros(k, np.float32)}
    m, v = {key: np.zeros_like(w) for key, w in p.items()}, {key: np.zeros_like(w) for key, w in p.items()}

    def forward(xb):
        h = np.maximum(xb @ p["w1"] + p["b1"], 0)
        z = h @ p["w2"] + p["b2"]                                   # [n, places, k]
        top = z.max(1, keepdims=True)
        e = np.exp(z - top)
        return h, e / e.sum(1, keepdims=True), (np.log(e.sum(1, keepdims=True)) + top)[:, 0]

    for step in range(steps):
        idx = rng.choice(train, batch, replace=False)
        xb = x[idx]
        h, weights, pooled = forward(xb)
        g = (1 / (1 + np.exp(-np.clip(pooled, -30, 30))) - y[idx]) / batch
        gz = weights * g[:, None, :]
        gh = (gz @ p["w2"].T) * (h > 0)
        grads = {"w2": np.einsum("npc,npk->ck", h, gz) + 1e-4 * p["w2"], "b2": gz.sum((0, 1)),
                 "w1": np.einsum("npc,npk->ck", xb, gh) + 1e-4 * p["w1"], "b1": gh.sum((0, 1))}
        for key in p:
            m[key] = 0.9 * m[key] + 0.1 * grads[key]
            v[key] = 0.999 * v[key] + 0.001 * grads[key] ** 2
            p[key] -= lr * (m[key] / (1 - 0.9 ** (step + 1))) / (np.sqrt(v[key] / (1 - 0.999 ** (step + 1))) + 1e-8)
    return mean_auc(forward(x[train:])[2], y[train:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("features"), ap.add_argument("scenes")
    ap.add_argument("--skip", type=int, default=800, help="corpus images before the scenes (default 800: 400 Fashion-MNIST + 400 MNIST)")
    ap.add_argument("--train", type=int, default=800), ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--spatial", action="store_true", help="also the per-place two-layer probe, max-pooled (about a minute per tap)")
    a = ap.parse_args()
    features = read_safetensors(a.features)
    scenes = json.load(open(a.scenes))["scenes"][: a.train + a.test]
    colors = sorted({o["color"] for s in scenes for o in s["objects"]})
    shapes = sorted({o["shape"] for s in scenes for o in s["objects"]})
    y = np.array([[any(o["color"] == c and o["shape"] == h for o in s["objects"]) for c in colors for h in shapes] for s in scenes], np.float32)
    print(f"{len(colors) * len(shapes)} categories, each present in {y.mean():.0%} of the scenes")
    for tap, t in sorted(features.items()):
        t = t[a.skip : a.skip + len(scenes)]
        assert len(t) == len(scenes), f"{tap}: {len(t)} scene rows after skipping {a.skip}, expected {len(scenes)}"
        for pool, x in [("mean", t.mean(1)), ("max", t.max(1)), ("all tokens", t.reshape(len(t), -1))]:
            print(f"{tap:>8} {pool:>10}: mean ROC-AUC {probe(x, y, a.train):.3f}")
        if a.spatial and t.shape[1] > 1:
            print(f"{tap:>8} {'per place':>10}: mean ROC-AUC {spatial_probe(t, y, a.train):.3f}  (two-layer, max-pooled)")


if __name__ == "__main__":
    main()
