/// The buffering MD5 and SHA-256 share: bytes arrive in any pieces, the hash compresses whole
/// 64-byte blocks, and the message ends with the Merkle–Damgård padding (0x80, zeros, the length).
struct BlockFeeder {
    /// Bytes waiting for a full 64-byte block (always fewer than 64).
    private var pending: [UInt8] = []
    private var totalBytes: UInt64 = 0

    /// Adds `buffer`, handing every completed run of blocks to `compress(start, blockCount)`.
    mutating func feed(_ buffer: UnsafeRawBufferPointer, compress: (UnsafePointer<UInt8>, Int) -> Void) {
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self), buffer.count > 0 else { return }
        totalBytes &+= UInt64(buffer.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, buffer.count)
            pending.append(contentsOf: UnsafeBufferPointer(start: base, count: take))
            offset = take
            guard pending.count == 64 else { return }
            pending.withUnsafeBufferPointer { compress($0.baseAddress!, 1) }
            pending.removeAll(keepingCapacity: true)
        }
        let fullBlocks = (buffer.count - offset) / 64
        if fullBlocks > 0 {
            compress(base + offset, fullBlocks)
            offset += fullBlocks * 64
        }
        if offset < buffer.count {
            pending.append(contentsOf: UnsafeBufferPointer(start: base + offset, count: buffer.count - offset))
        }
    }

    /// The bytes that end the message so far: 0x80, zeros up to 56 mod 64, then the message length
    /// in bits as 8 bytes (big-endian for SHA-256, little-endian for MD5).
    func padding(bigEndianLength: Bool) -> [UInt8] {
        let bitLength = totalBytes &* 8
        var tail: [UInt8] = [0x80]
        tail += [UInt8](repeating: 0, count: (55 - Int(totalBytes % 64) + 64) % 64)
        let shifts = bigEndianLength ? Array(stride(from: 56, through: 0, by: -8)) : Array(stride(from: 0, through: 56, by: 8))
        for shift in shifts { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        return tail
    }
}
