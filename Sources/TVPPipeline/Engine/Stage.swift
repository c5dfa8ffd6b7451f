import Foundation
import TVPModels

/// How a stage uses the machine, which decides what may run beside it (see `Executor`).
public enum StageResources: Sendable, Equatable {
    /// Bookkeeping, I/O, small tensors: runs with one thread, beside other stages.
    case light
    /// Numeric work that uses `Parallel` and BLAS with every thread of the budget: one at a time.
    case compute
}

/// One step of a pipeline: a named, typed, cached computation.
///
/// Its result is cached under `StageKey` = SHA-256 of the manifest {kind, parameters, input keys,
/// asset checksums, code digest}; the human `id` is not part of the key, so identical stages of
/// several pipelines (a sweep) collapse into one.
public struct Stage: Sendable {
    /// A human name, unique within its pipeline, e.g. `train[surrogate=zoo-mlp]`.
    public var id: String
    /// The stage type, e.g. `train-prompt`.
    public var kind: String
    /// Everything that configures the computation, as JSON.
    public var parameters: JSONValue
    /// The ids of the stages whose outputs this one reads, in a fixed order.
    public var inputs: [String]
    /// SHA-256 checksums of external files the stage reads, by asset name.
    public var assets: [String: String]
    /// The identity of the code that computes the stage (for the registry's kinds, the digest of
    /// their source files: `StageCode`); another value is another key.
    public var code: String
    public var resources: StageResources
    /// The computation. It must depend only on what the manifest holds (parameters, inputs, assets).
    public var body: @Sendable (StageContext) throws -> StageOutput

    public init(id: String, kind: String, parameters: JSONValue = .object([:]), inputs: [String] = [],
                assets: [String: String] = [:], code: String, resources: StageResources = .light,
                body: @escaping @Sendable (StageContext) throws -> StageOutput) {
        self.id = id
        self.kind = kind
        self.parameters = parameters
        self.inputs = inputs
        self.assets = assets
        self.code = code
        self.resources = resources
        self.body = body
    }
}

/// What a stage produces: named tensors (stored as `payload.safetensors`, F32) and a JSON document
/// (stored as `result.json`).
public struct StageOutput: @unchecked Sendable {
    public var tensors: [String: Tensor]
    public var result: JSONValue

    public init(tensors: [String: Tensor] = [:], result: JSONValue = .object([:])) {
        self.tensors = tensors
        self.result = result
    }
}

/// A finished stage's stored output, read lazily: nothing is loaded until asked for, tensors are
/// read from the memory-mapped safetensors file one by one.
public final class StagePayload: @unchecked Sendable {
    public let key: StageKey
    /// The entry folder in the cache.
    public let directory: String
    private let lock = NSLock()
    private var file: SafetensorsFile?
    private var cachedResult: JSONValue?

    public init(key: StageKey, directory: String) {
        self.key = key
        self.directory = directory
    }

    private func safetensors() throws -> SafetensorsFile {
        lock.lock(); defer { lock.unlock() }
        if let file { return file }
        let opened = try SafetensorsFile(path: directory + "/" + StageCache.payloadFile)
        file = opened
        return opened
    }

    /// The names of the stored tensors, sorted.
    public func tensorNames() throws -> [String] { try safetensors().names }

    /// One stored tensor (throws naming the file when it is absent).
    public func tensor(_ name: String) throws -> Tensor { try safetensors().tensor(name) }

    /// Every stored tensor.
    public func tensors() throws -> [String: Tensor] { try safetensors().tensors() }

    /// The stored JSON document.
    public func result() throws -> JSONValue {
        lock.lock(); defer { lock.unlock() }
        if let cachedResult { return cachedResult }
        let path = directory + "/" + StageCache.resultFile
        let value = try JSONValue.parse(try readTextFile(path), source: path)
        cachedResult = value
        return value
    }
}

/// What a running stage sees: its inputs, its thread budget and a progress reporter.
public final class StageContext: @unchecked Sendable {
    public let stageID: String
    /// The name the run shows: the stage id, prefixed by its sweep point (`toy[lr=0.5]/train[digits/tvp]`)
    /// where the points do not share the stage.
    public let displayName: String
    public let key: StageKey
    /// The stage's parameters (what its manifest holds).
    public let parameters: JSONValue
    /// How many threads the stage may use (`Parallel.threads` is set to it for `.compute` stages;
    /// 1 for `.light` stages, which run beside others).
    public let threads: Int
    /// A folder for state that a killed run of this very entry resumes from (a training's
    /// checkpoints): inside the entry, kept while the entry is unfinished, removed once it is
    /// finished (`StageCache.workDirectory(for:)`). Not created: the stage creates it when it needs it.
    public let workDirectory: String
    private let inputIDs: [String]
    private let inputPayloads: [StagePayload]
    private let report: @Sendable (_ fraction: Double, _ message: String) -> Void

    init(stageID: String, displayName: String? = nil, key: StageKey, parameters: JSONValue, threads: Int, workDirectory: String,
         inputIDs: [String], inputPayloads: [StagePayload], report: @escaping @Sendable (Double, String) -> Void) {
        self.stageID = stageID
        self.displayName = displayName ?? stageID
        self.key = key
        self.parameters = parameters
        self.threads = threads
        self.workDirectory = workDirectory
        self.inputIDs = inputIDs
        self.inputPayloads = inputPayloads
        self.report = report
    }

    /// The number of inputs.
    public var inputCount: Int { inputPayloads.count }

    /// The output of the input at `index` (in the stage's `inputs` order).
    public func input(at index: Int) throws -> StagePayload {
        guard inputPayloads.indices.contains(index) else {
            throw PipelineError.stage(stageID, "asked for input \(index), but the stage has \(inputPayloads.count) inputs")
        }
        return inputPayloads[index]
    }

    /// The output of the input stage named `id`.
    public func input(_ id: String) throws -> StagePayload {
        guard let index = inputIDs.firstIndex(of: id) else {
            throw PipelineError.stage(stageID, "asked for input '\(id)', but its inputs are \(inputIDs.map { "'\($0)'" }.joined(separator: ", "))")
        }
        return inputPayloads[index]
    }

    /// Reports progress: `fraction` of the work done (0...1) and a short note.
    public func progress(_ fraction: Double, _ message: String = "") {
        report(min(1, max(0, fraction)), message)
    }
}
