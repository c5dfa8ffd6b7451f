/// A Float32 tensor: row-major contiguous values over a shared `Storage`, plus what autodiff needs.
///
/// Views (reshape, slicing along the first axis) share storage and cost nothing; every op that
/// changes the layout writes a new contiguous tensor. Tensors are values for the user: ops never
/// modify their inputs, only `Optimizer`s update parameters in place.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let storage: Storage
    public let offset: Int
    public let count: Int

    /// Whether gradients flow to this tensor. Set it on leaves (parameters, the prompt); ops set it
    /// on their outputs when any input requires it and gradient mode is on.
    public var requiresGrad: Bool
    /// The accumulated gradient of a leaf after `backward()`.
    public var grad: Tensor?
    /// How this tensor was made, for backward; nil for leaves and for anything made without grad.
    var gradFn: GradFn?

    /// A view of `storage` from `offset` with `shape`.
    public init(storage: Storage, offset: Int = 0, shape: [Int], requiresGrad: Bool = false) {
        self.shape = shape
        self.storage = storage
        self.offset = offset
        self.count = shape.reduce(1, *)
        self.requiresGrad = requiresGrad
        precondition(offset + count <= storage.count, "view outside its storage")
    }

    /// A zero-filled tensor.
    public convenience init(zeros shape: [Int], requiresGrad: Bool = false) {
        self.init(storage: Storage(count: shape.reduce(1, *)), shape: shape, requiresGrad: requiresGrad)
    }

    /// A tensor whose contents the caller fills before reading (no zero fill).
    public convenience init(uninitialized shape: [Int]) {
        self.init(storage: Storage(count: shape.reduce(1, *), zeroed: false), shape: shape)
    }

    /// A tensor filled with one value.
    public convenience init(repeating value: Float, shape: [Int], requiresGrad: Bool = false) {
        self.init(uninitialized: shape)
        data.update(repeating: value, count: count)
        self.requiresGrad = requiresGrad
    }

    /// A tensor holding `values` in row-major order.
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) throws {
        try require(shape.allSatisfy { $0 >= 0 }, "Tensor", "negative dimension in shape \(describe(shape))")
        try require(values.count == shape.reduce(1, *), "Tensor",
                    "\(values.count) values do not fill shape \(describe(shape)) (\(shape.reduce(1, *)) needed)")
        self.init(uninitialized: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
        self.requiresGrad = requiresGrad
    }

    /// A scalar (rank 0) tensor.
    public convenience init(scalar: Float) {
        self.init(repeating: scalar, shape: [])
    }

    /// The first value, the usual way to read a loss.
    public var item: Float { data[0] }

    /// Pointer to the first value of this tensor (views start inside their storage).
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.pointer + offset }

    public var rank: Int { shape.count }

    /// The size of axis `i`; negative `i` counts from the end.
    public func dim(_ i: Int) -> Int { shape[i < 0 ? shape.count + i : i] }

    /// The values in row-major order.
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// A leaf copy with its own storage, detached from any graph.
    public func copy(requiresGrad: Bool = false) -> Tensor {
        let t = Tensor(uninitialized: shape)
        t.data.update(from: data, count: count)
        t.requiresGrad = requiresGrad
        return t
    }

    /// The same values as a leaf that no gradient flows through.
    public func detached() -> Tensor { Tensor(storage: storage, offset: offset, shape: shape) }

    /// The value at a multi-index (checked; for tests and small reads, not for loops).
    public subscript(_ index: Int...) -> Float {
        precondition(index.count == shape.count, "index rank \(index.count) for shape \(describe(shape))")
        var flat = 0
        for (i, n) in zip(index, shape) { precondition(i >= 0 && i < n, "index out of range"); flat = flat * n + i }
        return data[flat]
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = toArray().prefix(8).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor\(describe(shape))[\(head)\(count > 8 ? ", …" : "")]"
    }
}

import Foundation
