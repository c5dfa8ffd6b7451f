import Foundation
import TVPData
import TVPEngine
import TVPFormats
import TVPModels
import TVPPipeline
import TVPTensor

/// `tvp-run bench --pipeline`: the speed goals of the pipeline runner, measured.
///
/// In a temporary folder it writes IDX datasets (`tasks` of them, `images` 28×28 images per split),
/// a manifest that fetches them from disk, and a pipeline with three models, three protocols, a
/// corruption column and a `loss.fca` sweep of `points` points. Then it times:
/// 1. planning: load + validate + compile + graph + plan against the cache (`tvp-run plan`);
/// 2. a fully cached rerun: planning, then `PipelineSession.run` with every stage cached, run folder
///    and report included (`tvp-run FILE` the second time). To get there without a model backend the
///    benchmark first stores the model stages' entries itself (outputs of the real shapes: tokens
///    [N, 50, 768], prompts, predictions, metrics) under their real keys; fetch, load, aggregate and
///    report then run for real;
/// 3. cache bookkeeping per stage — key hashing, lock, stale-file sweep, payload write with fsync,
///    result/manifest/done/index writes with fsync — for the payload sizes of each stage kind, next
///    to the body time the stage took in step 2 (fetch, load, aggregate, report).
public struct PipelineBenchmark {
    public var tasks = 2
    public var images = 256
    public var points = 8
    public var iterations = 5
    /// Where the temporary world goes (removed at the end).
    public var directory = NSTemporaryDirectory()

    public init() {}

    public static let usage = """
    Usage: tvp-run bench --pipeline [--tasks N] [--images N] [--points N] [--iterations N] [--dir DIR]
      Times planning, a fully cached rerun and the cache bookkeeping per stage on a generated pipeline
      (defaults: 2 tasks, 256 images per split, 8 sweep points, best of 5; DIR: the temporary folder).
    """

    /// `tvp-run bench --pipeline …` (the arguments after `--pipeline`).
    public static func main(_ args: [String]) -> Int32 {
        var bench = PipelineBenchmark()
        return TVPRunCommand.runBenchmarkMode("--pipeline", args, usage: usage, parse: { name, value in
            if name == "--dir" { bench.directory = value; return nil }
            guard let n = Int(value), n > 0 else { return "\(name) takes a positive whole number" }
            switch name {
            case "--tasks": bench.tasks = n
            case "--images": bench.images = n
            case "--points": bench.points = n
            case "--iterations": bench.iterations = n
            default: return "unknown option '\(name)'"
            }
            return nil
        }, run: { _ = try bench.run(log: $0) })
    }

    /// What `run` measured (seconds).
    public struct Result {
        public var stages = 0
        public var planSeconds = 0.0
        /// Planning plus a run in which every stage is cached (run folder included).
        public var cachedRerunSeconds = 0.0
        public var cachedStages = 0
        /// Per stage kind: the whole bookkeeping of `StageCache.compute`, and the body time when measured.
        public var bookkeeping: [(kind: String, seconds: Double, body: Double?)] = []
    }

    /// Runs the three measurements, printing each result through `log`.
    @discardableResult
    public func run(log: (String) -> Void) throws -> Result {
        var measured = Result()
        let root = (directory as NSString).appendingPathComponent("tvp-pipeline-bench-\(getpid())")
        try? FileManager.default.removeItem(atPath: root)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let world = try BenchWorld.make(root: root, tasks: tasks, images: images, points: points)
        let cache = root + "/cache"
        func session() throws -> PipelineSession {
            let manifest = try Manifest.load(path: world.manifestPath)
            let loaded = try PipelineLoader.load(path: world.pipelinePath, overrides: [], multirun: [],
                                                 context: ValidationContext(manifest: manifest))
            let registry = StageRegistry(manifest: manifest, fetcher: Fetcher(cacheDirectory: cache, offline: true, log: { _ in }), backend: nil)
            return try PipelineSession(loaded: loaded, registry: registry, cache: try StageCache(root: cache))
        }
        log("pipeline: \(tasks) tasks × \(images) images per split, \(points) sweep points; threads \(Parallel.threads)")

        // 1. Planning against an empty cache.
        var stages = 0
        let planning = try Benchmark.fastest(of: iterations, warmUp: false) { let s = try session(); stages = try s.plan().count }
        log(String(format: "plan (load, validate, compile, plan) of %d stages: %.1f ms", stages, planning * 1000))

        // 2. Store the model stages, run the rest for real, then time fully cached reruns.
        let first = try session()
        let stored = try BenchOutputs.storeModelStages(of: first, samples: images)
        let start = Benchmark.now()
        let populate = try first.run(options: RunOptions(runsDirectory: root + "/runs", threads: Parallel.threads))
        guard populate.execution.succeeded else { throw PipelineError.stage("bench", "first run failed: \(populate.execution.failures)") }
        log(String(format: "first run: %d model-stage entries stored by the benchmark, %d stages computed in %.2f s",
                    stored, populate.execution.computed.count, Benchmark.now() - start))
        var cachedCount = 0
        let rerun = try Benchmark.fastest(of: iterations, warmUp: false) {
            let again = try session()
            guard try again.plan().allSatisfy(\.status.isCached) else { throw PipelineError.stage("bench", "the plan is not fully cached") }
            let result = try again.run(options: RunOptions(runsDirectory: root + "/runs", threads: Parallel.threads))
            cachedCount = result.execution.outcomes.filter { $0 == .cached }.count
            guard result.folder.map({ FileManager.default.fileExists(atPath: $0 + "/summary.md") }) == true else {
                throw PipelineError.stage("bench", "the cached rerun wrote no sweep summary")
            }
        }
        log(String(format: "fully cached rerun (load, validate, compile, plan, run; %d/%d cached; run folder with %d reports): %.1f ms %@",
                    cachedCount, stages, points, rerun * 1000, rerun < 1 ? "(goal < 1 s: met)" : "(goal < 1 s: NOT met)"))

        measured.stages = stages
        measured.planSeconds = planning
        measured.cachedRerunSeconds = rerun
        measured.cachedStages = cachedCount

        // 3. Bookkeeping per stage kind vs the body times of step 2.
        let bodies = BenchOutputs.bodySeconds(first)
        log("bookkeeping per stage (best of \(iterations)): kind, payload, key hash, lock+sweep, payload write, 4 small writes, total; body time; share")
        for sample in BenchOutputs.samples(images: images) {
            let cost = try BenchOutputs.bookkeeping(sample, cache: try StageCache(root: root + "/bookkeeping"), iterations: iterations)
            let body = bodies[sample.kind]
            measured.bookkeeping.append((sample.kind, cost.total, body))
            let share = body.map { String(format: "%.1f %%", 100 * cost.total / ($0 + cost.total)) } ?? "n/a"
            func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
            log("  " + pad(sample.kind, 15) + pad(formatByteCount(sample.bytes), 10) + String(format: "%6.2f ms  %6.2f ms  %8.2f ms  %6.2f ms  = %8.2f ms; body %@; share %@",
                        cost.hash * 1000, cost.lock * 1000, cost.payload * 1000,
                        cost.small * 1000, cost.total * 1000, body.map { String(format: "%.1f ms", $0 * 1000) } ?? "n/a (no backend)", share)
                + String(format: "; ≤ 5 %% needs a body ≥ %.2f s", cost.total * 19))
        }
        return measured
    }
}

/// The generated datasets, manifest and pipeline of the benchmark.
struct BenchWorld {
    let manifestPath: String
    let pipelinePath: String

    static func make(root: String, tasks: Int, images: Int, points: Int) throws -> BenchWorld {
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        var manifest = "version: 1\nassets:\n"
        var data = ""
        for task in 0..<tasks {
            manifest += """
              bench-\(task):
                kind: dataset
                licence: CC0-1.0
                citation: generated by tvp-run bench --pipeline
                task: 10 classes of noisy 28x28 gray images
                loader: idx-gz
                splits:
                  train: [train-images-idx3-ubyte, train-labels-idx1-ubyte]
                  test: [test-images-idx3-ubyte, test-labels-idx1-ubyte]
                files:

            """
            for split in ["train", "test"] {
                var generator = RandomGenerator(seed: UInt64(task * 2 + (split == "train" ? 0 : 1)))
                let labels = (0..<images).map { UInt8($0 % 10) }
                var pixels = [UInt8](repeating: 0, count: images * 784)
                for i in 0..<pixels.count { pixels[i] = UInt8(truncatingIfNeeded: Int(labels[i / 784]) * 20 + Int(generator.next() % 56)) }
                for (name, bytes) in [("\(split)-images-idx3-ubyte", IDXArray(dims: [images, 28, 28], values: pixels).encoded()),
                                      ("\(split)-labels-idx1-ubyte", IDXArray(dims: [images], values: labels).encoded())] {
                    let path = "\(root)/data/\(task)-\(name)"
                    try Data(bytes).write(to: URL(fileURLWithPath: path))
                    manifest += "      \(name):\n        size: \(bytes.count)\n        sha256: \"\(sha256Hex(bytes))\"\n"
                    manifest += "        sources:\n        - local: \(path)\n"
                }
            }
            data += "  task\(task): {dataset: bench-\(task), train: train, test: test, question: \"Which digit?\", caption: \"a photo of {class}\"}\n"
        }
        let manifestPath = root + "/datasets.manifest"
        try manifest.write(toFile: manifestPath, atomically: true, encoding: .utf8)
        let sweep = (0..<points).map { String(format: "%g", 0.001 * Double($0 + 1)) }.joined(separator: ", ")
        let pipeline = """
        name: bench
        data:
        \(data)models:
          surrogate: {family: bench-mllm, weights: {random: 1}}
          target-a: {family: bench-mllm, weights: {random: 2}}
          target-b: {family: bench-mllm, weights: {random: 3}}
          guide: {family: bench-guide, weights: {random: 4}}
        surrogate: surrogate
        targets: [target-a, target-b]
        guide: guide
        evaluate:
          protocols: [zero-shot-official, vp, tvp]
          metrics: [accuracy, macro-f1]
          corruptions: [{name: gaussian_noise, severity: 3}]
        expect: [tvp.mean >= 0]
        sweep:
          loss.fca: [\(sweep)]

        """
        let pipelinePath = root + "/bench.yaml"
        try pipeline.write(toFile: pipelinePath, atomically: true, encoding: .utf8)
        return BenchWorld(manifestPath: manifestPath, pipelinePath: pipelinePath)
    }
}
