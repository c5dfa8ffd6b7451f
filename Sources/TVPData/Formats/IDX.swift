import TVPFormats

/// The IDX format of MNIST and Fashion-MNIST (optionally gzipped): a big-endian magic
/// `0x0000TTNN` (TT = 0x08 unsigned bytes, NN = number of dimensions), NN big-endian UInt32 sizes,
/// then the values in row-major order.
public struct IDXArray: Equatable {
    public let dims: [Int]
    public let values: [UInt8]

    public init(dims: [Int], values: [UInt8]) {
        self.dims = dims
        self.values = values
    }

    /// Reads an IDX file of unsigned bytes; `path` may be gzipped.
    public static func read(_ path: String) throws -> IDXArray {
        try decode(Gzip.read(path), file: path)
    }

    public static func decode(_ bytes: [UInt8], file: String) throws -> IDXArray {
        guard bytes.count >= 4 else { throw DataError(file, "\(bytes.count) bytes is too short for an IDX header (4 needed)") }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DataError(file, "bad IDX magic \(bytes[0..<4].map { String($0, radix: 16) }); expected 00 00 08 NN — is this an MNIST-style -ubyte file?")
        }
        guard bytes[2] == 0x08 else { throw DataError(file, "IDX value type 0x\(String(bytes[2], radix: 16)) is not supported; only unsigned bytes (0x08)") }
        let rank = Int(bytes[3])
        let header = 4 + 4 * rank
        guard rank > 0, bytes.count >= header else { throw DataError(file, "truncated IDX header: \(rank) dimensions need \(header) bytes, file has \(bytes.count)") }
        let dims = (0..<rank).map { i in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * i + $1]) } }
        guard let count = CheckedSize.product(dims), count == bytes.count - header else {
            let needed = CheckedSize.product(dims).map { "\($0) values" } ?? "more values than can be counted"
            throw DataError(file, "IDX dimensions \(dims) need \(needed) after the header, file has \(bytes.count - header)")
        }
        return IDXArray(dims: dims, values: Array(bytes[header...]))
    }

    /// The file's bytes: header then values.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = [0, 0, 0x08, UInt8(dims.count)]
        for d in dims { out += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
        return out + values
    }
}
