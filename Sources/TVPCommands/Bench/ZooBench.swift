import Foundation
import TVPData
import TVPModels
import TVPPipeline
import TVPPrompting
import TVPTensor
import TVPZoo

/// `tvp-run bench --zoo`: the workload tvp's users run, timed against its PyTorch twin.
///
/// The surrogate of the default pipeline (zoo-effnet-mlp: EfficientNet-Lite0 → gated MLP →
/// SmolLM2-135M, with the zoo's TSE guide) on one batch of 16 CLEVR-style scenes asked the counting
/// question, as `Pipelines/clevr.yaml` trains and evaluates it: one TVP training step (task LM loss
/// at the answer tokens + fca·FCA − tse·TSE, backward to the prompt, Adam on the masked gradient;
/// the clean tokens come from the cache, as the pipeline's clean-token stage supplies them) and the
/// evaluation of the batch (prompted images, every candidate count scored over one shared prefix).
/// Prints where a step's time goes (`Profile`) and the LM GEMMs' GFLOP/s against the sgemm peak
/// of the same run. With `--twin PYTHON` it writes the batch, the prompt, the token ids and its own
/// loss, gradient and scores to a file, runs `scripts/bench/zoo_twin.py` on it (which first checks
/// it computes the same, then times the same two things) and prints the ratios.
public struct ZooBenchmark {
    public var threads = Parallel.threads
    public var repeats = 3
    public var batchSize = 16
    public var fetcher = Fetcher()
    public var weights = Zoo.defaultWeightsDirectory()
    /// A Python interpreter with torch, transformers and gguf, to run the twin; nil skips it.
    public var twinPython: String?
    public var twinScript = "scripts/bench/zoo_twin.py"

    public init() {}

    public static let usage = """
    Usage: tvp-run bench --zoo [--twin PYTHON] [--twin-script PATH] [--threads N] [--iterations N]
      Times one TVP training step and the evaluation of one batch of the default pipeline's
      surrogate (zoo-effnet-mlp, 16 CLEVR-style scenes), prints where a step's time goes, and with
      --twin runs scripts/bench/zoo_twin.py (torch, transformers, gguf) on the same batch: it checks
      the loss, gradient and scores agree, then times the same (best of --iterations, default 3).
    """

    /// `tvp-run bench --zoo …` (the arguments after `--zoo`).
    public static func main(_ args: [String]) -> Int32 {
        var bench = ZooBenchmark()
        return TVPRunCommand.runBenchmarkMode("--zoo", args, usage: usage, parse: { name, value in
            switch name {
            case "--twin": bench.twinPython = value; return nil
            case "--twin-script": bench.twinScript = value; return nil
            default: return TVPRunCommand.parseRepeats(name, value, threads: &bench.threads, iterations: &bench.repeats)
            }
        }, run: { try bench.run(log: $0) })
    }

    /// The default pipeline's candidates (the object counts of its test split) and TSE caption.
    static let candidates = (3...10).map(String.init)
    static let caption = "a photo of {class} objects"

    /// What one run measured, in seconds (every repeat, in order).
    struct Times {
        var runs: [Double]
        var best: Double { runs.min() ?? .nan }
        var median: Double { runs.sorted()[runs.count / 2] }
        var text: String {
            String(format: "best %.3f s, median %.3f, max %.3f (%d runs)", best, median, runs.max() ?? .nan, runs.count)
        }
    }

    public func run(log: (String) -> Void) throws {
        try Benchmark.withPeak(threads: threads, log: log) { peak in
            let (step, evaluation, exchange) = try measure(sgemmPeak: peak, log: log)
            guard let exchange else { return }
            defer { try? FileManager.default.removeItem(atPath: exchange) }
            BufferPool.shared.trim()            // the zoo is gone: leave its memory to the twin
            ZooBenchmarkProfile.printTwin(try runTwin(exchange: exchange), step: step, evaluation: evaluation, log: log)
        }
    }

    /// Loads the zoo, times tvp's step and evaluation, prints the profile and writes the twin's
    /// exchange file (with `twinPython`); the zoo is released when it returns.
    func measure(sgemmPeak: Double, log: (String) -> Void) throws -> (step: Times, evaluation: Times, exchange: String?) {
        let spec = ZooModelSpec.effnetMLP
        let zoo = try Zoo.load(assets: fetcher.assetsDirectory, weights: weights, names: [spec.name])
        let model = try zoo.model(spec.name)
        var config = PromptTrainingConfig.tvp                      // fca 0.005, tse 0.001
        config.update = .adam(beta1: 0.9, beta2: 0.999)            // Pipelines/clevr.yaml: optimizer adam, lr 1e-3
        config.learningRate = 1e-3
        config.augment = false
        config.captionTemplate = Self.caption
        let prompt = try PaddingPrompt(imageSize: Zoo.imageSize, frame: Zoo.frame)
        // A prompt part-way through training (small seeded values in the frame), so the check sees it act.
        try prompt.load(values: (Tensor.uniform(prompt.values.shape, low: -0.05, high: 0.05, seed: 9) * prompt.mask))
        let trainer = try PromptTrainer(surrogates: [model], prompt: prompt, guide: zoo.guide, config: config)
        trainer.cleanTokens = CleanTokenCache()

        let renders = (NSTemporaryDirectory() as NSString).appendingPathComponent("tvp-bench-zoo-scenes")
        let scenes = try ZooImageSet.clevr(root: renders, split: "train", count: batchSize, seed: 0)
        let samples = scenes.samples(asking: CLEVR.countingQuestion)
        let labels = try samples.map { s in
            guard let i = Self.candidates.firstIndex(of: s.answer) else { throw ZooError("a scene counts \(s.answer) objects, outside 3…10") }
            return i
        }
        let raw = try PromptBatch(images: withoutGrad { try gatherRows(scenes.images.reshaped([scenes.count, -1]), samples.map(\.image)) }
                                      .reshaped([samples.count] + Array(scenes.images.shape.dropFirst())),
                                  questions: samples.map(\.question), labels: labels, answers: samples.map(\.answer))
        let (batch, key) = try trainer.preprocess(raw, indices: Array(0..<samples.count), epoch: 0, step: 0)
        let classFeatures = try withoutGrad { try zoo.guide.textFeatures(Self.candidates.map(config.caption)) }
        let promptTokens = try batch.questions.map { try model.promptTokens(question: $0) }
        let answerTokens = try batch.answers.map { try model.answerTokens($0) }
        let rowTokens = zip(promptTokens, answerTokens).map { $0.beforeImage.count + model.visualTokenCount + $0.afterImage.count + $1.count }
        let lmFLOPs = model.language.flopsPerToken(context: rowTokens.max()!) * Double(rowTokens.reduce(0, +))
        log(String(format: "%@, batch %d CLEVR-style scenes at %d px, %d–%d LM tokens per row (%.0f GFLOP LM forward without the head), %d thread(s)",
                   spec.name, batch.images.dim(0), Zoo.imageSize, rowTokens.min()!, rowTokens.max()!, lmFLOPs / 1e9, threads))

        // The reference computation: objective, gradient and scores at the prompt as it is now.
        let (total, losses) = try trainer.objective(batch, cleanKey: key, classFeatures: classFeatures)
        try total.backward()
        let gradient = prompt.values.grad!.copy()
        prompt.values.grad = nil
        func evaluate() throws -> Tensor {
            try withoutGrad { try model.scores(images: prompt.apply(to: batch.images), prompts: batch.questions, candidates: Self.candidates, scoring: .sum) }
        }
        let scores = try evaluate()
        let exchange = twinPython == nil ? nil : try writeExchange(batch: batch, prompt: prompt, model: model, losses: losses, gradient: gradient,
                                                                  scores: scores, classFeatures: gatherRows(classFeatures, batch.labels), logitScale: zoo.guide.logitScale,
                                                                  promptTokens: promptTokens, answerTokens: answerTokens, config: config)

        // Timing (unprofiled), then one profiled step.
        func times(_ body: () throws -> Void) rethrows -> Times {
            try body()
            return Times(runs: try (0..<repeats).map { _ in
                let start = Benchmark.now()
                try body()
                return Benchmark.now() - start
            })
        }
        BufferPool.shared.resetPeak()
        let step = try times { try trainer.step(batch, lr: config.learningRate, cleanKey: key, classFeatures: classFeatures) }
        let evaluation = try times { _ = try evaluate() }
        let tensorMiB = Double(BufferPool.shared.peakBytes) / 1_048_576
        // Plain VP (the default's other training) for comparison: the task term alone.
        var vp = config
        (vp.fca, vp.tse) = (0, 0)
        let vpTrainer = try PromptTrainer(surrogates: [model], prompt: prompt, config: vp)
        let vpStep = try times { try vpTrainer.step(batch, lr: vp.learningRate) }
        log("tvp train step:  \(step.text)")
        log("tvp evaluation:  \(evaluation.text)")
        log("tvp VP step:     \(vpStep.text)")
        log(String(format: "tvp peak memory: tensors %.0f MiB, process RSS %.0f MiB (the whole zoo and the guide's text tower loaded)",
                   tensorMiB, peakRSSMiB()))
        Profile.start()
        try trainer.step(batch, lr: config.learningRate, cleanKey: key, classFeatures: classFeatures)
        let regions = Profile.stop()
        // The peak again, now that the step has run: a shared machine's load moves it.
        let peak = max(sgemmPeak, Benchmark.sgemmPeak())
        log(String(format: "sgemm peak, the better of before and after the timings: %.0f GFLOP/s", peak))
        ZooBenchmarkProfile(regions: regions, sgemmPeak: peak).print(log)
        return (step, evaluation, exchange)
    }

    /// Writes what the twin needs and what it compares against; returns the file's path.
    func writeExchange(batch: PromptBatch, prompt: PaddingPrompt, model: ComposedMLLM, losses: StepLosses, gradient: Tensor, scores: Tensor,
                       classFeatures: Tensor, logitScale: Float, promptTokens: [PromptTokens], answerTokens: [[Int]], config: PromptTrainingConfig) throws -> String {
        func ragged(_ rows: [[Int]]) throws -> (Tensor, Tensor) {
            (try Tensor(rows.flatMap { $0 }.map(Float.init), shape: [rows.reduce(0) { $0 + $1.count }]),
             try Tensor(rows.map { Float($0.count) }, shape: [rows.count]))
        }
        let (before, beforeLengths) = try ragged(promptTokens.map(\.beforeImage))
        let (after, afterLengths) = try ragged(promptTokens.map(\.afterImage))
        let (answers, answerLengths) = try ragged(answerTokens)
        let (candidates, candidateLengths) = try ragged(Self.candidates.map { try model.candidateTokens($0) })
        func scalar(_ x: Float?) throws -> Tensor { try Tensor([x ?? .nan], shape: [1]) }
        let assets = fetcher.assetsDirectory
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("tvp-bench-zoo-\(getpid()).safetensors")
        try Safetensors.write([
            "images": batch.images, "prompt": prompt.values.detached(), "mask": prompt.mask, "text_features": classFeatures,
            "before_ids": before, "before_lengths": beforeLengths, "after_ids": after, "after_lengths": afterLengths,
            "answer_ids": answers, "answer_lengths": answerLengths, "candidate_ids": candidates, "candidate_lengths": candidateLengths,
            "weights": try Tensor([config.fca, config.tse, config.learningRate], shape: [3]),
            "logit_scale": try scalar(logitScale),
            "tvp_total": try scalar(losses.total), "tvp_task": try scalar(losses.task), "tvp_fca": try scalar(losses.featureConsistency),
            "tvp_tse": try scalar(losses.taskSemantics), "tvp_gradient": gradient, "tvp_scores": scores,
        ], metadata: ["efficientnet": try Zoo.efficientNetAsset.path(in: assets), "gguf": try Zoo.languageAsset.path(in: assets),
                      "connector": Zoo.connectorFile(model.name, in: weights), "guide": Zoo.guideFile(in: weights),
                      "frame": String(prompt.frame), "scoring": "sum"], to: path)
        return path
    }

    /// Runs the twin on `exchange` and returns its JSON result.
    func runTwin(exchange: String) throws -> [String: Any] {
        guard let python = twinPython else { throw ZooError("no --twin interpreter given") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [twinScript, "--exchange", exchange, "--threads", "\(threads)", "--iterations", "\(repeats)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0, let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last,
              let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ZooError("\(python) \(twinScript) failed (exit \(process.terminationStatus)); does it have torch, transformers and gguf?")
        }
        return json
    }
}
