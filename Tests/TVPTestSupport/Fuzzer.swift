import Foundation

/// Seeded, time-bounded mutation fuzzing of file readers, shared by the reader test suites.
///
/// Each case is a valid seed file with one to three mutations: bytes flipped or set to boundary
/// values, the file cut short, chunks deleted or repeated, or a huge integer (2^31, 2^32 − 1, 2^62,
/// 2^63 − 1, −1, …) written over 2, 4 or 8 bytes where size fields sit. The reader must either read
/// the case or throw an error whose text names the file and says what is wrong; a crash ends the
/// test process (the case that did it is left in `failureFolder`), and a case slower than
/// `slowCaseSeconds` fails the test as a hang. `TVP_FUZZ_SECONDS` sets the time per reader
/// (default 2 s in the suite), `TVP_FUZZ_SEED` the first seed.
public struct Fuzzer {
    public struct Report: CustomStringConvertible {
        public var reader: String
        public var cases = 0
        /// Cases the reader refused with a proper error.
        public var errors = 0
        /// Cases the reader read without error (mutations that keep a file valid).
        public var accepted = 0
        public var slowestSeconds = 0.0
        /// What went wrong: errors that do not name the file, cases slower than the limit.
        public var problems: [String] = []

        /// Why the run fails (empty when it passes): a problem above, no case run, or no case
        /// refused (the mutations did not reach the reader).
        public var failures: [String] {
            problems + (cases == 0 ? ["\(reader): no case ran"] : []) + (cases > 0 && errors == 0 ? ["\(reader): no mutation was refused"] : [])
        }

        public var description: String {
            "fuzz \(reader): \(cases) cases, \(errors) errors, \(accepted) read, slowest \(String(format: "%.0f", slowestSeconds * 1000)) ms, \(problems.count) problems"
        }
    }

    public let reader: String
    public let seeds: [[UInt8]]
    public var seconds: Double
    public var seed: UInt64
    public var slowCaseSeconds = 5.0
    /// Where the case being read is written (a file named after the reader); it stays there when
    /// the process crashes, and failing cases are copied next to it.
    public var failureFolder: String

    public init(reader: String, seeds: [[UInt8]], defaultSeconds: Double = 2) {
        precondition(!seeds.isEmpty, "a fuzzer needs at least one seed file")
        let environment = ProcessInfo.processInfo.environment
        self.reader = reader
        self.seeds = seeds
        seconds = environment["TVP_FUZZ_SECONDS"].flatMap(Double.init) ?? defaultSeconds
        seed = environment["TVP_FUZZ_SEED"].flatMap(UInt64.init) ?? 1
        failureFolder = NSTemporaryDirectory() + "tvp-fuzz"
    }

    /// Runs cases until the time is spent. `read` reads the file at the path it is given (named
    /// `fileName`, so that extension-based readers work) and throws on bad input.
    public func run(fileName: String, _ read: (String) throws -> Void) throws -> Report {
        try FileManager.default.createDirectory(atPath: failureFolder, withIntermediateDirectories: true)
        let folder = failureFolder + "/\(reader)-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = folder + "/" + fileName
        var report = Report(reader: reader)
        var random = SplitMix64(seed: seed)
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            var bytes = seeds[Int(random.next() % UInt64(seeds.count))]
            // One case in sixteen is a seed as it is: the reader must read those.
            let pristine = random.next() % 16 == 0
            if !pristine { for _ in 0...(random.next() % 3) { Self.mutate(&bytes, &random) } }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            report.cases += 1
            let start = Date()
            do {
                try read(path)
                report.accepted += 1
            } catch {
                report.errors += 1
                let text = String(describing: error)
                if pristine {
                    report.problems.append("an unmodified seed was refused: \(text)")
                } else if !text.contains(path) && !text.contains(fileName) {
                    report.problems.append("error does not name the file (\(keep(bytes, folder, report.cases))): \(text)")
                } else if text.count < path.count + 12 {
                    report.problems.append("error does not say what is wrong (\(keep(bytes, folder, report.cases))): \(text)")
                }
            }
            let elapsed = Date().timeIntervalSince(start)
            report.slowestSeconds = max(report.slowestSeconds, elapsed)
            if elapsed > slowCaseSeconds {
                report.problems.append("case took \(String(format: "%.1f", elapsed)) s (\(keep(bytes, folder, report.cases)))")
            }
        } while Date() < deadline && report.problems.count < 5
        if report.problems.isEmpty { try? FileManager.default.removeItem(atPath: folder) }
        return report
    }

    /// Copies a failing case next to the current one; returns its path.
    private func keep(_ bytes: [UInt8], _ folder: String, _ number: Int) -> String {
        let path = folder + "/case-\(number).bin"
        try? Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let hugeValues: [UInt64] = [
        0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x1_0000_0000,
        1 << 40, 1 << 62, UInt64(Int64.max), UInt64.max, UInt64.max - 1,
    ]

    /// Applies one random mutation to `bytes`.
    static func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        guard !bytes.isEmpty else { bytes = [UInt8(truncatingIfNeeded: random.next())]; return }
        // Headers carry the sizes: aim at the first 256 bytes half of the time.
        func offset() -> Int {
            let span = random.next() % 2 == 0 ? min(bytes.count, 256) : bytes.count
            return Int(random.next() % UInt64(span))
        }
        switch random.next() % 7 {
        case 0:   // flip bits
            for _ in 0...(random.next() % 4) { bytes[offset()] ^= UInt8(1 << (random.next() % 8)) }
        case 1:   // boundary byte values
            bytes[offset()] = [0x00, 0xff, 0x7f, 0x80, 0x01][Int(random.next() % 5)]
        case 2:   // cut short
            bytes.removeSubrange(Int(random.next() % UInt64(bytes.count))...)
        case 3:   // delete a chunk
            let start = offset()
            bytes.removeSubrange(start..<min(bytes.count, start + 1 + Int(random.next() % 64)))
        case 4:   // repeat a chunk
            let start = offset()
            let chunk = bytes[start..<min(bytes.count, start + 1 + Int(random.next() % 64))]
            bytes.insert(contentsOf: chunk, at: offset())
        default:  // a huge or boundary integer over 2, 4 or 8 bytes, either byte order
            let width = [2, 4, 8][Int(random.next() % 3)]
            let value = hugeValues[Int(random.next() % UInt64(hugeValues.count))]
            let bigEndian = random.next() % 4 == 0
            let at = offset()
            for k in 0..<width where at + k < bytes.count {
                let shift = UInt64(bigEndian ? width - 1 - k : k) * 8
                bytes[at + k] = UInt8(truncatingIfNeeded: value >> shift)
            }
        }
    }
}

/// A small, fast, seedable generator (SplitMix64), so a fuzz run is repeatable from its seed.
public struct SplitMix64 {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
