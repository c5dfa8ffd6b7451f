/// The one error type of the weight-format readers and writers: which file, and what is wrong with
/// it (the tensor key, dtypes, shapes and byte ranges involved, and what was expected).
public struct FormatError: Error, CustomStringConvertible, Equatable {
    /// The file being read or written.
    public let file: String
    public let message: String

    public init(_ file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
