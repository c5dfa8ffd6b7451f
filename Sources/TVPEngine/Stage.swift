import Foundation
import TVPFormats

/// How a stage uses the machine, which decides what may run beside it (see `Executor`).
public enum StageResources: Sendable, Equatable {
    /// Bookkeeping, I/O, small tensors: runs with one thread, beside other stages.
    case light
    /// Numeric work that uses every thread of the budget (`ComputeThreads`): one at a time.
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

/// A stage's bulk data (tvp's stages store named tensors as safetensors), written into its cache
/// entry as `StageCache.payloadFile` before the entry is sealed.
public protocol StagePayloadWriter {
    func write(to path: String, stageID: String) throws
}

/// What a stage produces: its bulk data (optional) and a JSON document (stored as `result.json`).
public struct StageOutput: @unchecked Sendable {
    public var payload: (any StagePayloadWriter)?
    public var result: JSONValue

    public init(payload: (any StagePayloadWriter)? = nil, result: JSONValue = .object([:])) {
        self.payload = payload
        self.result = result
    }
}

/// A finished stage's stored output, read lazily: nothing is loaded until asked for.
public final class StagePayload: @unchecked Sendable {
    public let key: StageKey
    /// The entry folder in the cache.
    public let directory: String
    private let lock = NSLock()
    private var opened: [ObjectIdentifier: Any] = [:]
    private var cachedResult: JSONValue?

    public init(key: StageKey, directory: String) {
        self.key = key
        self.directory = directory
    }

    /// The stored bulk data's file, or nil when the stage stored none.
    public var payloadPath: String? {
        let path = directory + "/" + StageCache.payloadFile
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// A reader of the payload made once per payload (one per type), e.g. a memory-mapped file.
    public func reader<Reader>(_ open: (String?) throws -> Reader) throws -> Reader {
        lock.lock(); defer { lock.unlock() }
        if let stored = opened[ObjectIdentifier(Reader.self)] { return stored as! Reader }
        let reader = try open(payloadPath)
        opened[ObjectIdentifier(Reader.self)] = reader
        return reader
    }

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
    /// How many threads the stage may use (the executor's `ComputeThreads` are set to it for
    /// `.compute` stages; 1 for `.light` stages, which run beside others).
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
