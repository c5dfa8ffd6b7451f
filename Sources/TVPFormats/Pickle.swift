// A Python pickle reader for the subset torch.save writes (protocol 2, plus the protocol 3–5
// opcodes newer picklers emit for the same objects). It builds plain values; calls (REDUCE,
// NEWOBJ) are kept as `.call` for the caller to interpret, and persistent ids go to a hook.
// Nothing in a pickle is ever run, and it may name only the data classes of `Unpickler.allowedGlobals`;
// containers nest at most `ReaderLimits.maxPickleDepth` levels, so no value is too deep to walk or free.

/// A mutable Python list shared by reference (APPENDS and memo entries see the same list).
public final class PickleList {
    public var items: [PickleValue] = []
    /// Nesting depth while unpickling (1 + the deepest item); see `Unpickler`.
    var depth = 1
    /// Set once the list is inside another object; from then on the unpickler refuses to grow it.
    var isPlaced = false
}

/// A mutable Python dict shared by reference, keeping insertion order.
public final class PickleDict {
    public var entries: [(key: PickleValue, value: PickleValue)] = []
    /// Nesting depth while unpickling (1 + the deepest key or value); see `Unpickler`.
    var depth = 1
    /// Set once the dict is inside another object; from then on the unpickler refuses to grow it.
    var isPlaced = false
}

/// A value produced by the unpickler.
public indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer too wide for Int: its little-endian two's-complement bytes.
    case bigInt([UInt8])
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list(PickleList)
    case dict(PickleDict)
    /// A module-level name, `module.name` (a class or function).
    case global(String)
    /// `callable(*args)`, with the state BUILD gave it (if any).
    case call(String, [PickleValue], state: PickleValue?)
    /// Whatever the persistent-load hook returned for a BINPERSID id (storages).
    case persistent(AnyObject)
    case mark

    public var typeName: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .dict: return "dict"
        case .global(let g): return "global \(g)"
        case .call(let f, _, _): return "\(f)(…)"
        case .persistent: return "persistent object"
        case .mark: return "mark"
        }
    }
}

/// Unpickles one pickle starting at `reader.position`, leaving the reader after its STOP.
///
/// Every container's nesting depth is tracked as it is built (a scalar is 0, a container 1 + its
/// deepest element), and a pickle that nests deeper than `ReaderLimits.maxPickleDepth` is refused
/// at the opcode that would exceed it: Swift frees and walks nested values recursively, so a
/// million nested tuples would otherwise overflow the stack. A list or dict may only grow while
/// it is not yet inside another object (what every pickler writes, cycles aside), which keeps the
/// recorded depths exact.
public struct Unpickler {
    public var reader: ByteReader
    /// Turns a BINPERSID id into a value (torch: ('storage', type, key, location, numel, …)).
    public let persistentLoad: (PickleValue) throws -> PickleValue
    /// Python 2 `str` objects (BINSTRING, SHORT_BINSTRING) as `.bytes`, like Python 3's
    /// `pickle.load(f, encoding="bytes")`; otherwise they are decoded as UTF-8 text.
    public let python2StringsAsBytes: Bool
    private var stack: [PickleValue] = []
    /// The nesting depth of each stack entry (parallel to `stack`).
    private var depths: [Int] = []
    private var memo: [Int: (value: PickleValue, depth: Int)] = [:]

    /// The module-level names a pickle may refer to (GLOBAL, STACK_GLOBAL): the torch, numpy and
    /// collections classes and functions that checkpoints and data pickles rebuild their values
    /// with. Besides these, `torch.<Type>Storage` classes and the `torch._utils._rebuild_*` tensor
    /// functions are allowed (the checkpoint reader names the ones it cannot read). Anything else
    /// (`os.system`, `subprocess.Popen`, `builtins.eval`, …) is refused by name: a pickle that
    /// refers to code is not a data file.
    public static let allowedGlobals: Set<String> = [
        "collections.OrderedDict",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
        "numpy.ndarray", "numpy.dtype",
        "_codecs.encode",
        "builtins.bytes", "__builtin__.bytes", "builtins.bytearray", "__builtin__.bytearray",
        "builtins.dict", "__builtin__.dict", "builtins.list", "__builtin__.list",
        "builtins.set", "__builtin__.set", "builtins.frozenset", "__builtin__.frozenset",
    ]

    /// Whether a pickle may name `global` (`module.name`); see `allowedGlobals`.
    public static func isAllowed(global name: String) -> Bool {
        if allowedGlobals.contains(name) { return true }
        let torchType = name.hasPrefix("torch.") && name.hasSuffix("Storage") && !name.dropFirst(6).contains(".")
        return torchType || name.hasPrefix("torch._utils._rebuild_")
    }

    public init(_ reader: ByteReader, python2StringsAsBytes: Bool = false,
                persistentLoad: @escaping (PickleValue) throws -> PickleValue) {
        self.reader = reader
        self.python2StringsAsBytes = python2StringsAsBytes
        self.persistentLoad = persistentLoad
    }

    private func fail(_ message: String) -> FormatError {
        FormatError(reader.file, "pickle at offset \(reader.position): \(message)")
    }

    /// The current depth of a value recorded at `depth` (lists and dicts may have grown since).
    private static func depth(of value: PickleValue, recorded depth: Int) -> Int {
        switch value {
        case .list(let l): return l.depth
        case .dict(let d): return d.depth
        default: return depth
        }
    }

    /// Throws unless `depth` is within `ReaderLimits.maxPickleDepth`.
    private func checkDepth(_ depth: Int) throws {
        guard depth <= ReaderLimits.maxPickleDepth else {
            throw fail("objects nested more than \(ReaderLimits.maxPickleDepth) levels deep (checkpoints and data pickles nest a few levels; this one is malformed or hostile)")
        }
    }

    private mutating func push(_ value: PickleValue, depth: Int = 0) throws {
        try checkDepth(depth)
        stack.append(value)
        depths.append(depth)
    }

    /// Pushes a container built from `items` (each now inside it), one level deeper than the deepest.
    private mutating func push(_ value: PickleValue, holding items: (values: [PickleValue], depth: Int)) throws {
        place(items.values)
        try push(value, depth: items.depth + 1)
    }

    /// Marks the lists and dicts among `values` as placed inside another object.
    private func place(_ values: [PickleValue]) {
        for v in values {
            if case .list(let l) = v { l.isPlaced = true }
            if case .dict(let d) = v { d.isPlaced = true }
        }
    }

    private mutating func popEntry() throws -> (value: PickleValue, depth: Int) {
        guard let v = stack.popLast(), let d = depths.popLast() else { throw fail("stack underflow") }
        return (v, Self.depth(of: v, recorded: d))
    }

    private mutating func pop() throws -> PickleValue { try popEntry().value }

    /// Pops the top `n` entries (in stack order) and their deepest depth.
    private mutating func pop(_ n: Int) throws -> (values: [PickleValue], depth: Int) {
        guard stack.count >= n else { throw fail("stack underflow") }
        return try take(from: stack.count - n)
    }

    /// Pops everything above the topmost MARK (and the mark), with the deepest depth among them.
    private mutating func popToMark() throws -> (values: [PickleValue], depth: Int) {
        guard let i = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw fail("no MARK on the stack")
        }
        let items = try take(from: i + 1)
        stack.removeLast()
        depths.removeLast()
        return items
    }

    private mutating func take(from start: Int) throws -> (values: [PickleValue], depth: Int) {
        var deepest = 0
        for k in start..<stack.count { deepest = max(deepest, Self.depth(of: stack[k], recorded: depths[k])) }
        let values = Array(stack[start...])
        stack.removeSubrange(start...)
        depths.removeSubrange(start...)
        return (values, deepest)
    }

    private mutating func line() throws -> String {
        var bytes: [UInt8] = []
        while true {
            let b = try reader.u8("text line")
            if b == 0x0a { break }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SETITEM(S): adds key/value pairs to the dict on top of the stack.
    private mutating func setItems(_ items: (values: [PickleValue], depth: Int)) throws {
        guard let target = stack.last else { throw fail("SETITEMS on an empty stack") }
        guard items.values.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        guard case .dict(let d) = target else {
            // Objects restored by calls (e.g. OrderedDict subclasses) store items the same way.
            throw fail("SETITEMS on \(target.typeName), a dict was expected")
        }
        guard !d.isPlaced else { throw fail("SETITEMS on a dict that is already inside another object (not written by a pickler; refused)") }
        let depth = max(d.depth, items.depth + 1)
        try checkDepth(depth)
        place(items.values)
        d.depth = depth
        var i = 0
        while i < items.values.count {
            d.entries.append((items.values[i], items.values[i + 1]))
            i += 2
        }
    }

    /// APPEND(S): adds items to the list on top of the stack.
    private mutating func appendItems(_ items: (values: [PickleValue], depth: Int)) throws {
        guard let target = stack.last else { throw fail("APPENDS on an empty stack") }
        guard case .list(let l) = target else { throw fail("APPENDS on \(target.typeName), a list was expected") }
        guard !l.isPlaced else { throw fail("APPENDS on a list that is already inside another object (not written by a pickler; refused)") }
        let depth = max(l.depth, items.depth + 1)
        try checkDepth(depth)
        place(items.values)
        l.depth = depth
        l.items.append(contentsOf: items.values)
    }

    /// A GLOBAL's `module.name`, refused unless it is allowed (`isAllowed(global:)`).
    private func global(_ name: String) throws -> PickleValue {
        guard Self.isAllowed(global: name) else {
            throw fail("refers to \(name), which is not one of the data classes a checkpoint or data pickle needs (torch tensors and storages, collections.OrderedDict, numpy arrays); a pickle that names other code is refused")
        }
        return .global(name)
    }

    /// Reads opcodes until STOP and returns the pickled object.
    public mutating func load() throws -> PickleValue {
        while true {
            let op = try reader.u8("opcode")
            switch op {
            case 0x80: // PROTO
                let p = try reader.u8("protocol")
                guard p <= 5 else { throw fail("pickle protocol \(p) is not supported") }
            case 0x95: // FRAME (protocol 4): the frame length is advisory
                _ = try reader.u64("frame length")
            case 0x2e: // STOP
                return try pop()
            case 0x28: try push(.mark)                                    // MARK
            case 0x7d: try push(.dict(PickleDict()), depth: 1)            // EMPTY_DICT
            case 0x5d: try push(.list(PickleList()), depth: 1)            // EMPTY_LIST
            case 0x29: try push(.tuple([]), depth: 1)                     // EMPTY_TUPLE
            case 0x4e: try push(.none)                                    // NONE
            case 0x88: try push(.bool(true))                              // NEWTRUE
            case 0x89: try push(.bool(false))                             // NEWFALSE
            case 0x4a: try push(.int(Int(Int32(bitPattern: try reader.u32("BININT")))))
            case 0x4b: try push(.int(Int(try reader.u8("BININT1"))))
            case 0x4d: try push(.int(Int(try reader.u16("BININT2"))))
            case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement
                let n = op == 0x8a ? Int(try reader.u8("LONG1 length")) : Int(Int32(bitPattern: try reader.u32("LONG4 length")))
                guard n >= 0 else { throw fail("negative LONG4 length") }
                let bytes = Array(try reader.slice(n, "LONG bytes"))
                if n == 0 {
                    try push(.int(0))
                } else if n <= 8 {
                    var v: UInt64 = 0
                    for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                    if n < 8, bytes[n - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }   // sign-extend
                    try push(.int(Int(Int64(bitPattern: v))))
                } else {
                    try push(.bigInt(bytes))
                }
            case 0x47: // BINFLOAT, big-endian
                let bits = UInt64(bigEndian: UInt64(littleEndian: try reader.u64("BINFLOAT")))
                try push(.float(Double(bitPattern: bits)))
            case 0x58: // BINUNICODE
                let n = Int(try reader.u32("BINUNICODE length"))
                try push(.string(try reader.utf8(n, "BINUNICODE")))
            case 0x8c: // SHORT_BINUNICODE
                let n = Int(try reader.u8("SHORT_BINUNICODE length"))
                try push(.string(try reader.utf8(n, "SHORT_BINUNICODE")))
            case 0x8d: // BINUNICODE8
                let n = try reader.u64("BINUNICODE8 length")
                guard n <= UInt64(reader.remaining) else { throw fail("BINUNICODE8 of \(n) bytes beyond the end") }
                try push(.string(try reader.utf8(Int(n), "BINUNICODE8")))
            case 0x55, 0x43: // SHORT_BINSTRING, SHORT_BINBYTES
                let n = Int(try reader.u8("short bytes length"))
                let b = Array(try reader.slice(n, "bytes"))
                try push(op == 0x55 && !python2StringsAsBytes ? .string(String(decoding: b, as: UTF8.self)) : .bytes(b))
            case 0x54, 0x42: // BINSTRING, BINBYTES
                let n = Int(try reader.u32("bytes length"))
                let b = Array(try reader.slice(n, "bytes"))
                try push(op == 0x54 && !python2StringsAsBytes ? .string(String(decoding: b, as: UTF8.self)) : .bytes(b))
            case 0x8e: // BINBYTES8
                let n = try reader.u64("BINBYTES8 length")
                guard n <= UInt64(reader.remaining) else { throw fail("BINBYTES8 of \(n) bytes beyond the end") }
                try push(.bytes(Array(try reader.slice(Int(n), "bytes"))))
            case 0x63: // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                try push(try global("\(module).\(name)"))
            case 0x93: // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let n) = name, case .string(let m) = module else { throw fail("STACK_GLOBAL needs two strings") }
                try push(try global("\(m).\(n)"))
            case 0x74: let items = try popToMark(); try push(.tuple(items.values), holding: items)   // TUPLE
            case 0x85, 0x86, 0x87:                                                                  // TUPLE1, TUPLE2, TUPLE3
                let items = try pop(Int(op) - 0x84)
                try push(.tuple(items.values), holding: items)
            case 0x6c: // LIST
                let items = try popToMark()
                let l = PickleList()
                l.items = items.values
                l.depth = items.depth + 1
                try push(.list(l), holding: items)
            case 0x64: // DICT
                let items = try popToMark()
                try push(.dict(PickleDict()), depth: 1)
                try setItems(items)
            case 0x61: try appendItems(try pop(1))                        // APPEND
            case 0x65: try appendItems(try popToMark())                   // APPENDS
            case 0x73: try setItems(try pop(2))                           // SETITEM
            case 0x75: try setItems(try popToMark())                      // SETITEMS
            case 0x52, 0x81: // REDUCE: callable(*args); NEWOBJ: cls.__new__(cls, *args)
                let args = try popEntry(), callable = try pop()
                guard case .global(let name) = callable else { throw fail("\(op == 0x52 ? "REDUCE" : "NEWOBJ") on \(callable.typeName), a global was expected") }
                guard case .tuple(let a) = args.value else { throw fail("\(op == 0x52 ? "REDUCE" : "NEWOBJ") of \(name) with \(args.value.typeName) arguments") }
                let value = Self.reduce(name, a)
                if case .list(let l) = value { l.depth = args.depth }
                if case .dict(let d) = value { d.depth = args.depth }
                try push(value, depth: args.depth + 1)
            case 0x62: // BUILD: setstate; dicts (OrderedDict's _metadata) keep their items
                let state = try popEntry()
                let target = try popEntry()
                if case .call(let f, let a, _) = target.value {
                    place([state.value])
                    try push(.call(f, a, state: state.value), depth: max(target.depth, state.depth + 1))
                } else {
                    try push(target.value, depth: target.depth)
                }
            case 0x51: // BINPERSID
                let id = try popEntry()
                try push(try persistentLoad(id.value), depth: id.depth)
            case 0x71: memo[Int(try reader.u8("BINPUT index"))] = try top()          // BINPUT
            case 0x72: memo[Int(try reader.u32("LONG_BINPUT index"))] = try top()    // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                                   // MEMOIZE
            case 0x68, 0x6a: // BINGET, LONG_BINGET
                let i = op == 0x68 ? Int(try reader.u8("BINGET index")) : Int(try reader.u32("LONG_BINGET index"))
                guard let v = memo[i] else { throw fail("memo entry \(i) read before it was written") }
                try push(v.value, depth: v.depth)
            case 0x30: _ = try pop()                                  // POP
            case 0x31: _ = try popToMark()                            // POP_MARK
            case 0x32: let v = try top(); try push(v.value, depth: v.depth)   // DUP
            default:
                throw FormatError(reader.file, "pickle at offset \(reader.position - 1): unknown pickle opcode 0x\(String(op, radix: 16)) (protocols 0–5 are read, without framing extras)")
            }
        }
    }

    private func top() throws -> (value: PickleValue, depth: Int) {
        guard let v = stack.last, let d = depths.last else { throw fail("memo write on an empty stack") }
        return (v, Self.depth(of: v, recorded: d))
    }

    /// Calls that build plain containers become those containers; anything else stays a call.
    private static func reduce(_ name: String, _ args: [PickleValue]) -> PickleValue {
        switch name {
        case "collections.OrderedDict", "builtins.dict", "__builtin__.dict":
            let d = PickleDict()
            if case .list(let pairs)? = args.first {
                for case .tuple(let kv) in pairs.items where kv.count == 2 { d.entries.append((kv[0], kv[1])) }
            }
            return .dict(d)
        case "builtins.list", "__builtin__.list":
            let l = PickleList()
            if case .list(let items)? = args.first { l.items = items.items }
            return .list(l)
        default:
            return .call(name, args, state: nil)
        }
    }
}
