import CZlib

// A minimal ZIP reader for PyTorch checkpoints: the end-of-central-directory record (ZIP64 too),
// the central directory, local headers, stored entries read in place and deflated ones inflated
// with zlib. CRC-32 is checked for every entry read. Sizes and offsets are checked against the
// file before anything is read or allocated: an entry's data must lie inside the file, and a
// deflated entry may claim no more than deflate can produce from its compressed bytes (1032:1)
// and no more than `ReaderLimits.maxExpandedBytes`.

/// One file inside a ZIP archive.
public struct ZipEntry {
    public let name: String
    /// 0 stored, 8 deflated.
    public let method: UInt16
    public let crc32: UInt32
    public let compressedSize: Int
    public let uncompressedSize: Int
    public let localHeaderOffset: Int
}

/// The central directory of a memory-mapped ZIP archive.
public struct ZipArchive {
    public let file: MappedFile
    /// Entries in central-directory order.
    public let entries: [ZipEntry]
    public let byName: [String: Int]

    public init(_ file: MappedFile) throws {
        self.file = file
        let path = file.path, bytes = file.bytes
        func fail(_ m: String) -> FormatError { FormatError(path, "ZIP archive: \(m)") }

        // The EOCD record (22 bytes + comment of up to 65535) sits at the end.
        guard bytes.count >= 22 else { throw fail("\(bytes.count) bytes is too short for an end-of-central-directory record") }
        var eocd = -1
        var i = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65_535)
        while i >= lowest {
            if bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self) == UInt32(0x0605_4b50).littleEndian { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else { throw fail("no end-of-central-directory record (truncated or not a ZIP file)") }
        var r = ByteReader(bytes, file: path, position: eocd + 10)
        var count = Int(try r.u16("entry count"))
        var directorySize = Int(try r.u32("central directory size"))
        var directoryOffset = Int(try r.u32("central directory offset"))
        if count == 0xffff || directorySize == 0xffff_ffff || directoryOffset == 0xffff_ffff {
            // ZIP64: a locator 20 bytes before the EOCD points at the ZIP64 EOCD record.
            guard eocd >= 20 else { throw fail("ZIP64 locator missing") }
            var locator = ByteReader(bytes, file: path, position: eocd - 20)
            guard try locator.u32("ZIP64 locator signature") == 0x0706_4b50 else { throw fail("ZIP64 locator missing") }
            _ = try locator.u32("disk")
            let recordOffset = try locator.u64("ZIP64 record offset")
            guard recordOffset < UInt64(bytes.count) else { throw fail("ZIP64 record offset \(recordOffset) beyond the file") }
            var record = ByteReader(bytes, file: path, position: Int(recordOffset))
            guard try record.u32("ZIP64 record signature") == 0x0606_4b50 else { throw fail("bad ZIP64 end-of-central-directory record") }
            record.position += 28
            let n = try record.u64("ZIP64 entry count"), size = try record.u64("ZIP64 directory size"), offset = try record.u64("ZIP64 directory offset")
            guard n <= UInt64(bytes.count), size <= UInt64(bytes.count), offset <= UInt64(bytes.count) else { throw fail("ZIP64 record out of range") }
            (count, directorySize, directoryOffset) = (Int(n), Int(size), Int(offset))
        }
        guard CheckedSize.fits(offset: directoryOffset, count: directorySize, in: bytes.count) else {
            throw fail("central directory [\(directoryOffset), \(directoryOffset + directorySize)) lies beyond the end of the file (\(bytes.count) bytes)")
        }

        var entries: [ZipEntry] = []
        var byName: [String: Int] = [:]
        var d = ByteReader(bytes, file: path, position: directoryOffset)
        for k in 0..<count {
            guard try d.u32("central header signature") == 0x0201_4b50 else { throw fail("central directory entry #\(k) has a bad signature") }
            d.position += 4                                  // versions
            let flags = try d.u16("flags")
            let method = try d.u16("method")
            d.position += 4                                  // time, date
            let crc = try d.u32("crc")
            var compressed = UInt64(try d.u32("compressed size"))
            var uncompressed = UInt64(try d.u32("uncompressed size"))
            let nameLength = Int(try d.u16("name length")), extraLength = Int(try d.u16("extra length")), commentLength = Int(try d.u16("comment length"))
            d.position += 8                                  // disk, attributes
            var localOffset = UInt64(try d.u32("local header offset"))
            let name = try d.utf8(nameLength, "entry name")
            var extra = ByteReader(try d.slice(extraLength, "extra field of '\(name)'"), file: path)
            _ = try d.slice(commentLength, "comment of '\(name)'")
            while extra.remaining >= 4 {
                let id = try extra.u16("extra id"), size = Int(try extra.u16("extra size"))
                var field = ByteReader(try extra.slice(size, "extra field"), file: path)
                if id == 0x0001 {                           // ZIP64 sizes, present only where the 32-bit field is saturated
                    if uncompressed == 0xffff_ffff { uncompressed = try field.u64("ZIP64 uncompressed size") }
                    if compressed == 0xffff_ffff { compressed = try field.u64("ZIP64 compressed size") }
                    if localOffset == 0xffff_ffff { localOffset = try field.u64("ZIP64 local header offset") }
                }
            }
            guard flags & 1 == 0 else { throw fail("entry '\(name)' is encrypted") }
            guard compressed <= UInt64(bytes.count), localOffset < UInt64(bytes.count), uncompressed <= UInt64(Int.max) else {
                throw fail("entry '\(name)' claims \(compressed) compressed and \(uncompressed) uncompressed bytes at offset \(localOffset), out of range of the \(bytes.count)-byte file (truncated or damaged)")
            }
            // Deflate turns at most 258 bytes into 2 bits (1032:1).
            if method == 8, uncompressed / 1032 > compressed + 1 {
                throw fail("entry '\(name)' claims \(uncompressed) bytes from \(compressed) deflated bytes, more than deflate can produce (damaged directory)")
            }
            byName[name] = entries.count
            entries.append(ZipEntry(name: name, method: method, crc32: crc, compressedSize: Int(compressed),
                                    uncompressedSize: Int(uncompressed), localHeaderOffset: Int(localOffset)))
        }
        self.entries = entries
        self.byName = byName
    }

    /// Calls `body` with the uncompressed bytes of `entry` (in place for stored entries).
    public func withContents<R>(_ entry: ZipEntry, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let path = file.path
        var r = ByteReader(file.bytes, file: path, position: entry.localHeaderOffset)
        guard try r.u32("local header signature of '\(entry.name)'") == 0x0403_4b50 else {
            throw FormatError(path, "ZIP archive: entry '\(entry.name)' has a bad local header at offset \(entry.localHeaderOffset)")
        }
        r.position += 22
        let nameLength = Int(try r.u16("name length")), extraLength = Int(try r.u16("extra length"))
        r.position += nameLength + extraLength
        let stored = try r.slice(entry.compressedSize, "data of '\(entry.name)' (\(entry.compressedSize) bytes)")

        func check(_ data: UnsafeRawBufferPointer) throws {
            var crc: UInt = 0
            var done = 0
            while done < data.count {                       // zlib takes 32-bit lengths
                let n = min(data.count - done, 1 << 30)
                crc = CZlib.crc32(crc, data.baseAddress!.assumingMemoryBound(to: UInt8.self) + done, UInt32(n))
                done += n
            }
            guard UInt32(truncatingIfNeeded: crc) == entry.crc32 else {
                throw FormatError(path, "ZIP archive: entry '\(entry.name)' fails its CRC-32 check (corrupted file)")
            }
        }

        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw FormatError(path, "ZIP archive: stored entry '\(entry.name)' has different compressed and uncompressed sizes")
            }
            try check(stored)
            return try body(stored)
        case 8:
            if let problem = ReaderLimits.expandedProblem(entry.uncompressedSize, "inflating entry '\(entry.name)'") {
                throw FormatError(path, "ZIP archive: \(problem)")
            }
            var output = [UInt8](repeating: 0, count: entry.uncompressedSize)
            try output.withUnsafeMutableBytes { out in try Self.inflate(stored, into: out, name: entry.name, path: path) }
            return try output.withUnsafeBytes { data in
                try check(data)
                return try body(data)
            }
        default:
            throw FormatError(path, "ZIP archive: entry '\(entry.name)' uses compression method \(entry.method) (only stored and deflated are supported)")
        }
    }

    private static func inflate(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, name: String, path: String) throws {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw FormatError(path, "ZIP archive: zlib could not start inflating '\(name)'")
        }
        defer { inflateEnd(&stream) }
        var consumed = 0, produced = 0
        while true {
            let inChunk = min(input.count - consumed, 1 << 30), outChunk = min(output.count - produced, 1 << 30)
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: UInt8.self).advanced(by: consumed))
            stream.avail_in = UInt32(inChunk)
            stream.next_out = output.baseAddress?.assumingMemoryBound(to: UInt8.self).advanced(by: produced)
            stream.avail_out = UInt32(outChunk)
            let status = CZlib.inflate(&stream, Z_NO_FLUSH)
            consumed += inChunk - Int(stream.avail_in)
            produced += outChunk - Int(stream.avail_out)
            if status == Z_STREAM_END { break }
            guard status == Z_OK, inChunk - Int(stream.avail_in) + outChunk - Int(stream.avail_out) > 0 else {
                throw FormatError(path, "ZIP archive: entry '\(name)' does not inflate (zlib status \(status) after \(produced) bytes)")
            }
        }
        guard produced == output.count else {
            throw FormatError(path, "ZIP archive: entry '\(name)' inflates to \(produced) bytes, the directory says \(output.count)")
        }
    }
}
