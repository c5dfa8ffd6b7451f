/// Where something sits in a YAML file: the file's path and a 1-based line and column.
///
/// Columns count Unicode scalars from the start of the line, the way libyaml counts them.
public struct Mark: Hashable, Sendable, CustomStringConvertible {
    public let path: String
    public let line: Int
    public let column: Int

    public init(path: String, line: Int, column: Int) {
        self.path = path
        self.line = line
        self.column = column
    }

    /// `path:line:column`, the form compilers use, so editors can jump to it.
    public var description: String { "\(path):\(line):\(column)" }
}

/// The one error type of the YAML layer: what went wrong and where.
///
/// `description` is `path:line:column: message`, or just the message when the error has no
/// position (for example a file that cannot be read at all, whose message names the path).
public struct YAMLError: Error, CustomStringConvertible, Equatable, Sendable {
    public let mark: Mark?
    public let message: String

    public init(_ message: String, at mark: Mark?) {
        self.mark = mark
        self.message = message
    }

    public var description: String {
        guard let mark else { return message }
        return "\(mark): \(message)"
    }

    /// An "unknown key" error that names the closest allowed key (see `suggest`) or lists them all.
    public static func unknownKey(_ key: String, at mark: Mark, allowed: [String]) -> YAMLError {
        if let guess = suggest(key, from: allowed) {
            return YAMLError("unknown key '\(key)'; did you mean '\(guess)'?", at: mark)
        }
        let list = allowed.isEmpty ? "no keys are allowed here" : "expected one of: " + allowed.joined(separator: ", ")
        return YAMLError("unknown key '\(key)'; \(list)", at: mark)
    }
}

/// The candidate most likely meant by a mistyped `word`, or nil when none is close.
///
/// Close means (comparing case-insensitively): an edit distance (Levenshtein) of at most 2 that is
/// also smaller than the word's length (so "x" does not suggest "lr"), or else a shared prefix of at
/// least 3 characters (so "batch" suggests "batch_size"). The smallest distance wins, then the longest
/// shared prefix, then the earlier candidate. A candidate equal to `word` is never suggested.
public func suggest(_ word: String, from candidates: [String]) -> String? {
    let target = Array(word.lowercased())
    var best: (candidate: String, distance: Int)?
    for candidate in candidates where candidate != word {
        let distance = levenshtein(target, Array(candidate.lowercased()))
        if distance <= 2 && distance < target.count && (best == nil || distance < best!.distance) {
            best = (candidate, distance)
        }
    }
    if let best { return best.candidate }

    var bestPrefix: (candidate: String, length: Int)?
    for candidate in candidates where candidate != word {
        let length = commonPrefixLength(target, Array(candidate.lowercased()))
        if length >= 3 && (bestPrefix == nil || length > bestPrefix!.length) {
            bestPrefix = (candidate, length)
        }
    }
    return bestPrefix?.candidate
}

/// Edit distance: the fewest single-character insertions, deletions and substitutions turning a into b.
func levenshtein(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
            current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

private func commonPrefixLength(_ a: [Character], _ b: [Character]) -> Int {
    var length = 0
    while length < a.count && length < b.count && a[length] == b[length] { length += 1 }
    return length
}
