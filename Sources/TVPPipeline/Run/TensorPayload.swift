import TVPEngine
import TVPFormats
import TVPModels
import TVPTensor

/// tvp's stage payload: named tensors, stored F32 as the entry's `payload.safetensors`.
struct TensorPayload: StagePayloadWriter {
    var tensors: [String: Tensor]

    func write(to path: String, stageID: String) throws {
        try Safetensors.write(tensors, metadata: ["stage": stageID], to: path)
    }
}

extension StageOutput {
    /// A stage's output: `tensors` as its payload, `result` as its JSON document.
    public init(tensors: [String: Tensor], result: JSONValue = .object([:])) {
        self.init(payload: TensorPayload(tensors: tensors), result: result)
    }
}

extension StagePayload {
    /// The memory-mapped payload file, opened once; nil when the stage stored no tensors.
    private func safetensors() throws -> SafetensorsFile? {
        try reader { path in try path.map { try SafetensorsFile(path: $0) } }
    }

    /// The names of the stored tensors, sorted (none when the stage stored none).
    public func tensorNames() throws -> [String] { try safetensors()?.names ?? [] }

    /// One stored tensor (throws naming the entry when it is absent).
    public func tensor(_ name: String) throws -> Tensor {
        guard let file = try safetensors() else { throw FormatError(directory, "the stage stored no tensors, so none named '\(name)'") }
        return try file.tensor(name)
    }

    /// Every stored tensor.
    public func tensors() throws -> [String: Tensor] { try safetensors()?.tensors() ?? [:] }
}

extension ComputeThreads {
    /// `Parallel`'s thread count: tvp's kernels and OpenBLAS together.
    public static let tensorLibrary = ComputeThreads(current: { Parallel.threads }, set: { Parallel.setThreads($0) })
}
