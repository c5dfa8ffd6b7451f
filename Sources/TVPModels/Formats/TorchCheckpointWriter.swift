import CZlib
import Foundation
import TVPFormats
import TVPTensor

// Writing PyTorch checkpoints in the zip format of `torch.save` (torch ≥ 1.6), Float32 tensors only:
//
//     archive/data.pkl      pickle (protocol 2) of {name: tensor, …}; each tensor is
//                           torch._utils._rebuild_tensor_v2(persistent ('storage', torch.FloatStorage,
//                           key, 'cpu', numel), 0, size, stride, False, collections.OrderedDict())
//     archive/byteorder     "little"
//     archive/data/<key>    the raw little-endian floats of storage <key> ("0", "1", …)
//     archive/version       "3\n"
//
// Entries are stored (not compressed); storage data start on 64-byte boundaries (padding in an
// extra field, as torch writes it) so `torch.load(mmap=True)` works. Only globals that
// `torch.load(weights_only=True)` allows are used.

/// Writes `torch.save`-compatible zip checkpoints.
public enum TorchCheckpointWriter {
    /// Writes `tensors` as a dict (keys in the given order) to `path`, atomically.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], to path: String) throws {
        var names = Set<String>()
        for (name, _) in tensors where !names.insert(name).inserted {
            throw FormatError(path, "tensor name '\(name)' appears twice")
        }
        var pickle = PickleWriter()
        pickle.emptyDict()
        if !tensors.isEmpty {
            pickle.mark()
            for (index, entry) in tensors.enumerated() {
                pickle.string(entry.name)
                pickle.tensor(storageKey: String(index), shape: entry.tensor.shape)
            }
            pickle.setItems()
        }
        pickle.stop()

        var zip = StoredZipWriter()
        zip.add("archive/data.pkl", pickle.bytes)
        zip.add("archive/byteorder", Array("little".utf8))
        for (index, entry) in tensors.enumerated() {
            let t = entry.tensor
            zip.add("archive/data/\(index)", Array(UnsafeRawBufferPointer(start: t.data, count: t.count * 4)), alignment: 64)
        }
        zip.add("archive/version", Array("3\n".utf8))
        let bytes = zip.finish()
        try writeFileAtomically(bytes, to: path)
    }

    /// Writes `tensors` with keys sorted (a Swift dictionary has no order).
    public static func write(_ tensors: [String: Tensor], to path: String) throws {
        try write(tensors.keys.sorted().map { ($0, tensors[$0]!) }, to: path)
    }
}

/// The few pickle opcodes (protocol 2) a state dict of tensors needs.
struct PickleWriter {
    private(set) var bytes: [UInt8] = [0x80, 2]          // PROTO 2

    mutating func emptyDict() { bytes.append(0x7d) }     // EMPTY_DICT
    mutating func mark() { bytes.append(0x28) }          // MARK
    mutating func setItems() { bytes.append(0x75) }      // SETITEMS
    mutating func tuple() { bytes.append(0x74) }         // TUPLE (from the last MARK)
    mutating func emptyTuple() { bytes.append(0x29) }    // EMPTY_TUPLE
    mutating func reduce() { bytes.append(0x52) }        // REDUCE
    mutating func bool(_ b: Bool) { bytes.append(b ? 0x88 : 0x89) }  // NEWTRUE / NEWFALSE
    mutating func stop() { bytes.append(0x2e) }          // STOP

    /// BINUNICODE: length (u32 LE) and UTF-8 bytes.
    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        bytes.append(0x58)
        append32(UInt32(utf8.count))
        bytes += utf8
    }

    /// GLOBAL "module\nname\n".
    mutating func global(_ module: String, _ name: String) {
        bytes.append(0x63)
        bytes += Array("\(module)\n\(name)\n".utf8)
    }

    /// BININT1 / BININT2 / BININT (signed 32-bit) / LONG1 for larger values.
    mutating func int(_ v: Int) {
        if v >= 0 && v < 256 {
            bytes += [0x4b, UInt8(v)]
        } else if v >= 0 && v < 65536 {
            bytes += [0x4d, UInt8(v & 0xff), UInt8(v >> 8)]
        } else if v >= Int(Int32.min) && v <= Int(Int32.max) {
            bytes.append(0x4a)
            append32(UInt32(bitPattern: Int32(v)))
        } else {
            bytes += [0x8a, 8]                            // LONG1, 8 bytes two's complement
            withUnsafeBytes(of: Int64(v).littleEndian) { bytes += $0 }
        }
    }

    /// torch._utils._rebuild_tensor_v2 of a contiguous Float32 tensor in storage `storageKey`.
    mutating func tensor(storageKey: String, shape: [Int]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        // The storage, by persistent id ('storage', torch.FloatStorage, key, 'cpu', numel).
        mark()
        string("storage")
        global("torch", "FloatStorage")
        string(storageKey)
        string("cpu")
        int(shape.reduce(1, *))
        tuple()
        bytes.append(0x51)                                // BINPERSID
        int(0)                                            // storage offset
        mark(); for d in shape { int(d) }; tuple()        // size
        var strides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        mark(); for s in strides { int(s) }; tuple()      // stride
        bool(false)                                       // requires_grad
        global("collections", "OrderedDict"); emptyTuple(); reduce()   // backward hooks
        tuple()
        reduce()
    }

    private mutating func append32(_ v: UInt32) {
        bytes += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)]
    }
}

/// A zip archive of stored (uncompressed) entries, built in memory.
struct StoredZipWriter {
    private var bytes: [UInt8] = []
    private var central: [UInt8] = []
    private var count = 0

    /// Adds an entry whose data starts at a multiple of `alignment` bytes from the archive's start.
    mutating func add(_ name: String, _ data: [UInt8], alignment: Int = 1) {
        let nameBytes = Array(name.utf8)
        let offset = bytes.count
        let crc = data.withUnsafeBufferPointer { p in
            UInt32(truncatingIfNeeded: CZlib.crc32(0, p.baseAddress, UInt32(p.count)))
        }
        // Extra field "FB" with filler, as torch writes it, to align the data.
        var extra: [UInt8] = []
        if alignment > 1 {
            let start = offset + 30 + nameBytes.count
            let filler = (alignment - (start + 4) % alignment) % alignment
            extra = [0x46, 0x42, UInt8(filler & 0xff), UInt8(filler >> 8)] + [UInt8](repeating: 0x5a, count: filler)
        }
        func u16(_ v: Int, into out: inout [UInt8]) { out += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff)] }
        func u32(_ v: UInt32, into out: inout [UInt8]) {
            out += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8(v >> 24)]
        }
        // Local file header.
        u32(0x0403_4b50, into: &bytes)
        u16(20, into: &bytes); u16(0, into: &bytes); u16(0, into: &bytes)         // version, flags, stored
        u16(0, into: &bytes); u16(0x21, into: &bytes)                               // time, date (1980-01-01)
        u32(crc, into: &bytes); u32(UInt32(data.count), into: &bytes); u32(UInt32(data.count), into: &bytes)
        u16(nameBytes.count, into: &bytes); u16(extra.count, into: &bytes)
        bytes += nameBytes + extra + data
        // Central directory record.
        u32(0x0201_4b50, into: &central)
        u16(20, into: &central); u16(20, into: &central); u16(0, into: &central); u16(0, into: &central)
        u16(0, into: &central); u16(0x21, into: &central)
        u32(crc, into: &central); u32(UInt32(data.count), into: &central); u32(UInt32(data.count), into: &central)
        u16(nameBytes.count, into: &central); u16(0, into: &central); u16(0, into: &central)   // name, extra, comment
        u16(0, into: &central); u16(0, into: &central); u32(0, into: &central)                 // disk, attributes
        u32(UInt32(offset), into: &central)
        central += nameBytes
        count += 1
    }

    /// The archive: entries, central directory, end record.
    func finish() -> [UInt8] {
        var out = bytes
        let centralOffset = out.count
        out += central
        func u16(_ v: Int) { out += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff)] }
        func u32(_ v: Int) { out += [UInt8(v & 0xff), UInt8((v >> 8) & 0xff), UInt8((v >> 16) & 0xff), UInt8((v >> 24) & 0xff)] }
        u32(0x0605_4b50); u16(0); u16(0); u16(count); u16(count)
        u32(central.count); u32(centralOffset); u16(0)
        return out
    }
}
