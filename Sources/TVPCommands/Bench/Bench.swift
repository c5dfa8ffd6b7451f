import Foundation
import TVPModels
import TVPPipeline
import TVPTensor

/// `tvp-run bench`: times a ViT-B/32-shaped image tower (random weights) for forward and for
/// forward + input gradient, next to the sgemm peak measured in the same run, and optionally runs
/// the PyTorch twin (`scripts/bench/vit_twin.py`) with the same shapes and threads for the ratio.
public struct Benchmark {
    public var batch = 16
    public var layers = 12
    public var imageSize = 224
    public var iterations = 3
    public var threads = Parallel.threads
    /// A Python interpreter with torch, to run the twin; nil skips it.
    public var twinPython: String?
    public var twinScript = "scripts/bench/vit_twin.py"

    public init() {}

    public struct Measurement {
        public var forwardMs: Double, forwardBackwardMs: Double
        public var forwardGFLOPs: Double, forwardBackwardGFLOPs: Double
        public var sgemmPeakGFLOPs: Double, blockGEMMGFLOPs: Double
        public var peakTensorMiB: Double, peakRSSMiB: Double
    }

    /// Best GFLOP/s of a large square sgemm with every thread: the machine's practical peak.
    public static func sgemmPeak(size n: Int = 1536, repeats: Int = 6) -> Double {
        let a = Tensor.randn([n, n], seed: 1), b = Tensor.randn([n, n], seed: 2), c = Tensor(zeros: [n, n])
        var best = Double.infinity
        for _ in 0..<repeats {
            let t = now()
            sgemm(false, true, m: n, n: n, k: n, a.data, b.data, c.data)
            best = min(best, now() - t)
        }
        return 2 * Double(n * n * n) / best / 1e9
    }

    /// Runs `body` with `threads` threads (restored afterwards), after measuring and logging the
    /// sgemm peak it is handed.
    static func withPeak(threads: Int, log: (String) -> Void, _ body: (_ peak: Double) throws -> Void) rethrows {
        let saved = Parallel.threads
        Parallel.setThreads(threads)
        defer { Parallel.setThreads(saved) }
        let peak = sgemmPeak()
        log(String(format: "sgemm peak (1536³): %.0f GFLOP/s with %d thread(s)", peak, threads))
        try body(peak)
    }

    /// GFLOP/s of the MLP's first GEMM of the benchmark's shapes ([B·N, D] × [4D, D]ᵀ).
    static func blockGEMM(rows: Int, width: Int) -> Double {
        let x = Tensor.randn([rows, width], seed: 3), w = Tensor.randn([4 * width, width], seed: 4), y = Tensor(zeros: [rows, 4 * width])
        var best = Double.infinity
        for _ in 0..<3 {
            let t = now()
            sgemm(false, true, m: rows, n: 4 * width, k: width, x.data, w.data, y.data)
            best = min(best, now() - t)
        }
        return 2 * Double(rows * width * 4 * width) / best / 1e9
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Seconds of the fastest of `runs` runs of `body`, after one warm-up run (which fills the buffer
    /// pool) unless `warmUp` is false.
    static func fastest(of runs: Int, warmUp: Bool = true, _ body: () throws -> Void) rethrows -> Double {
        if warmUp { try body() }
        var best = Double.infinity
        for _ in 0..<runs {
            let start = now()
            try body()
            best = min(best, now() - start)
        }
        return best
    }

    public func run(log: (String) -> Void) throws -> Measurement {
        Parallel.setThreads(threads)
        var cfg = VisionTransformer.Config.b32
        cfg.layers = layers
        cfg.imageSize = imageSize
        let model = try VisionTransformer(weights: Weights(VisionTransformer.randomWeights(cfg, seed: 42), source: "random"))
        let image = Tensor.uniform([batch, 3, imageSize, imageSize], seed: 7)
        log("ViT-B/32 shape: batch \(batch), \(imageSize) px, \(layers) layers, width \(cfg.width), \(threads) thread(s); model forward \(String(format: "%.2f", cfg.forwardFLOPs / 1e9)) GFLOP/image, executed \(String(format: "%.2f", cfg.executedForwardFLOPs / 1e9))")

        let peak = Benchmark.sgemmPeak()
        let block = Benchmark.blockGEMM(rows: batch * cfg.tokens, width: cfg.width)

        func best(_ body: () throws -> Void) rethrows -> Double { try Benchmark.fastest(of: iterations, body) }
        BufferPool.shared.resetPeak()
        let forward = try best { _ = try withoutGrad { try model(image) } }
        let forwardBackward = try best {
            let x = image.detached()
            x.requiresGrad = true
            try model(x).sum().backward()
        }
        // GFLOP/s count what runs (the last block computes the class token alone), so they measure the hardware.
        let flops = cfg.executedForwardFLOPs * Double(batch)
        let attentionBackwardExtra = 2.0 * 2 * Double(cfg.tokens * cfg.tokens * cfg.width * cfg.layers * batch)
        return Measurement(forwardMs: forward * 1000 / Double(batch), forwardBackwardMs: forwardBackward * 1000 / Double(batch),
                      forwardGFLOPs: flops / forward / 1e9, forwardBackwardGFLOPs: (2 * flops + attentionBackwardExtra) / forwardBackward / 1e9,
                      sgemmPeakGFLOPs: peak, blockGEMMGFLOPs: block,
                      peakTensorMiB: Double(BufferPool.shared.peakBytes) / 1048576, peakRSSMiB: peakRSSMiB())
    }

    /// Runs the PyTorch twin and returns its JSON result, or a reason it could not run.
    public func runTwin() -> Result<[String: Any], TensorError> {
        guard let python = twinPython else { return .failure(TensorError("bench", "no --twin interpreter given")) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [twinScript, "--batch", "\(batch)", "--threads", "\(threads)", "--layers", "\(layers)",
                             "--image", "\(imageSize)", "--iterations", "\(iterations)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return .failure(TensorError("bench", "cannot start \(python): \(error)")) }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
              let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return .failure(TensorError("bench", "\(python) \(twinScript) failed (exit \(process.terminationStatus)); does it have torch?"))
        }
        return .success(json)
    }

    /// Runs everything and prints the report. Returns the process exit code.
    public func report() -> Int32 {
        do {
            let r = try run { print($0) }
            func f(_ x: Double) -> String { String(format: "%.1f", x) }
            print("sgemm peak (1536³, \(threads) threads): \(f(r.sgemmPeakGFLOPs)) GFLOP/s; block GEMM: \(f(r.blockGEMMGFLOPs)) GFLOP/s (\(f(100 * r.blockGEMMGFLOPs / r.sgemmPeakGFLOPs))% of peak)")
            print("tvp forward:                \(f(r.forwardMs)) ms/image, \(f(r.forwardGFLOPs)) GFLOP/s (\(f(100 * r.forwardGFLOPs / r.sgemmPeakGFLOPs))% of peak)")
            print("tvp forward + input grad:   \(f(r.forwardBackwardMs)) ms/image, \(f(r.forwardBackwardGFLOPs)) GFLOP/s (\(f(100 * r.forwardBackwardGFLOPs / r.sgemmPeakGFLOPs))% of peak)")
            print("tvp peak memory: tensors \(f(r.peakTensorMiB)) MiB, process RSS \(f(r.peakRSSMiB)) MiB")
            if twinPython != nil {
                switch runTwin() {
                case .success(let twin):
                    let tf = (twin["forward_ms_per_image"] as? Double) ?? .nan
                    let tb = (twin["forward_input_grad_ms_per_image"] as? Double) ?? .nan
                    let rss = (twin["peak_rss_mib"] as? Double) ?? .nan
                    print("\(twin["impl"] ?? "pytorch") forward:              \(f(tf)) ms/image")
                    print("\(twin["impl"] ?? "pytorch") forward + input grad: \(f(tb)) ms/image, process RSS \(f(rss)) MiB")
                    print("ratio (pytorch / tvp): forward \(String(format: "%.2f", tf / r.forwardMs))×, forward + input grad \(String(format: "%.2f", tb / r.forwardBackwardMs))×")
                case .failure(let error):
                    print("PyTorch twin not run: \(error)")
                }
            }
            return 0
        } catch {
            FileHandle.standardError.write(Data("tvp-run bench: \(error)\n".utf8))
            return 1
        }
    }
}
