/// The errors of the pipeline engine: each says what is wrong, where, and how to fix it.
public enum PipelineError: Error, Equatable, CustomStringConvertible {
    /// Stages that depend on each other in a circle; `path` starts and ends with the same id.
    case cycle(pipeline: String, path: [String])
    /// A stage names an input that no stage of its pipeline defines.
    case unknownInput(pipeline: String, stage: String, input: String)
    /// Two stages of one pipeline share an id.
    case duplicateStage(pipeline: String, id: String)
    /// A stage name (in `only`/`from`/`until` or `why`) that the graph does not have.
    case unknownStage(name: String, known: [String])
    /// A stage refused its inputs or failed in a way it explains.
    case stage(String, String)
    /// The cache folder cannot be read or written.
    case cache(path: String, message: String)

    public var description: String {
        func scope(_ pipeline: String) -> String { pipeline.isEmpty ? "" : " in pipeline '\(pipeline)'" }
        switch self {
        case .cycle(let pipeline, let path):
            return "stages depend on each other in a cycle\(scope(pipeline)): \(path.joined(separator: " → ")); remove one of these inputs"
        case .unknownInput(let pipeline, let stage, let input):
            return "stage '\(stage)'\(scope(pipeline)) reads input '\(input)', which no stage defines"
        case .duplicateStage(let pipeline, let id):
            return "two stages\(scope(pipeline)) are both named '\(id)'; stage ids must be unique"
        case .unknownStage(let name, let known):
            let close = known.filter { $0.lowercased().contains(name.lowercased()) || name.lowercased().contains($0.lowercased()) }
            let hint = close.isEmpty ? "stages: " + known.joined(separator: ", ") : "did you mean " + close.map { "'\($0)'" }.joined(separator: " or ") + "?"
            return "no stage named '\(name)'; \(hint)"
        case .stage(let id, let message):
            return "stage '\(id)': \(message)"
        case .cache(let path, let message):
            return "cache \(path): \(message)"
        }
    }
}
