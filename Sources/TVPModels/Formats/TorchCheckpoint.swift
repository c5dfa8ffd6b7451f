import TVPFormats
import TVPTensor
// PyTorch checkpoints (torch.save) → a flat state dict of Float32 tensors.
//
// Two containers:
//  - zip (torch ≥ 1.6): `<prefix>/data.pkl` is the pickle, `<prefix>/data/<key>` the raw storages,
//    persistent ids ('storage', torch.<T>Storage, key, location, numel);
//  - legacy (pre-1.6, or `_use_new_zipfile_serialization=False`): five pickles in a row — magic
//    number, protocol version 1001, sys_info, the object, the sorted storage keys — then each
//    storage as an int64 element count followed by its raw bytes; persistent ids carry a sixth
//    field, view metadata (view key, element offset, size) or None.
// Tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, …)` calls; strides
// and offsets are in elements, and non-contiguous layouts are copied into row-major order.
// Every count, offset, size and stride comes from the file: they are combined with `CheckedSize`
// and the elements a tensor reaches are checked against the bytes its storage holds before the
// tensor is allocated.

/// One storage named by the pickle: its element type, size, and where its bytes are.
final class TorchStorage {
    let key: String
    let type: ElementType
    let typeName: String
    let count: Int
    /// Element offset inside the root storage (legacy views only).
    let elementOffset: Int
    init(key: String, type: ElementType, typeName: String, count: Int, elementOffset: Int) {
        self.key = key
        self.type = type
        self.typeName = typeName
        self.count = count
        self.elementOffset = elementOffset
    }
}

/// Reading PyTorch checkpoints written by `torch.save`.
public enum TorchCheckpoint {
    /// Loads the checkpoint at `path` (zip or legacy container) as a flat state dict: nested dicts,
    /// lists and tuples are flattened with dots (`model.layers.0.weight`), non-tensor leaves
    /// (epochs, hyper-parameters) are dropped, and a checkpoint that is a bare tensor gets the key "".
    /// Every tensor is converted to Float32 (float32/64/16, bfloat16, integer and bool storages).
    public static func load(_ path: String) throws -> [String: Tensor] {
        let file = try MappedFile(path: path)
        switch WeightFileFormat.detect(file.bytes) {
        case .torchZip?: return try loadZip(file)
        case .torchLegacy?: return try loadLegacy(file)
        case let other:
            let what = other.map { "a \($0) file" } ?? "neither a ZIP archive nor a legacy pickle"
            throw FormatError(path, "not a PyTorch checkpoint: \(what) (first bytes \(file.bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")))")
        }
    }

    static let storageTypes: [String: ElementType] = [
        "torch.FloatStorage": .float32, "torch.DoubleStorage": .float64, "torch.HalfStorage": .float16,
        "torch.BFloat16Storage": .bfloat16, "torch.LongStorage": .int64, "torch.IntStorage": .int32,
        "torch.ShortStorage": .int16, "torch.CharStorage": .int8, "torch.ByteStorage": .uint8,
        "torch.BoolStorage": .bool,
    ]

    /// Builds a `TorchStorage` from a persistent id, reusing the one already made for its key.
    static func storage(from pid: PickleValue, path: String, known: inout [String: TorchStorage]) throws -> TorchStorage {
        guard case .tuple(let t) = pid, t.count >= 5, case .string("storage") = t[0] else {
            throw FormatError(path, "persistent id \(pid.typeName) is not a ('storage', type, key, location, numel) tuple; whole pickled modules are not supported, save a state_dict")
        }
        guard case .global(let typeName) = t[1] else { throw FormatError(path, "storage type is \(t[1].typeName), a torch.<T>Storage class was expected") }
        guard let type = storageTypes[typeName] else {
            throw FormatError(path, "storage type \(typeName) is not supported (supported: \(storageTypes.keys.sorted().joined(separator: ", ")))")
        }
        guard case .string(let key) = t[2], case .int(let count) = t[4], count >= 0 else {
            throw FormatError(path, "storage id for \(typeName) has a malformed key or size")
        }
        var elementOffset = 0, viewCount = count, isView = false
        if t.count >= 6, case .tuple(let view) = t[5] {
            isView = true
            // Legacy view: (view key, element offset, element count) inside root storage `key`.
            guard view.count == 3, case .int(let offset) = view[1], case .int(let size) = view[2], offset >= 0, size >= 0 else {
                throw FormatError(path, "storage '\(key)' has malformed view metadata")
            }
            elementOffset = offset
            viewCount = size
        }
        if !isView, let s = known[key] { return s }
        let s = TorchStorage(key: key, type: type, typeName: typeName, count: viewCount, elementOffset: elementOffset)
        if !isView { known[key] = s }
        return s
    }

    // MARK: containers

    static func loadZip(_ file: MappedFile) throws -> [String: Tensor] {
        let path = file.path
        let zip = try ZipArchive(file)
        guard let pickleEntry = zip.entries.first(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }) else {
            throw FormatError(path, "ZIP archive has no data.pkl: not a torch.save checkpoint (entries: \(zip.entries.prefix(5).map(\.name).joined(separator: ", ")))")
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        if let orderIndex = zip.byName[prefix + "byteorder"] {
            let order = try zip.withContents(zip.entries[orderIndex]) { String(decoding: $0, as: UTF8.self) }
            guard order == "little" else { throw FormatError(path, "checkpoint byte order is '\(order)'; only little-endian is supported") }
        }
        var storages: [String: TorchStorage] = [:]
        let root = try zip.withContents(pickleEntry) { bytes -> PickleValue in
            var unpickler = Unpickler(ByteReader(bytes, file: path)) { pid in
                .persistent(try storage(from: pid, path: path, known: &storages))
            }
            return try unpickler.load()
        }
        return try materialize(root, path: path) { storage, body in
            guard let index = zip.byName[prefix + "data/" + storage.key] else {
                throw FormatError(path, "storage '\(storage.key)' (\(storage.typeName)) has no entry \(prefix)data/\(storage.key)")
            }
            return try zip.withContents(zip.entries[index]) { try body($0) }
        }
    }

    static func loadLegacy(_ file: MappedFile) throws -> [String: Tensor] {
        let path = file.path
        var reader = ByteReader(file.bytes, file: path)
        func next(_ persistent: ((PickleValue) throws -> PickleValue)? = nil) throws -> PickleValue {
            var unpickler = Unpickler(reader, persistentLoad: persistent ?? { _ in
                throw FormatError(path, "unexpected persistent id outside the main pickle")
            })
            let value = try unpickler.load()
            reader = unpickler.reader
            return value
        }
        // 0x1950A86A20F9469CFC6C, little-endian, as pickled by torch.serialization.MAGIC_NUMBER.
        let magic: [UInt8] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19]
        guard case .bigInt(let m) = try next(), m == magic else {
            throw FormatError(path, "legacy checkpoint: bad magic number (not a torch.save file, or a pre-0.4 tar checkpoint)")
        }
        guard case .int(let protocolVersion) = try next(), protocolVersion == 1001 else {
            throw FormatError(path, "legacy checkpoint: protocol version is not 1001")
        }
        if case .dict(let sysInfo) = try next() {
            for (k, v) in sysInfo.entries {
                if case .string("little_endian") = k, case .bool(false) = v {
                    throw FormatError(path, "legacy checkpoint was written on a big-endian machine; not supported")
                }
            }
        }
        var storages: [String: TorchStorage] = [:]
        var views: [TorchStorage] = []
        let root = try next { pid in
            let s = try storage(from: pid, path: path, known: &storages)
            if storages[s.key] !== s { views.append(s) }
            return .persistent(s)
        }
        guard case .list(let keyList) = try next() else { throw FormatError(path, "legacy checkpoint: the storage key list is missing") }

        // Raw storages follow in key-list order: int64 element count, then the bytes.
        var ranges: [String: (start: Int, count: Int)] = [:]
        for item in keyList.items {
            guard case .string(let key) = item else { throw FormatError(path, "legacy checkpoint: storage key \(item.typeName) is not a string") }
            let count = Int(Int64(bitPattern: try reader.u64("element count of storage '\(key)'")))
            guard let s = storages[key] ?? views.first(where: { $0.key == key }) else {
                throw FormatError(path, "legacy checkpoint: storage '\(key)' is listed but no tensor refers to it")
            }
            guard count >= 0, count <= reader.remaining / s.type.size else {   // count × size cannot overflow past this
                throw FormatError(path, "legacy checkpoint: storage '\(key)' (\(s.typeName)) claims \(count) elements, only \(reader.remaining) bytes left (truncated?)")
            }
            ranges[key] = (reader.position, count)
            reader.position += count * s.type.size
        }
        return try materialize(root, path: path) { storage, body in
            guard let range = ranges[storage.key] else {
                throw FormatError(path, "legacy checkpoint: no data for storage '\(storage.key)' (\(storage.typeName))")
            }
            let size = storage.type.size
            return try body(UnsafeRawBufferPointer(rebasing: file.bytes[range.start..<(range.start + range.count * size)]))
        }
    }

    // MARK: tensors

    /// A tensor as the pickle describes it, before its bytes are read.
    struct TensorSpec {
        let name: String
        let storage: TorchStorage
        let offset: Int
        let size: [Int]
        let stride: [Int]
    }

    static func materialize(_ root: PickleValue, path: String,
                            withStorage: (TorchStorage, (UnsafeRawBufferPointer) throws -> Tensor) throws -> Tensor) throws -> [String: Tensor] {
        var specs: [TensorSpec] = []
        try collect(root, name: "", path: path, into: &specs)
        if specs.isEmpty {
            throw FormatError(path, "checkpoint holds no tensors (its top-level object is \(root.typeName))")
        }
        var out: [String: Tensor] = [:]
        for spec in specs {
            if out[spec.name] != nil { throw FormatError(path, "two tensors flatten to the same key '\(spec.name)'") }
            out[spec.name] = try withStorage(spec.storage) { bytes in try tensor(spec, bytes, path: path) }
        }
        return out
    }

    private static func collect(_ value: PickleValue, name: String, path: String, into specs: inout [TensorSpec]) throws {
        func child(_ key: String) -> String { name.isEmpty ? key : name + "." + key }
        switch value {
        case .dict(let d):
            for (k, v) in d.entries {
                switch k {
                case .string(let s): try collect(v, name: child(s), path: path, into: &specs)
                case .int(let i): try collect(v, name: child(String(i)), path: path, into: &specs)
                default: continue                                   // keys that cannot name a tensor
                }
            }
        case .list(let l):
            for (i, v) in l.items.enumerated() { try collect(v, name: child(String(i)), path: path, into: &specs) }
        case .tuple(let items):
            for (i, v) in items.enumerated() { try collect(v, name: child(String(i)), path: path, into: &specs) }
        case .call(let function, let args, _):
            switch function {
            case "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor":
                specs.append(try spec(args, name: name, path: path))
            case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
                if let data = args.first { try collect(data, name: name, path: path, into: &specs) }
            default:
                if function.hasPrefix("torch._utils._rebuild") {
                    throw FormatError(path, "tensor '\(name)': \(function) (quantized, sparse or device tensors) is not supported")
                }
            }
        default:
            return
        }
    }

    private static func spec(_ args: [PickleValue], name: String, path: String) throws -> TensorSpec {
        func ints(_ v: PickleValue) -> [Int]? {
            guard case .tuple(let t) = v else { return nil }
            var out: [Int] = []
            for case .int(let i) in t { out.append(i) }
            return out.count == t.count ? out : nil
        }
        guard args.count >= 4, case .persistent(let object) = args[0], let storage = object as? TorchStorage,
              case .int(let offset) = args[1], let size = ints(args[2]), let stride = ints(args[3]) else {
            throw FormatError(path, "tensor '\(name)': malformed _rebuild_tensor_v2 arguments (\(args.map(\.typeName).joined(separator: ", ")))")
        }
        guard size.count == stride.count, size.allSatisfy({ $0 >= 0 }), stride.allSatisfy({ $0 >= 0 }), offset >= 0 else {
            throw FormatError(path, "tensor '\(name)': bad layout: size \(describe(size)), stride \(describe(stride)), offset \(offset)")
        }
        return TensorSpec(name: name, storage: storage, offset: offset, size: size, stride: stride)
    }

    /// Reads one tensor out of its storage bytes into a row-major Float32 tensor.
    private static func tensor(_ spec: TensorSpec, _ bytes: UnsafeRawBufferPointer, path: String) throws -> Tensor {
        let s = spec.storage, size = s.type.size
        let layout = "tensor '\(spec.name)' (\(s.typeName), size \(describe(spec.size)), stride \(describe(spec.stride)), offset \(spec.offset))"
        guard let count = CheckedSize.product(spec.size) else {
            throw FormatError(path, "\(layout): the element count overflows (damaged or hostile checkpoint)")
        }
        if count == 0 { return Tensor(uninitialized: spec.size) }
        // The last element the view reaches: offset + Σ (size − 1) · stride, all checked.
        var reach: Int? = spec.offset
        for (n, step) in zip(spec.size, spec.stride) {
            if let r = reach, let extent = CheckedSize.product(n - 1, step) { reach = CheckedSize.sum(r, extent) } else { reach = nil }
        }
        let stored = CheckedSize.sum(s.elementOffset, s.count).flatMap { CheckedSize.product($0, size) }
        guard let end = reach, end < s.count, let stored, stored <= bytes.count else {
            throw FormatError(path, "\(layout) reaches element \(reach.map(String.init) ?? "beyond 2^63") of storage '\(s.key)', which holds \(s.count) elements\(s.elementOffset > 0 ? " from element \(s.elementOffset)" : "") in \(bytes.count / size) stored")
        }
        // A view larger than its storage repeats elements (stride 0): bounded like any expansion.
        if count > s.count, let problem = ReaderLimits.expandedProblem(CheckedSize.product(count, 4) ?? Int.max, layout) {
            throw FormatError(path, problem)
        }
        let out = Tensor(uninitialized: spec.size)
        let base = s.elementOffset + spec.offset
        let last = end - spec.offset
        let source = bytes.baseAddress! + base * size

        var contiguous = true
        var expected = 1
        for axis in stride(from: spec.size.count - 1, through: 0, by: -1) where spec.size[axis] != 1 {
            if spec.stride[axis] != expected { contiguous = false }
            expected *= spec.size[axis]
        }
        if contiguous {
            s.type.convert(source, count: out.count, to: out.data)
            return out
        }
        // Non-contiguous: convert the span the view touches, then gather row by row.
        let span = last + 1
        let converted = UnsafeMutablePointer<Float>.allocate(capacity: span)
        defer { converted.deallocate() }
        s.type.convert(source, count: span, to: converted)
        let rank = spec.size.count
        let inner = spec.size[rank - 1], innerStride = spec.stride[rank - 1]
        let rows = out.count / inner
        var index = [Int](repeating: 0, count: rank - 1)
        var rowStart = 0
        let dst = out.data
        for r in 0..<rows {
            let d = dst + r * inner
            for j in 0..<inner { d[j] = converted[rowStart + j * innerStride] }
            var axis = rank - 2
            while axis >= 0 {
                index[axis] += 1
                rowStart += spec.stride[axis]
                if index[axis] < spec.size[axis] { break }
                rowStart -= spec.stride[axis] * spec.size[axis]
                index[axis] = 0
                axis -= 1
            }
        }
        return out
    }
}
