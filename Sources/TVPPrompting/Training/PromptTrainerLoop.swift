import Foundation
import TVPFormats
import TVPModels
import TVPTensor

extension PromptTrainer {
    /// The batches of epoch `epoch` over `count` samples: a seeded shuffle (Fisher–Yates from
    /// (seed, epoch)) when `config.shuffle`, cut into `batchSize` slices, the last one shorter
    /// (the official DataLoader keeps it).
    public func batches(epoch: Int, count: Int) -> [[Int]] {
        var order = Array(0..<count)
        if config.shuffle {
            var rng = RandomGenerator(seed: mixSeed(config.seed, 0, UInt64(epoch)))
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
        }
        return stride(from: 0, to: count, by: config.batchSize).map { Array(order[$0..<min($0 + config.batchSize, count)]) }
    }

    /// Trains for `config.epochs` epochs over `source`. With `checkpointPath` set, the prompt and
    /// the position (epoch, step) are saved every `config.checkpointEvery` steps and after every
    /// epoch, and a run that finds that file continues where it stopped: the learning rate, the
    /// shuffles and the augmentation draws are functions of (seed, epoch, step), so the resumed
    /// run ends with the same prompt as an uninterrupted one (for the official update and plain
    /// SGD; Adam's and momentum's running state restarts).
    ///
    /// With `validation`, the prompt is scored on its held-out items before the first step, every
    /// `validation.every` steps and after the last; the run ends with the best-scoring prompt
    /// (`TrainingSummary.bestStep`; a resumed run's validation starts again where it resumes).
    ///
    /// On a NaN or infinite loss or gradient it throws `PromptTrainingError.nonFinite`, keeping
    /// (and saving, with `checkpointPath`) the prompt from before the failing step.
    ///
    /// In parts: `stoppingAfter: s` ends the call after the training's first s steps (of its
    /// `config.epochs` epochs; the learning rate follows the whole run's schedule) and leaves `state`;
    /// `continuing:` a state takes the training on from there (without measuring its start again), so
    /// parts ending at steps 8, 16 and 32 give the prompt one 32-step call gives, bit for bit. Each
    /// call's summary holds its own steps' losses and validation points, and the best prompt so far.
    @discardableResult
    public func train(on source: any PromptBatchSource, validation: PromptValidation? = nil,
                      continuing: TrainingState? = nil, stoppingAfter stop: Int? = nil) throws -> TrainingSummary {
        let count = source.count
        try require(count > 0, "PromptTrainer.train", "the training set is empty")
        candidates = source.classNames
        let stepsPerEpoch = (count + config.batchSize - 1) / config.batchSize
        let schedule = try PerEpochLR(CosineAnnealingLR(baseLR: config.learningRate, tMax: config.epochs), stepsPerEpoch: stepsPerEpoch)
        let fingerprint = try runFingerprint(source)
        let totalSteps = config.epochs * stepsPerEpoch
        let end = stop ?? totalSteps
        try require(end > 0 && end <= totalSteps, "PromptTrainer.train",
                    "cannot stop after step \(end): the training has \(totalSteps) steps (\(config.epochs) epoch(s) of \(stepsPerEpoch) batches)")
        var (startEpoch, startStep) = (0, 0)
        var best: (point: ValidationPoint, values: [Float])?
        if let continuing {
            try require(checkpointPath == nil, "PromptTrainer.train", "continue from a state or resume from a checkpoint, not both")
            try require(continuing.step >= 0 && continuing.step <= end, "PromptTrainer.train",
                        "the state is at step \(continuing.step), past the step \(end) this call stops after")
            try prompt.load(values: continuing.values)
            try optimizer.restore(continuing.optimizer, of: prompt.values)
            best = try continuing.best.map { best in
                try require(best.values.shape == prompt.values.shape, "PromptTrainer.train", "the state's best prompt has another shape")
                return (best.point, best.values.toArray())
            }
            (startEpoch, startStep) = (continuing.step / stepsPerEpoch, continuing.step % stepsPerEpoch)
        } else if let path = checkpointPath, FileManager.default.fileExists(atPath: path) {
            (startEpoch, startStep) = try resume(from: path, fingerprint: fingerprint, stepsPerEpoch: stepsPerEpoch)
        }
        let classFeatures: Tensor? = try config.tse == 0 ? nil : guide.map { guide in
            try withoutGrad { try guide.textFeatures(source.classNames.map(config.caption)) }
        }
        var summary = TrainingSummary(config: config, surrogates: surrogates.map(\.name), samples: count,
                                      stepsPerEpoch: stepsPerEpoch, resumedFromEpoch: startEpoch, resumedFromStep: startStep,
                                      losses: [], promptMaxAbs: 0)
        var latest: ValidationPoint?
        func validate(after steps: Int) throws {
            guard let validation else { return }
            let point = try self.validate(validation, step: steps)
            summary.validation.append(point)
            latest = point
            if best.map({ point.isBetter(than: $0.point) }) ?? true { best = (point, prompt.values.toArray()) }
        }
        if continuing == nil { try validate(after: startEpoch * stepsPerEpoch + startStep) }
        func save(epoch: Int, step: Int) throws {
            guard let path = checkpointPath else { return }
            try PromptFile.save(prompt, to: path, metadata: ["trainer-epoch": String(epoch), "trainer-step": String(step),
                                                             "trainer-run": fingerprint])
        }
        epochs: for epoch in startEpoch..<config.epochs {
            let lr = schedule.learningRate(epoch: epoch)
            let epochBatches = batches(epoch: epoch, count: count)
            for s in (epoch == startEpoch ? startStep : 0)..<stepsPerEpoch {
                if epoch * stepsPerEpoch + s == end { break epochs }
                let indices = epochBatches[s]
                let (batch, key) = try preprocess(source.batch(indices), indices: indices, epoch: epoch, step: s)
                let globalStep = epoch * stepsPerEpoch + s
                let losses: StepLosses
                do {
                    losses = try step(batch, lr: lr, draw: globalStep, cleanKey: key, classFeatures: classFeatures,
                                      epoch: epoch, stepInEpoch: s)
                } catch let error as PromptTrainingError {
                    try save(epoch: epoch, step: s)
                    throw error
                }
                summary.losses.append(losses)
                if let validation, (globalStep + 1) % validation.every == 0 || globalStep + 1 == totalSteps {
                    try validate(after: globalStep + 1)
                }
                onProgress?(TrainingProgress(epoch: epoch, step: s, stepsPerEpoch: stepsPerEpoch, globalStep: globalStep + 1,
                                             totalSteps: totalSteps, learningRate: lr, losses: losses, validation: latest))
                if s + 1 == stepsPerEpoch {
                    try save(epoch: epoch + 1, step: 0)
                } else if config.checkpointEvery > 0 && (globalStep + 1) % config.checkpointEvery == 0 {
                    try save(epoch: epoch, step: s + 1)
                }
            }
        }
        state = TrainingState(step: end, values: prompt.values.copy(), optimizer: optimizer.state(of: prompt.values),
                              best: try best.map { ($0.point, try Tensor($0.values, shape: prompt.values.shape)) })
        if let best {
            try prompt.load(values: Tensor(best.values, shape: prompt.values.shape))
            summary.bestStep = best.point.step
        }
        summary.promptMaxAbs = prompt.values.toArray().reduce(0) { max($0, abs($1)) }
        return summary
    }

    /// Loads the prompt values of a resume state and returns where to continue.
    private func resume(from path: String, fingerprint: String, stepsPerEpoch: Int) throws -> (Int, Int) {
        let meta = try PromptFile.metadata(path)
        guard let epoch = meta["trainer-epoch"].flatMap(Int.init), let step = meta["trainer-step"].flatMap(Int.init) else {
            throw PromptTrainingError.resumeMismatch(path: path, reason: "it is a prompt file without trainer state")
        }
        guard meta["trainer-run"] == fingerprint else {
            throw PromptTrainingError.resumeMismatch(path: path, reason: "it was written by a run with other settings, surrogates, data size or prompt")
        }
        guard epoch >= 0, step >= 0, step < stepsPerEpoch else {
            throw PromptTrainingError.resumeMismatch(path: path, reason: "its position (epoch \(epoch), step \(step)) is outside the run")
        }
        let saved = try PromptFile.loadPrompt(path)
        guard saved.kind == prompt.kind else {
            throw PromptTrainingError.resumeMismatch(path: path, reason: "it holds a '\(saved.kind)' prompt, this run trains a '\(prompt.kind)' prompt")
        }
        try prompt.load(values: saved.values)
        return (epoch, step)
    }

    /// A compact description of everything that must match for a resume to continue this run.
    private func runFingerprint(_ source: any PromptBatchSource) throws -> String {
        struct Run: Codable {
            var config: PromptTrainingConfig, surrogates: [String], guide: Bool, samples: Int, classes: [String]
            var kind: String, shape: [Int], geometry: [String: String]
        }
        var c = config
        c.checkpointEvery = 0
        let run = Run(config: c, surrogates: surrogates.map(\.name), guide: guide != nil, samples: source.count,
                      classes: source.classNames, kind: prompt.kind, shape: prompt.values.shape, geometry: prompt.geometry)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return sha256Hex(Array(try encoder.encode(run)))
    }
}
