import CZlib
import Foundation
import TVPFormats

/// One numeric array of a MATLAB v5 `.mat` file. Values are column-major (MATLAB order), kept as
/// the raw little-endian bytes of the type they were stored as (MATLAB may store a double array
/// as uint8 when the values fit; the accessors convert).
public struct MATArray {
    public let name: String
    public let dims: [Int]
    /// The MATLAB class: 6 double, 7 single, 8 int8, 9 uint8, 10 int16, 11 uint16, 12 int32,
    /// 13 uint32, 14 int64, 15 uint64.
    public let matlabClass: Int
    /// The element type the values are stored as (miINT8 = 1 … miUINT64 = 13, see `MATv5.DataType`).
    public let storedType: MATv5.DataType
    public let raw: [UInt8]

    public var count: Int { dims.reduce(1, *) }

    /// The values as bytes: the stored bytes when stored as uint8, otherwise converted (each must be an integer 0…255).
    public func uint8Values(file: String) throws -> [UInt8] {
        if storedType == .uint8 { return raw }
        return try doubles(file: file).enumerated().map { i, v in
            guard v >= 0, v <= 255, v == v.rounded() else { throw DataError(file, "'\(name)'[\(i)] = \(v) is not a byte value") }
            return UInt8(v)
        }
    }

    /// The values converted to Double, in column-major order.
    public func doubles(file: String) throws -> [Double] {
        let n = raw.count / storedType.size
        return raw.withUnsafeBytes { b -> [Double] in
            (0..<n).map { i in
                let o = i * storedType.size
                switch storedType {
                case .int8: return Double(Int8(bitPattern: b[o]))
                case .uint8: return Double(b[o])
                case .int16: return Double(Int16(littleEndian: b.loadUnaligned(fromByteOffset: o, as: Int16.self)))
                case .uint16: return Double(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt16.self)))
                case .int32: return Double(Int32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: Int32.self)))
                case .uint32: return Double(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self)))
                case .int64: return Double(Int64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: Int64.self)))
                case .uint64: return Double(UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self)))
                case .single: return Double(Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self))))
                case .double: return Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self)))
                }
            }
        }
    }
}

/// A reader for little-endian MATLAB v5 (and v7, i.e. v5 with compression) MAT-files: a 128-byte
/// header ("MATLAB 5.0 MAT-file…", version 0x0100, endian mark "IM"), then data elements, each an
/// 8-byte tag (type, byte count; or a 4-byte "small element" tag) plus data padded to 8 bytes.
/// miCOMPRESSED elements hold one zlib-deflated element. Numeric, non-complex, non-sparse miMATRIX
/// arrays are returned; other variables (cells, structs, chars, sparse) are skipped. Dimensions are
/// checked (non-negative, product without overflow, equal to the stored bytes) before an array is
/// made, and an element inflates to at most `ReaderLimits.maxExpandedBytes`.
public enum MATv5 {
    /// MAT-file element types.
    public enum DataType: Int, Sendable {
        case int8 = 1, uint8 = 2, int16 = 3, uint16 = 4, int32 = 5, uint32 = 6, single = 7, double = 9, int64 = 12, uint64 = 13

        public var size: Int {
            switch self {
            case .int8, .uint8: return 1
            case .int16, .uint16: return 2
            case .int32, .uint32, .single: return 4
            case .double, .int64, .uint64: return 8
            }
        }
    }

    static let miMATRIX = 14, miCOMPRESSED = 15

    /// The numeric arrays of the file at `path`, by variable name.
    public static func read(_ path: String) throws -> [String: MATArray] {
        let file: MappedFile
        do { file = try MappedFile(path: path) } catch let error as FormatError { throw DataError(path, error.message) }
        let bytes = file.bytes
        guard bytes.count >= 128 else { throw DataError(path, "\(bytes.count) bytes is too short for a MAT-file header (128)") }
        let text = String(decoding: bytes.prefix(10), as: UTF8.self)
        guard text.hasPrefix("MATLAB 5.0") || text.hasPrefix("MATLAB 7.") else {
            if bytes.count >= 8, Array(bytes[0..<8]) == [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] || text.hasPrefix("MATLAB 7.3") {
                throw DataError(path, "a MATLAB v7.3 (HDF5) file; only v5/v7 MAT-files are supported")
            }
            throw DataError(path, "not a MATLAB 5.0 MAT-file (header starts \"\(text)\")")
        }
        guard bytes[126] == 0x49, bytes[127] == 0x4D else {
            throw DataError(path, "big-endian MAT-file (endian mark \"MI\"); only little-endian files are supported")
        }
        var arrays: [String: MATArray] = [:]
        var position = 128
        while position < bytes.count {
            guard bytes.count - position >= 8 else { throw DataError(path, "truncated element tag at offset \(position)") }
            let type = Int(bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
            let size = Int(bytes.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
            let start = position + 8
            guard size <= bytes.count - start else {
                throw DataError(path, "truncated: element at offset \(position) needs \(size) bytes, \(bytes.count - start) left")
            }
            let body = UnsafeRawBufferPointer(rebasing: bytes[start..<start + size])
            if type == miCOMPRESSED {
                let inflated = try inflate(body, file: path, offset: position)
                try inflated.withUnsafeBytes { element in
                    guard element.count >= 8 else { throw DataError(path, "compressed element at offset \(position) holds no element") }
                    let innerType = Int(element.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
                    let innerSize = Int(element.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
                    guard innerSize <= element.count - 8 else { throw DataError(path, "compressed element at offset \(position) is truncated") }
                    if innerType == miMATRIX, let array = try matrix(UnsafeRawBufferPointer(rebasing: element[8..<8 + innerSize]), file: path) {
                        arrays[array.name] = array
                    }
                }
                position = start + size
            } else {
                if type == miMATRIX, let array = try matrix(body, file: path) { arrays[array.name] = array }
                position = start + (size + 7) / 8 * 8
            }
        }
        return arrays
    }

    /// Reads the sub-elements of one miMATRIX: flags, dimensions, name, real part.
    private static func matrix(_ body: UnsafeRawBufferPointer, file: String) throws -> MATArray? {
        var reader = SubElements(body: body, file: file)
        let flags = try reader.next("array flags")
        guard flags.data.count >= 4 else { throw DataError(file, "miMATRIX array flags are too short") }
        let flagWord = Int(flags.data.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let matlabClass = flagWord & 0xFF
        let isComplex = flagWord & 0x0800 != 0
        let dimsElement = try reader.next("dimensions")
        let dims = (0..<dimsElement.data.count / 4).map { Int(Int32(littleEndian: dimsElement.data.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))) }
        let nameElement = try reader.next("array name")
        let name = String(decoding: nameElement.data, as: UTF8.self)
        guard (6...15).contains(matlabClass), !isComplex else { return nil }   // only real numeric arrays
        let real = try reader.next("real part of '\(name)'")
        guard let stored = DataType(rawValue: real.type) else {
            throw DataError(file, "'\(name)': element type \(real.type) is not a numeric MAT type")
        }
        guard let count = CheckedSize.product(dims), real.data.count == CheckedSize.product(count, stored.size) else {
            let values = CheckedSize.product(dims).map { "\($0) values" } ?? "negative or too many values"
            throw DataError(file, "'\(name)': \(real.data.count) bytes of \(stored) do not hold dims \(dims) (\(values))")
        }
        return MATArray(name: name, dims: dims, matlabClass: matlabClass, storedType: stored, raw: Array(real.data))
    }

    /// Walks the sub-elements of a miMATRIX, normal and small (4-byte) tags.
    private struct SubElements {
        let body: UnsafeRawBufferPointer
        let file: String
        var position = 0

        mutating func next(_ what: String) throws -> (type: Int, data: UnsafeRawBufferPointer) {
            guard body.count - position >= 8 else { throw DataError(file, "miMATRIX ends before its \(what)") }
            let word = Int(body.loadUnaligned(fromByteOffset: position, as: UInt32.self))
            if word >> 16 != 0 {   // small data element: size in the high half, data in the next 4 bytes
                let size = word >> 16
                guard size <= 4 else { throw DataError(file, "bad small element of \(size) bytes in the \(what)") }
                defer { position += 8 }
                return (word & 0xFFFF, UnsafeRawBufferPointer(rebasing: body[position + 4..<position + 4 + size]))
            }
            let size = Int(body.loadUnaligned(fromByteOffset: position + 4, as: UInt32.self))
            let start = position + 8
            guard size <= body.count - start else { throw DataError(file, "truncated \(what): \(size) bytes needed, \(body.count - start) left") }
            position = start + (size + 7) / 8 * 8
            return (word, UnsafeRawBufferPointer(rebasing: body[start..<start + size]))
        }
    }

    /// Inflates one zlib stream completely.
    static func inflate(_ input: UnsafeRawBufferPointer, file: String, offset: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError(file, "zlib cannot start inflating")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: min(max(64, input.count * 4), ReaderLimits.maxExpandedBytes))
        var produced = 0
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self))
        stream.avail_in = UInt32(input.count)
        while true {
            if produced == output.count {
                if let problem = ReaderLimits.expandedProblem(2 * output.count, "inflating the compressed element at offset \(offset)") {
                    throw DataError(file, problem)
                }
                output += [UInt8](repeating: 0, count: output.count)
            }
            let status = output.withUnsafeMutableBufferPointer { out -> Int32 in
                stream.next_out = out.baseAddress! + produced
                stream.avail_out = UInt32(min(out.count - produced, Int(UInt32.max)))
                let before = stream.avail_out
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                produced += Int(before - stream.avail_out)
                return status
            }
            if status == Z_STREAM_END { break }
            if status == Z_BUF_ERROR && stream.avail_in == 0 {
                throw DataError(file, "truncated compressed element at offset \(offset): the zlib stream ends early")
            }
            guard status == Z_OK || status == Z_BUF_ERROR else {
                let reason = stream.msg.map { String(cString: $0) } ?? "code \(status)"
                throw DataError(file, "corrupt compressed element at offset \(offset): zlib says \(reason)")
            }
        }
        output.removeSubrange(produced...)
        return output
    }
}
