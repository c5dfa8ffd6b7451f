/// A model's `weights: {path: …}` names nothing on disk; `hint` says what belongs there.
public struct MissingWeights: Error, Equatable, CustomStringConvertible {
    public let model: String
    public let path: String
    public let hint: String?

    public var description: String {
        "model '\(model)': no weights at \(path)" + (hint.map { "; put there \($0)" } ?? "") +
            ", or point models.\(model).weights.path at them (e.g. `tvp-run FILE models.\(model).weights.path=DIR`)"
    }
}
