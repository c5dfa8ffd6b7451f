// A Python pickle reader for the subset torch.save writes (protocol 2, plus the protocol 3–5
// opcodes newer picklers emit for the same objects). It builds plain values; calls (REDUCE,
// NEWOBJ) are kept as `.call` for the caller to interpret, and persistent ids go to a hook.

/// A mutable Python list shared by reference (APPENDS and memo entries see the same list).
public final class PickleList {
    public var items: [PickleValue] = []
}

/// A mutable Python dict shared by reference, keeping insertion order.
public final class PickleDict {
    public var entries: [(key: PickleValue, value: PickleValue)] = []
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
public struct Unpickler {
    public var reader: ByteReader
    /// Turns a BINPERSID id into a value (torch: ('storage', type, key, location, numel, …)).
    public let persistentLoad: (PickleValue) throws -> PickleValue
    /// Python 2 `str` objects (BINSTRING, SHORT_BINSTRING) as `.bytes`, like Python 3's
    /// `pickle.load(f, encoding="bytes")`; otherwise they are decoded as UTF-8 text.
    public let python2StringsAsBytes: Bool
    private var stack: [PickleValue] = []
    private var memo: [Int: PickleValue] = [:]

    public init(_ reader: ByteReader, python2StringsAsBytes: Bool = false,
                persistentLoad: @escaping (PickleValue) throws -> PickleValue) {
        self.reader = reader
        self.python2StringsAsBytes = python2StringsAsBytes
        self.persistentLoad = persistentLoad
    }

    private func fail(_ message: String) -> FormatError {
        FormatError(reader.file, "pickle at offset \(reader.position): \(message)")
    }

    private mutating func pop() throws -> PickleValue {
        guard let v = stack.popLast() else { throw fail("stack underflow") }
        return v
    }

    /// Pops everything above the topmost MARK (and the mark).
    private mutating func popToMark() throws -> [PickleValue] {
        guard let i = stack.lastIndex(where: { if case .mark = $0 { return true } else { return false } }) else {
            throw fail("no MARK on the stack")
        }
        let items = Array(stack[(i + 1)...])
        stack.removeSubrange(i...)
        return items
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

    private mutating func setItems(_ target: PickleValue, _ items: [PickleValue]) throws {
        guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
        guard case .dict(let d) = target else {
            // Objects restored by calls (e.g. OrderedDict subclasses) store items the same way.
            throw fail("SETITEMS on \(target.typeName), a dict was expected")
        }
        var i = 0
        while i < items.count {
            d.entries.append((items[i], items[i + 1]))
            i += 2
        }
    }

    private mutating func appendItems(_ target: PickleValue, _ items: [PickleValue]) throws {
        guard case .list(let l) = target else { throw fail("APPENDS on \(target.typeName), a list was expected") }
        l.items.append(contentsOf: items)
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
            case 0x28: stack.append(.mark)                          // MARK
            case 0x7d: stack.append(.dict(PickleDict()))            // EMPTY_DICT
            case 0x5d: stack.append(.list(PickleList()))            // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                     // EMPTY_TUPLE
            case 0x4e: stack.append(.none)                          // NONE
            case 0x88: stack.append(.bool(true))                    // NEWTRUE
            case 0x89: stack.append(.bool(false))                   // NEWFALSE
            case 0x4a: stack.append(.int(Int(Int32(bitPattern: try reader.u32("BININT")))))
            case 0x4b: stack.append(.int(Int(try reader.u8("BININT1"))))
            case 0x4d: stack.append(.int(Int(try reader.u16("BININT2"))))
            case 0x8a, 0x8b: // LONG1, LONG4: little-endian two's complement
                let n = op == 0x8a ? Int(try reader.u8("LONG1 length")) : Int(Int32(bitPattern: try reader.u32("LONG4 length")))
                guard n >= 0 else { throw fail("negative LONG4 length") }
                let bytes = Array(try reader.slice(n, "LONG bytes"))
                if n == 0 {
                    stack.append(.int(0))
                } else if n <= 8 {
                    var v: UInt64 = 0
                    for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
                    if n < 8, bytes[n - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }   // sign-extend
                    stack.append(.int(Int(Int64(bitPattern: v))))
                } else {
                    stack.append(.bigInt(bytes))
                }
            case 0x47: // BINFLOAT, big-endian
                let bits = UInt64(bigEndian: UInt64(littleEndian: try reader.u64("BINFLOAT")))
                stack.append(.float(Double(bitPattern: bits)))
            case 0x58: // BINUNICODE
                let n = Int(try reader.u32("BINUNICODE length"))
                stack.append(.string(try reader.utf8(n, "BINUNICODE")))
            case 0x8c: // SHORT_BINUNICODE
                let n = Int(try reader.u8("SHORT_BINUNICODE length"))
                stack.append(.string(try reader.utf8(n, "SHORT_BINUNICODE")))
            case 0x8d: // BINUNICODE8
                let n = try reader.u64("BINUNICODE8 length")
                guard n <= UInt64(reader.remaining) else { throw fail("BINUNICODE8 of \(n) bytes beyond the end") }
                stack.append(.string(try reader.utf8(Int(n), "BINUNICODE8")))
            case 0x55, 0x43: // SHORT_BINSTRING, SHORT_BINBYTES
                let n = Int(try reader.u8("short bytes length"))
                let b = Array(try reader.slice(n, "bytes"))
                stack.append(op == 0x55 && !python2StringsAsBytes ? .string(String(decoding: b, as: UTF8.self)) : .bytes(b))
            case 0x54, 0x42: // BINSTRING, BINBYTES
                let n = Int(try reader.u32("bytes length"))
                let b = Array(try reader.slice(n, "bytes"))
                stack.append(op == 0x54 && !python2StringsAsBytes ? .string(String(decoding: b, as: UTF8.self)) : .bytes(b))
            case 0x8e: // BINBYTES8
                let n = try reader.u64("BINBYTES8 length")
                guard n <= UInt64(reader.remaining) else { throw fail("BINBYTES8 of \(n) bytes beyond the end") }
                stack.append(.bytes(Array(try reader.slice(Int(n), "bytes"))))
            case 0x63: // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                stack.append(.global("\(module).\(name)"))
            case 0x93: // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard case .string(let n) = name, case .string(let m) = module else { throw fail("STACK_GLOBAL needs two strings") }
                stack.append(.global("\(m).\(n)"))
            case 0x74: stack.append(.tuple(try popToMark()))        // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))            // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))          // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))   // TUPLE3
            case 0x6c: // LIST
                let l = PickleList(); l.items = try popToMark(); stack.append(.list(l))
            case 0x64: // DICT
                let d = PickleDict(); try setItems(.dict(d), try popToMark()); stack.append(.dict(d))
            case 0x61: // APPEND
                let v = try pop()
                guard let target = stack.last else { throw fail("APPEND on an empty stack") }
                try appendItems(target, [v])
            case 0x65: // APPENDS
                let items = try popToMark()
                guard let target = stack.last else { throw fail("APPENDS on an empty stack") }
                try appendItems(target, items)
            case 0x73: // SETITEM
                let v = try pop(), k = try pop()
                guard let target = stack.last else { throw fail("SETITEM on an empty stack") }
                try setItems(target, [k, v])
            case 0x75: // SETITEMS
                let items = try popToMark()
                guard let target = stack.last else { throw fail("SETITEMS on an empty stack") }
                try setItems(target, items)
            case 0x52: // REDUCE
                let args = try pop(), callable = try pop()
                guard case .global(let name) = callable else { throw fail("REDUCE on \(callable.typeName), a global was expected") }
                guard case .tuple(let a) = args else { throw fail("REDUCE of \(name) with \(args.typeName) arguments") }
                stack.append(Self.reduce(name, a))
            case 0x81: // NEWOBJ: cls.__new__(cls, *args)
                let args = try pop(), cls = try pop()
                guard case .global(let name) = cls, case .tuple(let a) = args else { throw fail("NEWOBJ needs a class and a tuple") }
                stack.append(Self.reduce(name, a))
            case 0x62: // BUILD: setstate; dicts (OrderedDict's _metadata) keep their items
                let state = try pop()
                let target = try pop()
                if case .call(let f, let a, _) = target {
                    stack.append(.call(f, a, state: state))
                } else {
                    stack.append(target)
                }
            case 0x51: // BINPERSID
                stack.append(try persistentLoad(try pop()))
            case 0x71: memo[Int(try reader.u8("BINPUT index"))] = try top()          // BINPUT
            case 0x72: memo[Int(try reader.u32("LONG_BINPUT index"))] = try top()    // LONG_BINPUT
            case 0x94: memo[memo.count] = try top()                                   // MEMOIZE
            case 0x68, 0x6a: // BINGET, LONG_BINGET
                let i = op == 0x68 ? Int(try reader.u8("BINGET index")) : Int(try reader.u32("LONG_BINGET index"))
                guard let v = memo[i] else { throw fail("memo entry \(i) read before it was written") }
                stack.append(v)
            case 0x30: _ = try pop()                                  // POP
            case 0x31: _ = try popToMark()                            // POP_MARK
            case 0x32: stack.append(try top())                        // DUP
            default:
                throw FormatError(reader.file, "pickle at offset \(reader.position - 1): unknown pickle opcode 0x\(String(op, radix: 16)) (protocols 0–5 are read, without framing extras)")
            }
        }
    }

    private func top() throws -> PickleValue {
        guard let v = stack.last else { throw fail("memo write on an empty stack") }
        return v
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
