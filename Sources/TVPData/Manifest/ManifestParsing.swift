import TVPFormats

// Reading one asset of datasets.manifest from its YAML node, checking the schema described at the top
// of that file. Every error carries the mark of the offending node.

func parseAsset(name: String, nameMark: Mark, node: YAMLNode) throws -> Asset {
    guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
        throw YAMLError("asset name '\(name)' must be non-empty and contain no '/' (it names a cache folder)", at: nameMark)
    }
    try node.checkKeys(allowed: ["kind", "licence", "citation", "task", "loader", "splits", "requires", "notes", "files"])
    let kindNode = try node.required("kind")
    guard let kind = AssetKind(rawValue: try kindNode.string()) else {
        throw unknownName(try kindNode.string(), among: AssetKind.allCases.map(\.rawValue), what: "kind", at: kindNode.mark)
    }
    let loaderNode = try node.required("loader")
    let loader = try loaderNode.string()
    guard Manifest.loaders.contains(loader) else { throw unknownName(loader, among: Manifest.loaders, what: "loader", at: loaderNode.mark) }

    var files: [FileEntry] = []
    for (key, value) in try node.required("files").entries() {
        let fileName = try key.string()
        guard isPlainRelativePath(fileName) else {
            throw YAMLError("file name '\(fileName)' must be a relative path without '.' or '..' parts", at: key.mark)
        }
        files.append(try parseFile(name: fileName, node: value))
    }
    guard !files.isEmpty else { throw YAMLError("asset '\(name)' lists no files", at: try node.required("files").mark) }

    var splits: [Split] = []
    if let splitsNode = node["splits"] {
        for (key, value) in try splitsNode.entries() {
            var entries: [SplitEntry] = []
            for item in try value.items() {
                entries.append(try parseSplitEntry(item, files: files))
            }
            splits.append(Split(name: try key.string(), entries: entries))
        }
    }
    let requires = try node["requires"].map { try $0.items().map { try $0.string() } } ?? []
    return Asset(name: name, kind: kind, licence: try node.required("licence").string(), citation: try node.required("citation").string(),
                 task: try node["task"]?.string(), loader: loader, splits: splits, requires: requires,
                 notes: try node["notes"]?.string(), files: files, mark: nameMark)
}

/// `FILE` or `ARCHIVE!MEMBER`, where FILE/ARCHIVE are keys of `files` and ARCHIVE declares `archive:`.
private func parseSplitEntry(_ node: YAMLNode, files: [FileEntry]) throws -> SplitEntry {
    let text = try node.string()
    let parts = text.split(separator: "!", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    let fileName = parts[0]
    guard let file = files.first(where: { $0.name == fileName }) else {
        throw unknownName(fileName, among: files.map(\.name), what: "file", at: node.mark)
    }
    guard parts.count == 2 else { return SplitEntry(file: fileName, member: nil) }
    guard file.archive != nil else {
        throw YAMLError("'\(text)' reads a member of '\(fileName)', which declares no 'archive' (tar, tar.gz or zip)", at: node.mark)
    }
    guard !parts[1].isEmpty else { throw YAMLError("'\(text)' names no member after '!'", at: node.mark) }
    guard isPlainRelativePath(parts[1].hasSuffix("/") ? String(parts[1].dropLast()) : parts[1]) else {
        throw YAMLError("member '\(parts[1])' of '\(text)' must be a relative path inside the archive, without '.' or '..' parts", at: node.mark)
    }
    return SplitEntry(file: fileName, member: parts[1])
}

/// Whether `path` is relative and stays inside its folder: not empty, no leading '/', no empty,
/// '.' or '..' components, no NUL (what a manifest may name inside an asset or an archive).
public func isPlainRelativePath(_ path: String) -> Bool {
    !path.isEmpty && !path.hasPrefix("/") && !path.contains("\0")
        && !path.split(separator: "/", omittingEmptySubsequences: false).contains { $0.isEmpty || $0 == "." || $0 == ".." }
}

private let checksumKeys = ["sha256", "md5", "sha256_any_of", "checksum"]

func parseFile(name: String, node: YAMLNode) throws -> FileEntry {
    try node.checkKeys(allowed: ["size"] + checksumKeys + ["content_size", "content_sha256", "archive", "members", "licence", "sources"])
    let present = checksumKeys.filter { node[$0] != nil }
    guard present.count == 1 else {
        let message = present.isEmpty
            ? "file '\(name)' has no checksum; give one of sha256, md5, sha256_any_of, or checksum: \"none published\""
            : "file '\(name)' has several checksums (\(present.joined(separator: ", "))); give exactly one"
        throw YAMLError(message, at: node.mark)
    }
    let checksum = try parseChecksum(key: present[0], node: node.required(present[0]))

    let sizeNode = try node.required("size")
    var size: Int?
    if sizeNode.scalarText == "unknown", (try? sizeNode.string()) != nil {
        size = nil
    } else {
        guard let value = try? sizeNode.int(), value >= 0 else {
            throw YAMLError("size must be a whole number of bytes or \"unknown\", found \(sizeNode.kindDescription)", at: sizeNode.mark)
        }
        size = value
    }
    if checksum == .none, size != nil {
        throw YAMLError("file '\(name)' has no published checksum, so its size must be \"unknown\" (nothing vouches for it)", at: sizeNode.mark)
    }

    var contentSize: Int?, contentSha256: String?
    if let contentNode = node["content_size"] {
        guard let value = try? contentNode.int(), value >= 0 else { throw YAMLError("content_size must be a whole number of bytes", at: contentNode.mark) }
        contentSize = value
    }
    if let contentNode = node["content_sha256"] { contentSha256 = try hexDigest(contentNode, length: 64, what: "content_sha256") }
    if contentSize != nil || contentSha256 != nil, !name.hasSuffix(".gz") {
        throw YAMLError("content_size/content_sha256 describe decompressed bytes and apply only to *.gz files, not '\(name)'",
                        at: (node["content_size"] ?? node["content_sha256"])!.mark)
    }

    var archive: ArchiveKind?
    if let archiveNode = node["archive"] {
        let text = try archiveNode.string()
        guard let kind = ArchiveKind(rawValue: text) else {
            throw unknownName(text, among: ArchiveKind.allCases.map(\.rawValue), what: "archive kind", at: archiveNode.mark)
        }
        archive = kind
    }
    var members: [MemberChecksum] = []
    if let membersNode = node["members"] {
        guard archive != nil else { throw YAMLError("'members' needs 'archive' (tar, tar.gz or zip) on file '\(name)'", at: membersNode.mark) }
        for (key, value) in try membersNode.entries() {
            try value.checkKeys(allowed: ["md5", "sha256"])
            guard value.keys.count == 1, let keyName = value.keys.first else {
                throw YAMLError("member '\(try key.string())' needs exactly one of md5, sha256", at: value.mark)
            }
            guard isPlainRelativePath(try key.string()) else {
                throw YAMLError("member '\(try key.string())' must be a relative path inside the archive, without '.' or '..' parts", at: key.mark)
            }
            members.append(MemberChecksum(path: try key.string(), checksum: try parseChecksum(key: keyName, node: value.required(keyName))))
        }
    }

    let sourcesNode = try node.required("sources")
    let sources = try sourcesNode.items().map(parseSource)
    guard !sources.isEmpty else { throw YAMLError("file '\(name)' lists no sources", at: sourcesNode.mark) }
    return FileEntry(name: name, size: size, checksum: checksum, contentSize: contentSize, contentSha256: contentSha256,
                     archive: archive, members: members, licence: try node["licence"]?.string(), sources: sources, mark: node.mark)
}

private func parseChecksum(key: String, node: YAMLNode) throws -> Checksum {
    switch key {
    case "sha256": return .sha256(try hexDigest(node, length: 64, what: "sha256"))
    case "md5": return .md5(try hexDigest(node, length: 32, what: "md5"))
    case "sha256_any_of":
        let list = try node.items().map { try hexDigest($0, length: 64, what: "sha256") }
        guard !list.isEmpty else { throw YAMLError("sha256_any_of lists no digests", at: node.mark) }
        return .sha256AnyOf(list)
    default:
        guard try node.string() == "none published" else {
            throw YAMLError("checksum: takes only the text \"none published\"; put digests under sha256, md5 or sha256_any_of", at: node.mark)
        }
        return .none
    }
}

/// A quoted or plain hex digest of exactly `length` lowercase hex digits.
func hexDigest(_ node: YAMLNode, length: Int, what: String) throws -> String {
    guard let text = node.scalarText else { throw YAMLError("\(what) must be a hex digest, found \(node.kindDescription)", at: node.mark) }
    guard text.utf8.count == length, text.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
        throw YAMLError("\(what) must be \(length) lowercase hex digits, found '\(text)' (\(text.count) characters)", at: node.mark)
    }
    return text
}

private func parseSource(_ node: YAMLNode) throws -> Source {
    let kinds = ["pypi", "debian", "local", "url", "manual"]
    guard let kind = node.keys.first else { throw YAMLError("a source must be a mapping such as 'url: https://...', found \(node.kindDescription)", at: node.mark) }
    guard kinds.contains(kind) else { throw YAMLError.unknownKey(kind, at: node.mark, allowed: kinds) }
    let value = try node.required(kind)
    switch kind {
    case "pypi":
        try node.checkKeys(allowed: ["pypi"])
        try value.checkKeys(allowed: ["package", "version", "wheel", "wheel_size", "wheel_sha256", "path"])
        let wheel = try value.required("wheel").string()
        guard wheel.hasSuffix(".whl") else { throw YAMLError("wheel must be a .whl file name, found '\(wheel)'", at: try value.required("wheel").mark) }
        return .pypi(PyPISource(package: try value.required("package").string(), version: try value.required("version").string(),
                                wheel: wheel, wheelSize: try byteCount(value.required("wheel_size")),
                                wheelSha256: try hexDigest(value.required("wheel_sha256"), length: 64, what: "wheel_sha256"),
                                path: try relativePath(value.required("path"))))
    case "debian":
        try node.checkKeys(allowed: ["debian"])
        try value.checkKeys(allowed: ["package", "version", "deb", "deb_size", "deb_sha256", "path"])
        return .debian(DebianSource(package: try value.required("package").string(), version: try value.required("version").string(),
                                    deb: try value.required("deb").string(), debSize: try byteCount(value.required("deb_size")),
                                    debSha256: try hexDigest(value.required("deb_sha256"), length: 64, what: "deb_sha256"),
                                    path: try relativePath(value.required("path"))))
    case "local":
        try node.checkKeys(allowed: ["local"])
        let path = try value.string()
        guard path.hasPrefix("/") else { throw YAMLError("a local source must be an absolute path, found '\(path)'", at: value.mark) }
        return .local(path)
    case "url":
        try node.checkKeys(allowed: ["url", "md5", "sha256"])
        let url = try value.string()
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            throw YAMLError("a url source must start with https:// (or http://), found '\(url)'", at: value.mark)
        }
        var override: Checksum?
        if node["md5"] != nil && node["sha256"] != nil { throw YAMLError("a url source may carry md5 or sha256, not both", at: node.mark) }
        if let md5 = node["md5"] { override = .md5(try hexDigest(md5, length: 32, what: "md5")) }
        if let sha = node["sha256"] { override = .sha256(try hexDigest(sha, length: 64, what: "sha256")) }
        return .url(url, checksum: override)
    default:
        try node.checkKeys(allowed: ["manual"])
        return .manual(try value.string())
    }
}

private func byteCount(_ node: YAMLNode) throws -> Int {
    guard let value = try? node.int(), value > 0 else { throw YAMLError("expected a positive number of bytes, found \(node.kindDescription)", at: node.mark) }
    return value
}

private func relativePath(_ node: YAMLNode) throws -> String {
    let path = try node.string()
    guard !path.isEmpty, !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
        throw YAMLError("path must be relative (inside the package) without '..', found '\(path)'", at: node.mark)
    }
    return path
}
