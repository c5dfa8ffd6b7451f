import Foundation

/// Runs readers on a corpus of hostile files in a child process whose address space is capped
/// (`RLIMIT_AS`, through the shell's `ulimit -v`), so that an unbounded allocation fails the test
/// instead of exhausting the machine.
///
/// One test method plays both parts: called normally it writes the corpus to a temporary folder
/// and runs itself again in the capped child (the same test binary, filtered to that method, with
/// `TVP_BOUNDED_CORPUS` naming the folder); in the child it reads every file and prints one line
/// per file. The parent passes when the child exits normally having refused every file with an
/// error that names it.
public enum BoundedChild {
    /// 4 GiB: far more than any reader needs for these small files, far less than the terabytes
    /// their headers claim.
    public static let addressSpace = 4 << 30

    /// The folder of the corpus when running as the child, nil in the parent.
    public static var corpusFolder: String? { ProcessInfo.processInfo.environment["TVP_BOUNDED_CORPUS"] }

    /// Parent: writes `corpus`, runs `test` ("Module.Class/testMethod") in the capped child and
    /// returns problems (empty when every file was refused properly).
    public static func run(test: String, corpus: [(name: String, bytes: [UInt8])]) throws -> [String] {
        let folder = NSTemporaryDirectory() + "tvp-bounded-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (name, bytes) in corpus { try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name)) }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        process.arguments = ["-c", "ulimit -v \(addressSpace / 1024) && exec \"$0\" \"$@\"", binary, test]
        var environment = ProcessInfo.processInfo.environment
        environment["TVP_BOUNDED_CORPUS"] = folder
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        var problems: [String] = []
        if !output.contains("address-space limit \(addressSpace) bytes") {
            problems.append("the child did not run under the \(addressSpace)-byte address-space limit; its output:\n\(output.suffix(2000))")
        }
        if process.terminationReason != .exit || process.terminationStatus != 0 {
            problems.append("the child under a \(addressSpace >> 30) GiB address-space limit ended with \(process.terminationReason == .exit ? "status" : "signal") \(process.terminationStatus); its output:\n\(output.suffix(4000))")
        }
        for (name, _) in corpus where !output.contains("refused \(name):") {
            problems.append("\(name) was not refused with an error that names it; child output:\n\(output.suffix(2000))")
        }
        return problems
    }

    /// Child: reads every file of the corpus folder with `read`, printing `refused NAME: error` or
    /// `ACCEPTED NAME` per file (an error must name the file to count as refused).
    public static func readCorpus(_ folder: String, _ read: (_ path: String, _ name: String) throws -> Void) throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        print("address-space limit \(limit.rlim_cur) bytes")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder).sorted() {
            let path = folder + "/" + name
            print("reading \(name)")
            fflush(stdout)
            do {
                try read(path, name)
                print("ACCEPTED \(name)")
            } catch {
                let text = String(describing: error)
                print(text.contains(name) ? "refused \(name): \(text)" : "UNNAMED \(name): \(text)")
            }
            fflush(stdout)
        }
    }
}

/// Little builders for hand-made hostile files.
public enum HostileBytes {
    /// CRC-32 (ISO-HDLC, as ZIP and PNG use).
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }

    public static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    public static func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }

    /// A ZIP archive of stored entries. `claims` replaces an entry's central-directory sizes
    /// (method, compressed, uncompressed; 64-bit values go into a ZIP64 extra field).
    public static func zip(_ entries: [(name: String, data: [UInt8])],
                           claims: [String: (method: UInt16, compressed: UInt64, uncompressed: UInt64)] = [:]) -> [UInt8] {
        var out: [UInt8] = [], directory: [UInt8] = []
        for (name, data) in entries {
            let offset = UInt32(out.count), crc = crc32(data), nameBytes = Array(name.utf8)
            out += le(UInt32(0x0403_4b50)) + le(UInt16(20)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0)) + le(crc)
            out += le(UInt32(data.count)) + le(UInt32(data.count)) + le(UInt16(nameBytes.count)) + le(UInt16(0)) + nameBytes + data
            let claim = claims[name] ?? (0, UInt64(data.count), UInt64(data.count))
            let wide = claim.compressed > 0xffff_fffe || claim.uncompressed > 0xffff_fffe
            let extra = wide ? le(UInt16(1)) + le(UInt16(16)) + le(claim.uncompressed) + le(claim.compressed) : []
            directory += le(UInt32(0x0201_4b50)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt16(0)) + le(claim.method) + le(UInt32(0)) + le(crc)
            directory += le(wide ? UInt32.max : UInt32(claim.compressed)) + le(wide ? UInt32.max : UInt32(claim.uncompressed))
            directory += le(UInt16(nameBytes.count)) + le(UInt16(extra.count)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0))
            directory += le(UInt32(0)) + le(offset) + nameBytes + extra
        }
        let directoryOffset = UInt32(out.count)
        out += directory
        out += le(UInt32(0x0605_4b50)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(entries.count)) + le(UInt16(entries.count))
        out += le(UInt32(directory.count)) + le(directoryOffset) + le(UInt16(0))
        return out
    }

    /// A PNG chunk: length, type, data, CRC.
    public static func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be(UInt32(data.count)) + body + be(crc32(body))
    }

    /// A PNG header claiming `width × height` 8-bit RGB pixels, with a tiny IDAT.
    public static func pngClaiming(width: UInt32, height: UInt32) -> [UInt8] {
        [137, 80, 78, 71, 13, 10, 26, 10] + pngChunk("IHDR", be(width) + be(height) + [8, 2, 0, 0, 0])
            + pngChunk("IDAT", [0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01]) + pngChunk("IEND", [])
    }
}
