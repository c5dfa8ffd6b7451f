import Foundation
import TVPData
import TVPModels
import TVPTensor

/// `tvp-run bench --models`: times the real model families the zoo is built from, next to the
/// sgemm peak of the same run: SmolLM2-135M (64-token prefill and cached decoding, from the fetched
/// GGUF), an all-MiniLM-L6-v2-shaped BERT (batch 32 × 16 tokens, random weights) and
/// EfficientNet-Lite0 (batch 16 at 224 px, forward and forward + input gradient, from the fetched
/// `.pth`). A model whose asset is not fetched is skipped with the `tvp-run fetch` that gets it.
public struct ModelBenchmark {
    public var threads = Parallel.threads
    public var repeats = 3
    public var assets = Fetcher.defaultCacheDirectory() + "/assets"

    public init() {}

    public static let usage = """
    Usage: tvp-run bench --models [--threads N] [--iterations N]
      Times SmolLM2-135M (64-token prefill, cached decoding), a MiniLM-L6-shaped BERT (batch 32 × 16)
      and EfficientNet-Lite0 (batch 16 at 224 px, forward and forward + input gradient) against the
      sgemm peak of the same run; models whose assets are not fetched are skipped (best of 3).
    """

    /// `tvp-run bench --models …` (the arguments after `--models`).
    public static func main(_ args: [String]) -> Int32 {
        var bench = ModelBenchmark()
        return TVPRunCommand.runBenchmarkMode("--models", args, usage: usage, parse: { name, value in
            TVPRunCommand.parseRepeats(name, value, threads: &bench.threads, iterations: &bench.repeats)
        }, run: { try bench.run(log: $0) })
    }

    func best(_ body: () throws -> Void) rethrows -> Double { try Benchmark.fastest(of: repeats, body) }

    func asset(_ name: String, _ file: String, log: (String) -> Void) -> String? {
        let path = "\(assets)/\(name)/\(file)"
        if FileManager.default.fileExists(atPath: path) { return path }
        log("\(name): skipped, \(path) is absent (tvp-run fetch \(name))")
        return nil
    }

    public func run(log: (String) -> Void) throws {
        try Benchmark.withPeak(threads: threads, log: log) { try run(sgemmPeak: $0, log: log) }
    }

    func run(sgemmPeak peak: Double, log: (String) -> Void) throws {
        func percent(_ gflops: Double) -> String { String(format: "%.0f%% of the sgemm peak", 100 * gflops / peak) }

        if let path = asset("smollm2-135m-instruct", "SmolLM2-135M-Instruct.Q4_1.gguf", log: log) {
            let model = try LlamaModel(gguf: GGUFFile(path: path))
            let prompt = (0..<64).map { ($0 * 7919 + 13) % model.config.vocabSize }
            try withoutGrad {
                let prefill = try best {
                    let hidden = try model.forward(tokens: [prompt])
                    _ = try model.logits(hidden, positions: [63])
                }
                let cache = LlamaKVCache(layers: model.layers.count)
                _ = try model.forward(tokens: [prompt], cache: cache)
                var next = prompt.last!
                let steps = 32
                let start = Benchmark.now()
                for _ in 0..<steps {
                    let logits = try model.logits(try model.forward(tokens: [[next]], cache: cache), positions: [0]).toArray()
                    next = logits.indices.max { logits[$0] < logits[$1] }!
                }
                let decode = (Benchmark.now() - start) / Double(steps)
                let gflops = model.flopsPerToken(context: 64) * 64 / 1e9 / prefill
                log(String(format: "SmolLM2-135M prefill 64 tokens: %.1f ms (%.0f tokens/s, %.1f GFLOP/s without the LM head, %@); "
                           + "decode at context 64–96: %.2f ms/token", prefill * 1e3, 64 / prefill, gflops, percent(gflops), decode * 1e3))
            }
        }

        let config = BERTEncoder.Config.miniLML6
        let bert = try BERTEncoder(weights: Weights(BERTEncoder.randomWeights(config, seed: 1), source: "random"), config: config)
        var rng = RandomGenerator(seed: 5)
        let ids = (0..<(32 * 16)).map { _ in Int32(1000 + Int(rng.next() % 20000)) }
        let batch = try BERTBatch(ids: ids, batchSize: 32, tokens: 16, lengths: Array(repeating: 16, count: 32))
        let sentences = try best { _ = try withoutGrad { try bert.sentenceEmbeddings(batch) } }
        log(String(format: "MiniLM-L6 shape, batch 32 × 16 tokens: %.1f ms per batch (%.0f sentences/s)", sentences * 1e3, 32 / sentences))

        if let path = asset("efficientnet-lite0", "efficientnet-lite0-57934424.pth", log: log) {
            let model = try EfficientNetLite.load(path)
            let images = Tensor.randn([16, 3, 224, 224], seed: 7)
            let forward = try best { _ = try withoutGrad { try model(images) } }
            let backward = try best {
                let x = images.copy(requiresGrad: true)
                try model(x).sum().backward()
            }
            let gflops = EfficientNetLite.Config.lite0.forwardFLOPs() * 16 / 1e9 / forward
            log(String(format: "EfficientNet-Lite0 batch 16 at 224 px: forward %.1f images/s (%.1f GFLOP/s, %@), forward + input gradient %.1f images/s",
                       16 / forward, gflops, percent(gflops), 16 / backward))
        }
    }
}
