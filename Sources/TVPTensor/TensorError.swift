/// The one error type of the numerics layer: which op failed and why, with the shapes involved.
public struct TensorError: Error, CustomStringConvertible, Equatable {
    public let op: String
    public let message: String

    public init(_ op: String, _ message: String) {
        self.op = op
        self.message = message
    }

    public var description: String { "\(op): \(message)" }
}

/// Formats a shape the way error messages print it: `[16, 50, 768]`.
@inlinable
public func describe(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }

/// Throws a `TensorError` for `op` unless `condition` holds.
@inlinable
public func require(_ condition: Bool, _ op: String, _ message: @autoclosure () -> String) throws {
    if !condition { throw TensorError(op, message()) }
}
