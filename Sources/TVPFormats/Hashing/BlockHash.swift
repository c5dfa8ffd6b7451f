/// The compression function of a Merkle–Damgård hash over 64-byte blocks (MD5's, SHA-256's): its
/// chaining state, how whole blocks fold into it, and the digest it ends as.
public protocol BlockCompression {
    /// The hash's initial chaining state.
    init()
    /// Whether the message length that ends the padding is big-endian (SHA-256) or little-endian (MD5).
    static var bigEndianLength: Bool { get }
    /// Folds `count` consecutive 64-byte blocks into the state.
    mutating func compress(_ blocks: UnsafePointer<UInt8>, count: Int)
    /// The digest of the state.
    var digest: [UInt8] { get }
}

/// A streaming hash over a block compression function (`SHA256`, `MD5`): feed bytes with `update`
/// in any pieces as they are read, then `finalize`. The buffering is shared: the compression sees
/// only whole blocks, and the message ends with the padding (0x80, zeros, the length in bits).
public struct BlockHash<Compression: BlockCompression> {
    private var compression = Compression()
    /// Bytes waiting for a full 64-byte block (always fewer than 64).
    private var pending: [UInt8] = []
    private var totalBytes: UInt64 = 0

    public init() {}

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds the bytes in `buffer` to the message.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), buffer.count > 0 else { return }
        totalBytes &+= UInt64(buffer.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, buffer.count)
            pending.append(contentsOf: UnsafeBufferPointer(start: base, count: take))
            offset = take
            guard pending.count == 64 else { return }
            pending.withUnsafeBufferPointer { compression.compress($0.baseAddress!, count: 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let fullBlocks = (buffer.count - offset) / 64
        if fullBlocks > 0 {
            compression.compress(base + offset, count: fullBlocks)
            offset += fullBlocks * 64
        }
        if offset < buffer.count {
            pending.append(contentsOf: UnsafeBufferPointer(start: base + offset, count: buffer.count - offset))
        }
    }

    /// The digest of everything added so far (the hasher itself is left unchanged).
    public func finalize() -> [UInt8] {
        var copy = self
        copy.update(padding())
        return copy.compression.digest
    }

    /// The digest of `bytes` as lowercase hex, two digits a byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        var hasher = Self()
        hasher.update(bytes)
        return hexString(hasher.finalize())
    }

    /// The bytes that end the message so far: 0x80, zeros up to 56 mod 64, then the message length
    /// in bits as 8 bytes.
    private func padding() -> [UInt8] {
        let bitLength = totalBytes &* 8
        var tail: [UInt8] = [0x80]
        tail += [UInt8](repeating: 0, count: (55 - Int(totalBytes % 64) + 64) % 64)
        let shifts = Compression.bigEndianLength ? Array(stride(from: 56, through: 0, by: -8)) : Array(stride(from: 0, through: 56, by: 8))
        for shift in shifts { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        return tail
    }
}
