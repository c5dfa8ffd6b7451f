import Foundation

/// A BPE merge table over token ids: the pair (left, right) merges into `merged` with priority
/// `rank` (lower merges first). Applying it follows Hugging Face `tokenizers` (word.rs): repeatedly
/// merge the adjacent pair of lowest rank, the leftmost one on ties, with a priority queue and a
/// linked list of symbols, O(n log n) in the word length (SentencePiece-style models feed whole
/// sentences as one word). For merge lists learned by BPE training this gives the same result as
/// GPT-2's and CLIP's "merge every occurrence of the best bigram" loop.
public struct BPEMergeTable: Sendable {
    /// (left << 32 | right) → (rank << 32 | merged).
    private var table: [UInt64: UInt64] = [:]

    /// Merges in rank order; a pair listed twice keeps its later rank (as HF and CLIP's dicts do).
    public init(merges: [(left: Int, right: Int, merged: Int)]) {
        table.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            table[Self.key(m.left, m.right)] = UInt64(rank) << 32 | UInt64(UInt32(truncatingIfNeeded: m.merged))
        }
    }

    /// The number of distinct merge pairs.
    public var count: Int { table.count }

    @inline(__always) private static func key(_ a: Int, _ b: Int) -> UInt64 {
        UInt64(UInt32(truncatingIfNeeded: a)) << 32 | UInt64(UInt32(truncatingIfNeeded: b))
    }

    /// (rank, merged id) of the pair, if it merges.
    public func merge(_ left: Int, _ right: Int) -> (rank: Int, merged: Int)? {
        guard let v = table[Self.key(left, right)] else { return nil }
        return (Int(v >> 32), Int(v & 0xFFFF_FFFF))
    }

    /// The symbols after all applicable merges.
    public func apply(to symbols: [Int]) -> [Int] {
        let n = symbols.count
        if n < 2 { return symbols }
        var ids = symbols
        var next = [Int](repeating: -1, count: n), prev = [Int](repeating: -1, count: n)
        var alive = [Bool](repeating: true, count: n)
        for i in 0..<n { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1 }
        // Min-heap of rank << 32 | left position: lowest rank first, leftmost on ties.
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            if let v = table[Self.key(ids[i], ids[i + 1])] { heap.push((v >> 32) << 32 | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = top >> 32, pos = Int(top & 0xFFFF_FFFF)
            guard alive[pos] else { continue }
            let right = next[pos]
            guard right >= 0, let v = table[Self.key(ids[pos], ids[right])], v >> 32 == rank else { continue }
            ids[pos] = Int(v & 0xFFFF_FFFF)
            alive[right] = false
            next[pos] = next[right]
            if next[right] >= 0 { prev[next[right]] = pos }
            let before = prev[pos]
            if before >= 0, let w = table[Self.key(ids[before], ids[pos])] { heap.push((w >> 32) << 32 | UInt64(before)) }
            let after = next[pos]
            if after >= 0, let w = table[Self.key(ids[pos], ids[after])] { heap.push((w >> 32) << 32 | UInt64(pos)) }
        }
        var out: [Int] = []
        var i = 0
        while i >= 0 { out.append(ids[i]); i = next[i] }
        return out
    }
}

/// A binary min-heap of UInt64 keys.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ x: UInt64) {
        items.append(x)
        var c = items.count - 1
        while c > 0 {
            let p = (c - 1) / 2
            if items[p] <= items[c] { break }
            items.swapAt(p, c)
            c = p
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var p = 0
        let n = items.count
        while true {
            let l = 2 * p + 1, r = l + 1
            var m = p
            if l < n && items[l] < items[m] { m = l }
            if r < n && items[r] < items[m] { m = r }
            if m == p { break }
            items.swapAt(p, m)
            p = m
        }
        return first
    }
}

/// A bounded, locked cache from pre-tokenized words to their ids (BPE and WordPiece results).
final class WordCache: @unchecked Sendable {
    private var entries: [String: [Int]] = [:]
    private let lock = NSLock()
    private let capacity: Int
    /// Words longer than this (in UTF-8 bytes) are not cached.
    let maxWordBytes = 256

    init(capacity: Int = 100_000) { self.capacity = capacity }

    func ids(_ word: String, compute: () -> [Int]) -> [Int] {
        if word.utf8.count > maxWordBytes { return compute() }
        lock.lock()
        if let hit = entries[word] { lock.unlock(); return hit }
        lock.unlock()
        let ids = compute()
        lock.lock()
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[word] = ids
        lock.unlock()
        return ids
    }
}

/// GPT-2's reversible byte ↔ printable-character table (`bytes_to_unicode` in openai/gpt-2 and
/// openai/CLIP): printable Latin-1 bytes map to themselves, the other 68 to U+0100 onwards.
public enum ByteLevelAlphabet {
    /// The character standing for each byte value.
    public static let characters: [Character] = {
        var printable: [Int] = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var extra = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(printable, codes) { table[b] = Character(Unicode.Scalar(UInt32(c))!) }
        return table
    }()

    /// The byte each table character stands for (keyed by scalar value).
    public static let bytes: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, c) in characters.enumerated() { map[c.unicodeScalars.first!.value] = UInt8(b) }
        return map
    }()

    /// The bytes of a byte-level token string; characters outside the table contribute their own UTF-8.
    public static func decode(_ token: String, into bytes: inout [UInt8]) {
        for s in token.unicodeScalars {
            if let b = Self.bytes[s.value] { bytes.append(b) } else { bytes.append(contentsOf: String(s).utf8) }
        }
    }
}
