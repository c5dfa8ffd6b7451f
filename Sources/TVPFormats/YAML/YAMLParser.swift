import CYAML

/// Parses YAML text into `YAMLNode` trees with libyaml's event API.
///
/// Beyond plain YAML it resolves anchors and aliases (an alias becomes a copy of the anchored node,
/// marks included), applies YAML 1.1 merge keys (`<<: *base`, `<<: [*a, *b]`: explicit keys win,
/// earlier sources win over later ones), and refuses duplicate keys, non-scalar keys, unknown aliases
/// and invalid explicitly tagged scalars (`!!int abc`), each with file:line:column. Sequences and
/// mappings nest at most `ReaderLimits.maxYAMLDepth` levels, and the aliases of one document may
/// add at most `ReaderLimits.maxYAMLAliasNodes` nodes (an alias bomb — nested anchors each used many
/// times — would otherwise grow exponentially for whoever walks the tree).
public enum YAMLParser {
    /// Parses a file holding exactly one document; an empty file gives a null scalar at 1:1.
    /// A second document (`---` after the first) is an error: use `parseDocuments` to accept several.
    public static func parse(_ text: String, path: String = "<string>") throws -> YAMLNode {
        try parse(bytes: Array(text.utf8), path: path)
    }

    /// `parse` on raw bytes (UTF-8, or UTF-16 with a byte order mark, as libyaml reads them).
    public static func parse(bytes: [UInt8], path: String) throws -> YAMLNode {
        let documents = try parseStream(bytes, path: path, allowMultipleDocuments: false)
        return documents.first ?? .scalar("", YAMLScalarInfo(), Mark(path: path, line: 1, column: 1))
    }

    /// Every document of a stream, in order (anchors do not cross document boundaries).
    public static func parseDocuments(_ text: String, path: String = "<string>") throws -> [YAMLNode] {
        try parseStream(Array(text.utf8), path: path, allowMultipleDocuments: true)
    }

    static func parseStream(_ bytes: [UInt8], path: String, allowMultipleDocuments: Bool) throws -> [YAMLNode] {
        let parser = UnsafeMutablePointer<yaml_parser_t>.allocate(capacity: 1)
        defer { parser.deallocate() }
        guard yaml_parser_initialize(parser) == 1 else {
            throw YAMLError("\(path): libyaml could not allocate a parser", at: nil)
        }
        defer { yaml_parser_delete(parser) }

        // libyaml requires a non-null input pointer even for an empty stream.
        let input = bytes.isEmpty ? [UInt8(0)] : bytes
        return try input.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(parser, buffer.baseAddress, bytes.count)
            var builder = TreeBuilder(path: path, allowMultipleDocuments: allowMultipleDocuments)
            var event = yaml_event_t()
            var finished = false
            while !finished {
                guard yaml_parser_parse(parser, &event) == 1 else {
                    throw libyamlError(parser.pointee, bytes: bytes, path: path)
                }
                defer { yaml_event_delete(&event) }
                finished = try builder.handle(event)
            }
            return builder.documents
        }
    }
}

/// Turns libyaml's error fields into a `YAMLError` at the problem's position (1-based).
private func libyamlError(_ parser: yaml_parser_t, bytes: [UInt8], path: String) -> YAMLError {
    let problem = parser.problem.map { String(cString: $0) } ?? "unknown error"
    switch parser.error {
    case YAML_MEMORY_ERROR:
        return YAMLError("\(path): libyaml ran out of memory", at: nil)
    case YAML_READER_ERROR:
        // Reader errors (bad encoding) carry a byte offset, not a mark.
        let value = parser.problem_value == -1 ? "" : " (byte 0x" + String(parser.problem_value, radix: 16) + ")"
        return YAMLError("\(problem)\(value)", at: markOfByte(parser.problem_offset, in: bytes, path: path))
    default:
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message += " (\(context) at line \(parser.context_mark.line + 1), column \(parser.context_mark.column + 1))"
        }
        return YAMLError(message, at: mark(parser.problem_mark, path))
    }
}

private func mark(_ mark: yaml_mark_t, _ path: String) -> Mark {
    Mark(path: path, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
}

/// Line and column (counting UTF-8 scalars) of a byte offset.
private func markOfByte(_ offset: Int, in bytes: [UInt8], path: String) -> Mark {
    var line = 1
    var column = 1
    for byte in bytes.prefix(offset) {
        if byte == UInt8(ascii: "\n") {
            line += 1
            column = 1
        } else if byte & 0xC0 != 0x80 {
            column += 1
        }
    }
    return Mark(path: path, line: line, column: column)
}

private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
}

/// Builds nodes bottom-up from the event stream.
private struct TreeBuilder {
    struct Frame {
        let isMapping: Bool
        let mark: Mark
        let anchor: String?
        /// Sequence elements, or mapping keys and values alternating.
        var children: [YAMLNode] = []
        /// Nodes in this subtree with aliases expanded (this node included).
        var nodes = 1
    }

    let path: String
    let allowMultipleDocuments: Bool
    var documents: [YAMLNode] = []
    /// Anchored nodes by name, with their node counts (aliases expanded).
    var anchors: [String: (node: YAMLNode, nodes: Int)] = [:]
    var stack: [Frame] = []
    var root: YAMLNode?
    /// Nodes the aliases of the current document have added so far.
    var aliasNodes = 0

    init(path: String, allowMultipleDocuments: Bool) {
        self.path = path
        self.allowMultipleDocuments = allowMultipleDocuments
    }

    /// Consumes one event; returns true at the end of the stream.
    mutating func handle(_ event: yaml_event_t) throws -> Bool {
        let start = mark(event.start_mark, path)
        switch event.type {
        case YAML_STREAM_END_EVENT:
            return true
        case YAML_DOCUMENT_START_EVENT:
            if !documents.isEmpty && !allowMultipleDocuments {
                throw YAMLError("a second YAML document starts here; this file must hold exactly one document", at: start)
            }
            anchors = [:]
            root = nil
            aliasNodes = 0
        case YAML_DOCUMENT_END_EVENT:
            documents.append(root ?? .scalar("", YAMLScalarInfo(), start))
        case YAML_ALIAS_EVENT:
            let name = string(event.data.alias.anchor) ?? ""
            guard let anchored = anchors[name] else {
                if stack.contains(where: { $0.anchor == name }) {
                    throw YAMLError("alias '*\(name)' refers to a node that contains it (recursive aliases are not supported)", at: start)
                }
                let known = anchors.keys.sorted()
                let hint = suggest(name, from: known).map { "; did you mean '*\($0)'?" } ?? ""
                throw YAMLError("unknown alias '*\(name)': no anchor '&\(name)' is defined before it\(hint)", at: start)
            }
            aliasNodes += anchored.nodes
            guard aliasNodes <= ReaderLimits.maxYAMLAliasNodes else {
                throw YAMLError("alias '*\(name)' (\(anchored.nodes) nodes) brings the nodes added by aliases in this document to \(aliasNodes), more than the limit of \(ReaderLimits.maxYAMLAliasNodes) (nested aliases multiply; write the values out or use fewer levels)", at: start)
            }
            try add(anchored.node, nodes: anchored.nodes)
        case YAML_SCALAR_EVENT:
            let scalar = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: scalar.value, count: Int(scalar.length)), as: UTF8.self)
            let info = YAMLScalarInfo(style: style(scalar.style), tag: string(scalar.tag))
            if let tag = info.tag, resolveScalar(text, info) == nil {
                throw YAMLError("'\(text)' is not a valid \(shortTag(tag))", at: start)
            }
            let node = YAMLNode.scalar(text, info, start)
            if let anchor = string(scalar.anchor) { anchors[anchor] = (node, 1) }
            try add(node, nodes: 1)
        case YAML_SEQUENCE_START_EVENT:
            try open(isMapping: false, tag: string(event.data.sequence_start.tag),
                     anchor: string(event.data.sequence_start.anchor), at: start)
        case YAML_MAPPING_START_EVENT:
            try open(isMapping: true, tag: string(event.data.mapping_start.tag),
                     anchor: string(event.data.mapping_start.anchor), at: start)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let frame = stack.removeLast()
            let node = frame.isMapping
                ? try buildMapping(frame.children, mark: frame.mark)
                : YAMLNode.sequence(frame.children, frame.mark)
            if let anchor = frame.anchor { anchors[anchor] = (node, frame.nodes) }
            try add(node, nodes: frame.nodes)
        default:
            break  // STREAM_START, NO_EVENT
        }
        return false
    }

    /// Adds `node` (a subtree of `nodes` nodes, aliases expanded) to the open collection or as the root.
    private mutating func add(_ node: YAMLNode, nodes: Int) throws {
        if stack.isEmpty {
            root = node
        } else {
            stack[stack.count - 1].children.append(node)
            stack[stack.count - 1].nodes += nodes
        }
    }

    /// Opens a sequence or mapping: only YAML's core tag of its kind is accepted, and it may not
    /// nest deeper than `ReaderLimits.maxYAMLDepth`.
    private mutating func open(isMapping: Bool, tag: String?, anchor: String?, at mark: Mark) throws {
        let kind = isMapping ? "map" : "seq"
        if let tag, tag != yamlCoreTagPrefix + kind {
            throw YAMLError("unsupported tag '\(shortTag(tag))' on a \(isMapping ? "mapping" : "sequence")", at: mark)
        }
        guard stack.count < ReaderLimits.maxYAMLDepth else {
            throw YAMLError("sequences and mappings nested more than \(ReaderLimits.maxYAMLDepth) levels deep (the limit for tvp's YAML files)", at: mark)
        }
        stack.append(Frame(isMapping: isMapping, mark: mark, anchor: anchor))
    }

    private func style(_ style: yaml_scalar_style_t) -> YAMLScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: return .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: return .literal
        case YAML_FOLDED_SCALAR_STYLE: return .folded
        default: return .plain
        }
    }

    /// Checks keys (scalars, unique) and applies merge keys: explicit keys win over merged ones, and
    /// among merge sources the earlier wins. Merged pairs take the place of their `<<` entry.
    private func buildMapping(_ children: [YAMLNode], mark: Mark) throws -> YAMLNode {
        enum Entry {
            case explicit(key: YAMLNode, value: YAMLNode)
            case merge(sources: [[(key: YAMLNode, value: YAMLNode)]])
        }
        var entries: [Entry] = []
        var firstSeen: [String: Mark] = [:]
        var explicitKeys: Set<String> = []
        for index in stride(from: 0, to: children.count, by: 2) {
            let key = children[index]
            let value = children[index + 1]
            guard case .scalar(let text, let info, let keyMark) = key else {
                throw YAMLError("mapping keys must be scalars, found \(key.kindDescription)", at: key.mark)
            }
            if let first = firstSeen[text] {
                throw YAMLError("duplicate key '\(text)' (first defined at \(first))", at: keyMark)
            }
            firstSeen[text] = keyMark
            let isMerge = (text == "<<" && info.style == .plain && info.tag == nil) || info.tag == yamlCoreTagPrefix + "merge"
            if isMerge {
                entries.append(.merge(sources: try mergeSources(value)))
            } else {
                explicitKeys.insert(text)
                entries.append(.explicit(key: key, value: value))
            }
        }

        var pairs: [(key: YAMLNode, value: YAMLNode)] = []
        var present = explicitKeys
        for entry in entries {
            switch entry {
            case .explicit(let key, let value):
                pairs.append((key, value))
            case .merge(let sources):
                for source in sources {
                    for pair in source {
                        let text = pair.key.scalarText ?? ""
                        if present.insert(text).inserted { pairs.append(pair) }
                    }
                }
            }
        }
        return .mapping(pairs, mark)
    }

    private func mergeSources(_ value: YAMLNode) throws -> [[(key: YAMLNode, value: YAMLNode)]] {
        switch value {
        case .mapping(let pairs, _):
            return [pairs]
        case .sequence(let items, _):
            return try items.map { item in
                guard case .mapping(let pairs, _) = item else {
                    throw YAMLError("a merge source must be a mapping (like *base), found \(item.kindDescription)", at: item.mark)
                }
                return pairs
            }
        case .scalar:
            throw YAMLError("merge key '<<' expects a mapping or a list of mappings (like <<: *base or <<: [*a, *b]), found \(value.kindDescription)", at: value.mark)
        }
    }
}
